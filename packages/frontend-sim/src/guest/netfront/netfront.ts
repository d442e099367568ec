// netfront, the guest's network frontend (Linux drivers/net/xen-netfront.c): the XenBus driver
// (netfront_probe, netback_changed, xennet_connect, talk_to_netback, xennet_remove /
// xennet_bus_close, netfront_resume) and the device users send and receive frames through.
import { XBT_NIL } from "../../guest/xenbus/xs-client.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import type { XenbusBus } from "../../xenbus/xenbus-bus.ts";
import { errOf, type XenbusDevice } from "../../xenbus/xenbus-device.ts";
import { XenbusState } from "../../xenbus/xenbus-state.ts";
import { isXenbusError } from "../xenbus/xenbus-error.ts";
import { formatMac, parseMac } from "./mac.ts";
import { NET_TX_RING_SIZE, NetfrontQueue, TX_PENDING } from "./netfront-queue.ts";
import { allocRxBuffers, type ReceivedFrame, rxPoll } from "./netfront-rx.ts";
import {
  type SendOptions,
  type SendResult,
  txBufGc,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
  xmit,
} from "./netfront-tx.ts";

/** XENNET_TIMEOUT: how long netfront waits for the backend before looking again (5 s). */
export const XENNET_TIMEOUT_NS = 5_000_000_000;

export interface NetfrontOptions {
  /** The xennet_max_queues module parameter (Linux default: online vCPUs, max 8). Default 1. */
  readonly maxQueues?: number;
  /** The xennet_trusted module parameter (XSA-403); false bounces every packet. Default true. */
  readonly trusted?: boolean;
}

export interface NetfrontStats {
  txPackets: number;
  txBytes: number;
  /** Frames refused because the queue was stopped (ring nearly full): retry after `onTxWake`. */
  txBusy: number;
  /** Frames dropped (device broken or disconnected, bad length, unsupported offload). */
  txDropped: number;
  /** TX responses with an error status (NETIF_RSP_ERROR / DROPPED). */
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets dropped for bad responses (bad status/offset, missing extras, bad GSO). */
  rxErrors: number;
}

/** Backend features read at connect (xennet_fix_features). */
export interface NetfrontFeatures {
  sg: boolean;
  gsoTcpv4: boolean;
  gsoTcpv6: boolean;
  ipv6CsumOffload: boolean;
}

/**
 * One vif as the guest sees it (struct netfront_info + its net_device): `send` frames, receive
 * them through `onReceive` (or `takeReceived` when nobody listens).
 */
