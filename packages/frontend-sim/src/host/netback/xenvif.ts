// The backend's network interface for one vif (struct xenvif, drivers/net/xen-netback/
// interface.c): its queues, the frontend's negotiated features, carrier, and its port on the
// virtual switch.
import type { XenbusDevice } from "../../xenbus/xenbus-device.ts";
import type { NetbackQueue } from "./netback-queue.ts";
import type { Skb, SkbPool } from "./skb.ts";
import type { SwitchPort, VirtualSwitch } from "./vswitch.ts";

export class Xenvif implements SwitchPort {
  /** `vif<domid>.<handle>`, the name Linux gives the backend netdev. */
  readonly name: string;
  queues: NetbackQueue[] = [];
  /** The frontend's MAC as the toolstack configured it (fe_dev_addr). */
  feMac: Uint8Array | undefined = undefined;
  // read_xenbus_vif_flags
  rxCopy = false;
  rxNotify = false;
  canSg = false;
  /** GSO_BIT(XEN_NETIF_GSO_TYPE_*) of the types the frontend accepts. */
  gsoMask = 0;
  ipCsum = true;
  ipv6Csum = false;
  /** Set by xenvif_fatal_tx_err: the frontend misbehaved, nothing more is served. */
  disabled = false;
  disabledReason: string | undefined = undefined;
  carrier = false;
  bridge: VirtualSwitch | null = null;
  /** Frames towards the guest dropped because the vif was down. */
  rxDroppedDown = 0;

  constructor(
    readonly dev: XenbusDevice,
    readonly domid: number,
    readonly handle: number,
    readonly pool: SkbPool,
  ) {
    this.name = `vif${domid}.${handle}`;
  }

  /** xenvif_carrier_on + the hotplug script's bridge attach. */
  carrierOn(bridge: VirtualSwitch): void {
    this.bridge = bridge;
    bridge.attach(this);
    this.carrier = true;
  }

  /** xenvif_carrier_off + detach from the bridge. */
  carrierOff(): void {
    this.carrier = false;
    this.bridge?.detach(this);
    this.bridge = null;
  }

  /** A packet the guest sent (xenvif_tx_submit → netif_receive_skb → the bridge). */
  fromGuest(skb: Skb): void {
    if (this.bridge === null || !this.carrier) {
      skb.release();
      return;
    }
    this.bridge.forward(skb, this);
  }

  /** xenvif_start_xmit: a packet for the guest, queued on the queue its flow hashes to. */
  receive(skb: Skb): void {
    const n = this.queues.length;
    if (!this.carrier || this.disabled || n === 0) {
      this.rxDroppedDown++;
      skb.release();
      return;
    }
    this.queues[n === 1 ? 0 : skbFlowHash(skb) % n]!.enqueue(skb);
  }

  /**
   * xenvif_fatal_tx_err: "fatal error; disabling device". The vif stops serving both rings and
   * leaves the bridge; the reason goes to the backend's XenBus error node.
   */
  fatalTxErr(q: NetbackQueue | undefined, why: string): void {
    if (this.disabled) return;
    this.disabled = true;
    this.disabledReason = why;
    const k = this.dev.kernel;
    k.sched.trace.emit(q?.actor ?? k.actor, "netback.fatal_tx_err", {
      vif: this.name,
      queue: q?.id,
      reason: why,
    });
    this.carrierOff();
    void this.dev.devError("EINVAL", `${why}; fatal error; disabling device`).catch(() => undefined);
  }
}

/** The same flow hash the guest's stack uses (FNV-1a over EtherType + 40 header bytes). */
export function skbFlowHash(skb: Skb): number {
  let h = 0x811c9dc5;
  const end = Math.min(skb.len, 54);
  for (let i = 12; i < end; i++) {
    h ^= skb.byteAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3's finaliser, so that the low bits (h % queues) depend on every byte.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
