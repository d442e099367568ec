import { XBT_NIL, type XenbusWatch } from "../guest/xenbus/xs-client.ts";
import type { XenbusDriver } from "./driver.ts";
import type { Kernel } from "./kernel.ts";
import { errOf, XenbusDevice } from "./xenbus-device.ts";
import { XenbusState, xenbusStateName } from "./xenbus-state.ts";

/** What differs between the frontend and the backend bus (Linux struct xen_bus_type). */
export interface BusType {
  readonly role: "frontend" | "backend";
  /** `device` or `backend`, relative to the kernel's home. */
  readonly root: string;
  /** Path components below the root that name one device: 2 (`vif/0`) or 3 (`vif/1/0`). */
  readonly levels: number;
  /** The node naming the other end's domid and the node naming its directory. */
  readonly otherendIdNode: string;
  readonly otherendNode: string;
}

export const FRONTEND_BUS: BusType = {
  role: "frontend",
  root: "device",
  levels: 2,
  otherendIdNode: "backend-id",
  otherendNode: "backend",
};

export const BACKEND_BUS: BusType = {
  role: "backend",
  root: "backend",
  levels: 3,
  otherendIdNode: "frontend-id",
  otherendNode: "frontend",
};

interface Bound {
  readonly dev: XenbusDevice;
  readonly driver: XenbusDriver;
  otherendWatch: XenbusWatch | null;
}

/**
 * A XenBus (Linux xenbus_probe.c with xenbus_probe_frontend.c / xenbus_probe_backend.c): finds
 * devices under its root, probes those whose state reads Initialising, binds them to the driver of
 * their type, watches the other end's state, and unregisters devices whose node vanishes. All of
 * this runs from watch callbacks, i.e. serially on the kernel's xenwatch actor.
 */