export class NetfrontDevice {
  queues: NetfrontQueue[] = [];
  /** Set on any backend protocol violation ("Disabled for further use"); reset by a reconnect. */
  broken = false;
  brokenReason: string | undefined = undefined;
  /** netif_carrier_ok: set once connected, cleared on disconnect. */
  carrier = false;
  /** XSA-403 bounce buffers (untrusted backend). */
  bounce = false;
  mac: Uint8Array | undefined = undefined;
  features: NetfrontFeatures = { sg: false, gsoTcpv4: false, gsoTcpv6: false, ipv6CsumOffload: false };
  readonly stats: NetfrontStats = {
    txPackets: 0,
    txBytes: 0,
    txBusy: 0,
    txDropped: 0,
    txErrors: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxErrors: 0,
  };
  /** Times xennet_connect succeeded (1 after boot; +1 per resume). */
  connects = 0;
  private readonly inbox: ReceivedFrame[] = [];
  private readonly receivers: ((f: ReceivedFrame) => void)[] = [];
  private readonly wakeListeners: ((queue: number) => void)[] = [];
  private readonly peerListeners: (() => void)[] = [];
  /** module_wq: woken by every netback_changed. */
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly driver: NetfrontDriver,
    readonly dev: XenbusDevice,
  ) {}

  get nodename(): string {
    return this.dev.nodename;
  }

  get macText(): string | undefined {
    return this.mac === undefined ? undefined : formatMac(this.mac);
  }

  /** Connected both ways and usable. */
  get connected(): boolean {
    return this.carrier && !this.broken && this.dev.state === XenbusState.Connected;
  }

  // ---- user-facing data path ----

  /**
   * Transmit one Ethernet frame (ndo_start_xmit). "queued": on the ring; "busy": the queue is
   * stopped (ring nearly full) — nothing was consumed, retry after `onTxWake`; "dropped": refused
   * (device broken/disconnected, frame < 14 or > 65535 bytes, multi-slot without feature-sg, GSO
   * the backend does not support).
   */
  transmit(frame: Uint8Array, opts?: SendOptions): SendResult {
    const n = this.queues.length;
    const r =
      n === 0
        ? "dropped"
        : xmit(this.queues[opts?.queue ?? (n === 1 ? 0 : flowHash(frame) % n)]!, frame, opts);
    if (r === "busy") this.stats.txBusy++;
    else if (r === "dropped") this.stats.txDropped++;
    return r;
  }

  /** `transmit` as a boolean: true when the frame was queued. */
  send(frame: Uint8Array, opts?: SendOptions): boolean {
    return this.transmit(frame, opts) === "queued";
  }

  /** Frames are handed to `cb` as they arrive (instead of the inbox). Returns an unsubscribe. */
  onReceive(cb: (f: ReceivedFrame) => void): () => void {
    this.receivers.push(cb);
    return () => {
      const i = this.receivers.indexOf(cb);
      if (i >= 0) this.receivers.splice(i, 1);
    };
  }

  /** Frames received while nobody listened, oldest first; empties the inbox. */
  takeReceived(): ReceivedFrame[] {
    return this.inbox.splice(0);
  }

  /** Called with the queue index when a stopped TX queue has room again. */
  onTxWake(cb: (queue: number) => void): void {
    this.wakeListeners.push(cb);
  }

  /** Called on every backend Connected (netdev_notify_peers: the stack sends gratuitous ARPs). */
  onNotifyPeers(cb: () => void): void {
    this.peerListeners.push(cb);
  }

  /** @internal netif_receive_skb */
  deliver(f: ReceivedFrame): void {
    if (this.receivers.length === 0) this.inbox.push(f);
    else for (const r of this.receivers) r(f);
  }

  /** @internal NETDEV_NOTIFY_PEERS */
  notifyPeers(): void {
    for (const cb of this.peerListeners) cb();
  }

  /** @internal netif_tx_wake_queue */
  txWoken(q: NetfrontQueue): void {
    for (const cb of this.wakeListeners) cb(q.id);
  }

  /** @internal whether the backend accepts this GSO type (xennet_fix_features). */
  gsoAllowed(type: number): boolean {
    if (type === XEN_NETIF_GSO_TYPE_TCPV4) return this.features.gsoTcpv4;
    if (type === XEN_NETIF_GSO_TYPE_TCPV6) return this.features.gsoTcpv6;
    return false;
  }

  /**
   * The backend broke the protocol: stop using the device (xmit drops, no more ring processing)
   * and say why in the device's XenBus error node. Never throws.
   */
  markBroken(q: NetfrontQueue | undefined, reason: string): void {
    if (this.broken) return;
    this.broken = true;
    this.brokenReason = reason;
    const k = this.dev.kernel;
    k.sched.trace.emit(k.actor, "netfront.broken", {
      dev: this.dev.nodename,
      queue: q?.id,
      reason,
    });
    void this.dev.devError("EIO", `${reason}; Disabled for further use`).catch(() => undefined);
  }

  // ---- XenBus side ----

  /**
   * xennet_tx_buf_gc's check of a TX response id: in range and actually pending. Returns the
   * message the device is disabled with, or null when the id is acceptable. (A method so that
   * the explorer's mutants can plant a frontend that trusts ids, without touching this code.)
   */
  txResponseIdError(q: NetfrontQueue, id: number): string | null {
    if (id >= NET_TX_RING_SIZE) return `Response has incorrect id (${id})`;
    if (q.txLink[id] !== TX_PENDING) return "Response for inactive request";
    return null;
  }

  /** wake_up_all(&module_wq) */
  wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /**
   * wait_event_timeout(module_wq, pred(backend state), XENNET_TIMEOUT): the condition is read from
   * XenStore first, after each wake-up and at the timeout. Inside a watch callback no wake-up can
   * come (xenwatch is busy with us), so the timeout is what makes progress — as in Linux.
   */
  async waitForBackend(pred: (s: XenbusState) => boolean): Promise<boolean> {
    const dev = this.dev;
    const sched = dev.kernel.sched;
    if (pred(await dev.readDriverState(dev.otherend))) return true;
    const deadline = sched.now + XENNET_TIMEOUT_NS;
    for (;;) {
      const left = deadline - sched.now;
      if (left <= 0) return pred(await dev.readDriverState(dev.otherend));
      await new Promise<void>((resolve) => {
        const waiter = (): void => {
          timer.cancel();
          resolve();
        };
        const timer = sched.post(
          dev.kernel.actor,
          "xennet-timeout",
          () => {
            this.waiters.delete(waiter);
            resolve();
          },
          left,
        );
        this.waiters.add(waiter);
      });
      if (pred(await dev.readDriverState(dev.otherend))) return true;
    }
  }

  /**
   * xennet_connect: refuse a backend without feature-rx-copy (-ENODEV; nothing written, the
   * frontend stays Initialising), talk_to_netback, read the backend's features, carrier on, then
   * per queue kick the backend and post RX buffers.
   */
  async connect(): Promise<boolean> {
    const dev = this.dev;
    const xb = dev.xb;
    if ((await xb.readUnsigned(dev.otherend, "feature-rx-copy", 0)) === 0) {
      dev.trace("netfront.no_rx_copy", { message: "backend does not support copying receive path" });
      return false;
    }
    if (!(await this.talkToNetback())) return false;
    // xennet_fix_features
    this.features = {
      sg: (await xb.readUnsigned(dev.otherend, "feature-sg", 0)) !== 0,
      gsoTcpv4: (await xb.readUnsigned(dev.otherend, "feature-gso-tcpv4", 0)) !== 0,
      gsoTcpv6: (await xb.readUnsigned(dev.otherend, "feature-gso-tcpv6", 0)) !== 0,
      ipv6CsumOffload: (await xb.readUnsigned(dev.otherend, "feature-ipv6-csum-offload", 0)) !== 0,
    };
    if (dev.removed || this.queues.length === 0) return false;
    this.carrier = true;
    for (const q of this.queues) {
      q.notifyTx();
      if (q.rxEvtchn !== q.txEvtchn) q.notifyRx();
      txBufGc(q);
      allocRxBuffers(q);
    }
    this.connects++;
    dev.trace("netfront.connected", {
      queues: this.queues.length,
      split: this.queues[0]!.txEvtchn !== this.queues[0]!.rxEvtchn,
      mac: this.macText,
      sg: this.features.sg,
    });
    return true;
  }

  /** talk_to_netback (netif.md §4 steps 1–9). */
  private async talkToNetback(): Promise<boolean> {
    const dev = this.dev;
    const xb = dev.xb;
    const trusted = this.driver.trusted && (await xb.readUnsigned(dev.nodename, "trusted", 1)) !== 0;
    this.bounce = !trusted;
    const maxQueues = await xb.readUnsigned(dev.otherend, "multi-queue-max-queues", 1);
    // Linux would carry on with 0 queues if a backend advertised 0; keep at least one.
    const numQueues = Math.max(1, Math.min(maxQueues, this.driver.maxQueues));
    const split = (await xb.readUnsigned(dev.otherend, "feature-split-event-channels", 0)) !== 0;

    // xen_net_read_mac
    let macErr = -2; // -ENOENT for a malformed address
    let mac: Uint8Array | undefined;
    try {
      mac = parseMac(await xb.readString(XBT_NIL, `${dev.nodename}/mac`));
    } catch (e) {
      macErr = errOf(e);
    }
    if (mac === undefined) {
      await dev.devFatal(macErr, `parsing ${dev.nodename}/mac`);
      await dev.unregister();
      return false;
    }
    this.mac = mac;

    if ((await xb.readUnsigned(dev.otherend, "feature-xdp-headroom", 0)) !== 0) {
      // talk_to_netback_xdp: no XDP program, so no headroom. Failure is only a warning.
      try {
        await xb.write(XBT_NIL, `${dev.nodename}/xdp-headroom`, "0");
      } catch {
        dev.trace("netfront.warn", { message: "Error writing xdp-headroom" });
      }
    }

    // xennet_destroy_queues + xennet_create_queues
    this.disconnectBackend();
    this.destroyQueues();
    this.broken = false;
    this.brokenReason = undefined;
    for (let i = 0; i < numQueues; i++) {
      const q = new NetfrontQueue(this, i);
      if (!q.init()) {
        this.destroyQueues();
        await dev.devFatal("ENOMEM", "creating queues");
        await dev.unregister();
        return false;
      }
      this.queues.push(q);
    }
    for (const q of this.queues) {
      if (!(await q.setup(split))) return this.destroyRing();
    }

    // The keys, all in one transaction; EAGAIN redoes the writes without reallocating anything.
    for (;;) {
      let tx: number;
      try {
        tx = await xb.transactionStart();
      } catch (e) {
        await dev.devFatal(errOf(e), "starting transaction");
        return this.destroyRing();
      }
      const failed = await this.writeKeys(tx);
      if (failed !== null) {
        await dev.devFatal(failed.err, failed.message);
        await xb.transactionEnd(tx, true).catch(() => undefined);
        return this.destroyRing();
      }
      try {
        await xb.transactionEnd(tx, false);
      } catch (e) {
        if (isXenbusError(e, "EAGAIN")) {
          dev.trace("netfront.tx_retry", {});
          continue;
        }
        await dev.devFatal(errOf(e), "completing transaction");
        return this.destroyRing();
      }
      return true;
    }
  }

  /** The body of talk_to_netback's transaction; the failing key's message, or null. */
  private async writeKeys(tx: number): Promise<{ err: number; message: string } | null> {
    const dev = this.dev;
    const xb = dev.xb;
    const node = dev.nodename;
    const put = async (dir: string, key: string, value: string | number): Promise<boolean> => {
      await xb.write(tx, `${dir}/${key}`, String(value));
      return true;
    };
    let key = "";
    try {
      if (await xb.exists(XBT_NIL, `${dev.otherend}/multi-queue-max-queues`)) {
        key = "multi-queue-num-queues";
        await put(node, key, this.queues.length);
      }
      // write_queue_xenstore_keys: flat for one queue, queue-<i>/ otherwise.
      const hierarchical = this.queues.length > 1;
      for (const q of this.queues) {
        const dir = hierarchical ? `${node}/queue-${q.id}` : node;
        key = "tx-ring-ref";
        await put(dir, key, q.txRing!.refs[0]!);
        key = "rx-ring-ref";
        await put(dir, key, q.rxRing!.refs[0]!);
        if (q.txEvtchn === q.rxEvtchn) {
          key = "event-channel";
          await put(dir, key, q.txEvtchn);
        } else {
          key = "event-channel-tx";
          await put(dir, key, q.txEvtchn);
          key = "event-channel-rx";
          await put(dir, key, q.rxEvtchn);
        }
      }
      for (const k of [
        "request-rx-copy",
        "feature-rx-notify",
        "feature-sg",
        "feature-gso-tcpv4",
        "feature-gso-tcpv6",
        "feature-ipv6-csum-offload",
      ]) {
        key = k;
        await put(node, k, 1);
      }
      return null;
    } catch (e) {
      return { err: errOf(e), message: `writing ${key}` };
    }
  }

  /** talk_to_netback's destroy_ring + out: disconnect, destroy queues, unregister the device. */
  private async destroyRing(): Promise<false> {
    this.disconnectBackend();
    this.destroyQueues();
    await this.dev.unregister();
    return false;
  }

  /** xennet_disconnect_backend: carrier off, then every queue gives back ports, buffers, rings. */
  disconnectBackend(): void {
    this.carrier = false;
    for (const q of this.queues) q.disconnect();
  }

  /** xennet_destroy_queues */
  destroyQueues(): void {
    for (const q of this.queues) q.freePools();
    this.queues = [];
  }

  /**
   * xennet_bus_close: unless the backend is already Closed, go Closing and wait for it to follow
   * (Closing, Closed or gone), then Closed and wait again — each wait looking again every 5 s.
   */
  async busClose(): Promise<void> {
    const dev = this.dev;
    const S = XenbusState;
    if ((await dev.readDriverState(dev.otherend)) === S.Closed) return;
    do {
      await dev.switchState(S.Closing);
    } while (!(await this.waitForBackend((s) => s === S.Closing || s === S.Closed || s === S.Unknown)));
    if ((await dev.readDriverState(dev.otherend)) === S.Closed) return;
    do {
      await dev.switchState(S.Closed);
    } while (!(await this.waitForBackend((s) => s === S.Closed || s === S.Unknown)));
  }

  /** Processes pending responses on every queue now (as NAPI would on its next poll). */
  poll(): void {
    for (const q of this.queues) {
      txBufGc(q);
      rxPoll(q);
    }
  }
}

