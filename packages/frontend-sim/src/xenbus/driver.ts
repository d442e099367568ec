import type { XenbusDevice } from "./xenbus-device.ts";
import type { XenbusState } from "./xenbus-state.ts";

/**
 * A XenBus driver (Linux struct xenbus_driver): one device type (`vif`, `vbd`, `console`, …) on
 * one side. The bus calls these hooks; a hook may await XenStore and other I/O. `otherendChanged`
 * receives the other end's state as read when the watch fired (intermediate states may be missed,
 * exactly as with real watches).
 */
export interface XenbusDriver {
  /** Device type, the `<type>` of `device/<type>/<id>` or `backend/<type>/<domid>/<id>`. */
  readonly type: string;
  probe(dev: XenbusDevice): Promise<void>;
  otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void>;
  /** The device is being unregistered (its node vanished, or the kernel shuts down). */
  remove(dev: XenbusDevice): Promise<void>;
  /** Guest suspend (frontends): quiesce; the bus then resets the cached state to Initialising. */
  suspend?(dev: XenbusDevice): Promise<void>;
  /** After resume: re-create rings and reconnect (the other end may have changed). */
  resume?(dev: XenbusDevice): Promise<void>;
  /** Whether the device may be re-probed after removal without forcing Closed (Linux allow_rebind). */
  readonly allowRebind?: boolean;
}