export class XenbusBus {
  private readonly drivers = new Map<string, XenbusDriver>();
  private readonly bound = new Map<string, Bound>();
  private rootWatch: XenbusWatch | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly type: BusType,
    drivers: readonly XenbusDriver[],
  ) {
    for (const d of drivers) this.drivers.set(d.type, d);
  }

  /** Registered devices by nodename. */
  get devices(): ReadonlyMap<string, XenbusDevice> {
    const m = new Map<string, XenbusDevice>();
    for (const [k, b] of this.bound) m.set(k, b.dev);
    return m;
  }

  device(nodename: string): XenbusDevice | undefined {
    return this.bound.get(nodename)?.dev;
  }

  /** Adds a driver after start (its devices are probed by the next watch event or `rescan`). */
  addDriver(driver: XenbusDriver): void {
    this.drivers.set(driver.type, driver);
  }

  /** xenbus_probe + the root watch: enumerate every device, then follow changes. */
  async start(): Promise<void> {
    await this.rescan();
    // The registration fires once at once: that first event is a harmless rescan of the root.
    this.rootWatch = await this.kernel.xenbus.watch(this.type.root, (path) => this.onRootChanged(path));
  }

  /** xenbus_probe_devices: walk root/<type>/… and probe every device not yet known. */
  async rescan(): Promise<void> {
    const xb = this.kernel.xenbus;
    const walk = async (prefix: string, depth: number): Promise<void> => {
      let children: string[];
      try {
        children = await xb.directory(XBT_NIL, prefix);
      } catch {
        return;
      }
      for (const c of children) {
        const p = `${prefix}/${c}`;
        if (depth + 1 === this.type.levels) await this.probeNode(p);
        else await walk(p, depth + 1);
      }
    };
    await walk(this.type.root, 0);
  }

  /**
   * Guest suspend quiesces XenStore (Linux xs_suspend: waits for the xenwatch thread's running
   * callback and holds xs_watch_rwsem, so no watch callback runs until xs_resume): while set,
   * watch events for the bus and its devices are dropped — resume re-watches every other end and
   * rescans the root, which delivers the current state as xs_resume's re-registration does.
   */
  private suspended = false;
  /** Watch callbacks of the bus running now (suspend waits for them). */
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];

  private async gated(work: () => Promise<void>): Promise<void> {
    if (this.suspended) return;
    this.running++;
    try {
      await work();
    } finally {
      if (--this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** xenbus_dev_changed: the root watch fired for `path`. */
  private onRootChanged(path: string): Promise<void> {
    return this.gated(() => this.rootChanged(path));
  }

  private async rootChanged(path: string): Promise<void> {
    const parts = path.split("/");
    if (parts.length < 3) {
      if (path === this.type.root) return; // the registration event
      return;
    }
    const xb = this.kernel.xenbus;
    if (!(await xb.exists(XBT_NIL, path))) {
      await this.cleanupDevices(path);
      return;
    }
    if (parts.length < 1 + this.type.levels) return;
    const root = parts.slice(0, 1 + this.type.levels).join("/");
    if (!this.bound.has(root)) await this.probeNode(root);
  }

  /** xenbus_probe_node: only a node whose state reads Initialising is probed. */
  private async probeNode(nodename: string): Promise<void> {
    if (this.bound.has(nodename)) return;
    const devicetype = nodename.split("/")[1] ?? "";
    const driver = this.drivers.get(devicetype);
    if (driver === undefined) return;
    const dev = new XenbusDevice(this.kernel, nodename, devicetype, this.type.role);
    const state = await dev.readDriverState(nodename);
    if (state !== XenbusState.Initialising) {
      dev.trace("xenbus.probe_skipped", { state: xenbusStateName(state) });
      return;
    }
    if (this.bound.has(nodename)) return;
    const b: Bound = { dev, driver, otherendWatch: null };
    this.bound.set(nodename, b);
    dev.unregisterHook = async () => {
      if (this.bound.get(nodename) === b) await this.unregister(b);
    };
    dev.trace("xenbus.probe", { driver: driver.type, role: this.type.role });
    if (!(await this.talkToOtherend(dev))) return;
    try {
      await driver.probe(dev);
    } catch (e) {
      await dev.devError(errOf(e), `xenbus_dev_probe on ${nodename}`);
      return;
    }
    await this.watchOtherend(b);
  }

  /** talk_to_otherend: read the other end's domid and directory. */
  private async talkToOtherend(dev: XenbusDevice): Promise<boolean> {
    const xb = this.kernel.xenbus;
    let id: number;
    let dir: string;
    try {
      const idText = await xb.readString(XBT_NIL, `${dev.nodename}/${this.type.otherendIdNode}`);
      id = Number.parseInt(idText, 0 === idText.indexOf("0x") ? 16 : 10);
      dir = await xb.readString(XBT_NIL, `${dev.nodename}/${this.type.otherendNode}`);
    } catch (e) {
      await dev.devFatal(errOf(e), `reading other end details from ${dev.nodename}`);
      return false;
    }
    if (!Number.isInteger(id) || dir === "" || !(await xb.exists(XBT_NIL, dir))) {
      await dev.devFatal("ENOENT", `unable to read other end from ${dir}.  missing or inaccessible.`);
      return false;
    }
    dev.otherendId = id;
    dev.otherend = dir;
    return true;
  }

  private async watchOtherend(b: Bound): Promise<void> {
    const dev = b.dev;
    b.otherendWatch = await dev.watchPath(`${dev.otherend}/state`, (path) => this.otherendChanged(b, path));
  }

  /** xenbus_otherend_changed: ignore stale paths, read the state, hand it to the driver. */
  private otherendChanged(b: Bound, path: string): Promise<void> {
    return this.gated(() => this.otherendChangedNow(b, path));
  }

  private async otherendChangedNow(b: Bound, path: string): Promise<void> {
    const dev = b.dev;
    if (dev.removed || dev.otherend === "" || !path.startsWith(dev.otherend)) return;
    const state = await dev.readDriverState(dev.otherend);
    if (dev.removed) return;
    dev.trace("xenbus.otherend_changed", {
      otherend_state: xenbusStateName(state),
      cached: xenbusStateName(dev.state),
    });
    await b.driver.otherendChanged(dev, state);
  }

  /** xenbus_cleanup_devices: unregister every device at or below `path`. */
  private async cleanupDevices(path: string): Promise<void> {
    for (const [nodename, b] of [...this.bound]) {
      if (nodename === path || nodename.startsWith(`${path}/`)) await this.unregister(b);
    }
  }

  /** xenbus_dev_remove: drop the otherend watch, driver remove, then Closed unless rebind is allowed. */
  private async unregister(b: Bound): Promise<void> {
    const dev = b.dev;
    if (dev.removed) return;
    this.bound.delete(dev.nodename);
    dev.trace("xenbus.remove", {});
    if (b.otherendWatch !== null) await dev.unwatch(b.otherendWatch);
    b.otherendWatch = null;
    await b.driver.remove(dev);
    if (!b.driver.allowRebind || (await dev.readDriverState(dev.nodename)) === XenbusState.Closing) {
      await dev.switchState(XenbusState.Closed);
    }
    dev.removed = true;
    await dev.unwatchAll();
  }

  /** Unregisters every device and drops the root watch (kernel shutdown, domain destroy). */
  async stop(): Promise<void> {
    for (const b of [...this.bound.values()]) await this.unregister(b);
    if (this.rootWatch !== null) await this.kernel.xenbus.unwatch(this.rootWatch);
    this.rootWatch = null;
  }

  /** xenbus_dev_suspend for every device. */
  async suspend(): Promise<void> {
    this.suspended = true;
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const b of this.bound.values()) await b.driver.suspend?.(b.dev);
  }

  /**
   * xenbus_dev_resume for every device: re-read the other end (it may have moved), reset the
   * cached state to Initialising without writing it, let the driver resume, re-watch the other end
   * — whose immediate event drives the reconnection like a first connect.
   */
  async resume(): Promise<void> {
    this.suspended = false;
    for (const b of [...this.bound.values()]) {
      const dev = b.dev;
      if (b.otherendWatch !== null) await dev.unwatch(b.otherendWatch);
      b.otherendWatch = null;
      if (!(await this.talkToOtherend(dev))) continue;
      dev.state = XenbusState.Initialising;
      await b.driver.resume?.(dev);
      await this.watchOtherend(b);
    }
    // xs_resume re-registers the root watch: devices that appeared (or went) meanwhile.
    await this.rescan();
    for (const [nodename, b] of [...this.bound]) {
      if (!(await this.kernel.xenbus.exists(XBT_NIL, nodename))) await this.unregister(b);
    }
  }

  /** Watches registered by the bus and its devices (leak checks). */
  get watchCount(): number {
    let n = this.rootWatch === null ? 0 : 1;
    for (const b of this.bound.values()) n += b.dev.watchCount;
    return n;
  }
}