/** The netfront XenBus driver for `vif` devices. One instance per guest kernel. */
export class NetfrontDriver implements XenbusDriver {
  readonly type = "vif";
  readonly maxQueues: number;
  readonly trusted: boolean;
  /** Bound devices by nodename (`device/vif/0`). */
  readonly devices = new Map<string, NetfrontDevice>();

  constructor(options: NetfrontOptions = {}) {
    this.maxQueues = Math.max(1, options.maxQueues ?? 1);
    this.trusted = options.trusted ?? true;
  }

  /** The per-device state a probe creates (a subclass may return a subclass of NetfrontDevice). */
  protected createDevice(dev: XenbusDevice): NetfrontDevice {
    return new NetfrontDevice(this, dev);
  }

  /** The netfront of `device/vif/<devid>`, if bound. */
  device(devid = 0): NetfrontDevice | undefined {
    return this.devices.get(`device/vif/${devid}`);
  }

  /**
   * netfront_probe → xennet_create_dev: the net device exists from now on (carrier off); wait until
   * the backend directory exists and is not Closed before letting the bus watch it.
   */
  async probe(dev: XenbusDevice): Promise<void> {
    const info = this.createDevice(dev);
    dev.data = info;
    this.devices.set(dev.nodename, info);
    const S = XenbusState;
    do {
      await dev.switchState(S.Initialising);
    } while (!(await info.waitForBackend((s) => s !== S.Closed && s !== S.Unknown)) && !dev.removed);
  }

  /** netback_changed */
  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const info = dev.data;
    if (!(info instanceof NetfrontDevice)) return;
    info.wake();
    const S = XenbusState;
    switch (state) {
      case S.InitWait:
        if (dev.state !== S.Initialising) return;
        if (!(await info.connect())) return;
        await dev.switchState(S.Connected);
        return;
      case S.Connected:
        // netdev_notify_peers: the stack announces the guest's addresses (gratuitous ARP).
        dev.trace("netfront.notify_peers", {});
        info.notifyPeers();
        return;
      case S.Closed:
        if (dev.state === S.Closed) return;
        await dev.switchState(S.Closed); // xenbus_frontend_closed
        return;
      case S.Closing:
        await dev.switchState(S.Closed); // xenbus_frontend_closed
        return;
      default:
        return;
    }
  }

  /** xennet_remove: bus close, then disconnect and destroy queues only if they exist (XSA-465). */
  async remove(dev: XenbusDevice): Promise<void> {
    const info = dev.data;
    if (!(info instanceof NetfrontDevice)) return;
    await info.busClose();
    if (info.queues.length > 0) {
      info.disconnectBackend();
      info.destroyQueues();
    }
    this.devices.delete(dev.nodename);
  }

  /** netfront_resume: drop the connection; the re-armed watch reconnects like a first boot. */
  async resume(dev: XenbusDevice): Promise<void> {
    const info = dev.data;
    if (info instanceof NetfrontDevice) info.disconnectBackend();
  }
}

/** The netfront bound to a guest's `device/vif/<devid>`, if any. */
export function netfrontOf(bus: XenbusBus, devid = 0): NetfrontDevice | undefined {
  const d = bus.device(`device/vif/${devid}`)?.data;
  return d instanceof NetfrontDevice ? d : undefined;
}

/**
 * The stack's flow hash for queue selection (skb_get_hash): FNV-1a over the EtherType and the
 * next 40 bytes (IP addresses, ports), so one flow stays on one queue.
 */
export function flowHash(frame: Uint8Array): number {
  let h = 0x811c9dc5;
  const end = Math.min(frame.length, 54);
  for (let i = 12; i < end; i++) {
    h ^= frame[i]!;
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
