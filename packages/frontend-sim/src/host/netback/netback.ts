// netback, dom0's network backend (Linux drivers/net/xen-netback/xenbus.c): probe publishes the
// features and creates the vif, frontend_changed drives set_backend_state, connect() reads the
// frontend's keys and maps/binds every queue, and the Connected state is written only once the
// vif hotplug script reported `hotplug-status = connected`.
import { isXenbusError } from "../../guest/xenbus/xenbus-error.ts";
import { XBT_NIL, type XenbusWatch } from "../../guest/xenbus/xs-client.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import { errOf, type XenbusDevice } from "../../xenbus/xenbus-device.ts";
import { XenbusState } from "../../xenbus/xenbus-state.ts";
import { NetbackQueue } from "./netback-queue.ts";
import { SkbPool } from "./skb.ts";
import { SwitchRegistry } from "./vswitch.ts";
import { Xenvif } from "./xenvif.ts";

const S = XenbusState;

export interface NetbackOptions {
  /** The xenvif_max_queues module parameter (`multi-queue-max-queues`; Linux: dom0's CPUs). Default 4. */
  readonly maxQueues?: number;
  /** The separate_tx_rx_irq module parameter (`feature-split-event-channels`). Default true. */
  readonly splitEventChannels?: boolean;
  /** Bridges to attach vifs to; default: a registry of this driver's own. */
  readonly switches?: SwitchRegistry;
}

/** struct backend_info */
export class BackendInfo {
  /** be->state: where set_backend_state thinks we are (the written state may lag, see hotplug). */
  state: XenbusState = S.Initialising;
  frontendState: XenbusState = S.Unknown;
  hotplugWatch: XenbusWatch | null = null;
  vif: Xenvif | null = null;
  script = "";

  constructor(
    readonly driver: NetbackDriver,
    readonly dev: XenbusDevice,
  ) {}

  get haveHotplugStatusWatch(): boolean {
    return this.hotplugWatch !== null;
  }
}

/** xen_net_read_mac (netback's own copy, as in Linux): -ENOENT on a malformed address. */
function readMac(text: string): Uint8Array | undefined {
  const parts = text.split(":");
  if (parts.length !== 6) return undefined;
  const mac = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    let p = parts[i]!;
    if (/^0[xX][0-9a-fA-F]/.test(p)) p = p.slice(2);
    if (!/^[0-9a-fA-F]+$/.test(p)) return undefined;
    mac[i] = Number.parseInt(p.slice(-2), 16);
  }
  return mac;
}

export class NetbackDriver implements XenbusDriver {
  readonly type = "vif";
  readonly maxQueues: number;
  readonly splitEventChannels: boolean;
  readonly switches: SwitchRegistry;
  /** Backends by nodename (`backend/vif/<domid>/<handle>`). */
  readonly backends = new Map<string, BackendInfo>();
  private skbPool: SkbPool | undefined;

  constructor(options: NetbackOptions = {}) {
    this.maxQueues = Math.max(1, options.maxQueues ?? 4);
    this.splitEventChannels = options.splitEventChannels ?? true;
    this.switches = options.switches ?? new SwitchRegistry();
  }

  /** The vif serving `domid`'s `vif/<handle>`, if any. */
  vif(domid: number, handle = 0): Xenvif | undefined {
    return this.backends.get(`backend/vif/${domid}/${handle}`)?.vif ?? undefined;
  }

  /** dom0 packets currently held (0 once traffic has drained; leak checks). */
  get liveSkbs(): number {
    return this.skbPool?.live ?? 0;
  }

  private pool(dev: XenbusDevice): SkbPool {
    this.skbPool ??= new SkbPool(dev.kernel.memory);
    this.switches.sched ??= dev.kernel.sched;
    return this.skbPool;
  }

  /**
   * netback_probe: features in one transaction (retried on EAGAIN), the optional ones without,
   * `script` and `handle` read, the vif created. InitWait comes from frontend_changed(1).
   */
  async probe(dev: XenbusDevice): Promise<void> {
    const be = new BackendInfo(this, dev);
    dev.data = be;
    this.backends.set(dev.nodename, be);
    await dev.switchState(S.Initialising);
    const xb = dev.xb;
    const node = dev.nodename;
    for (;;) {
      let tx: number;
      try {
        tx = await xb.transactionStart();
      } catch (e) {
        await dev.devFatal(errOf(e), "starting transaction");
        return this.probeFailed(be);
      }
      let key = "";
      try {
        for (const [k, v] of [
          ["feature-sg", 1],
          ["feature-gso-tcpv4", 1],
          ["feature-gso-tcpv6", 1],
          ["feature-ipv6-csum-offload", 1],
          ["feature-rx-copy", 1],
          ["feature-rx-flip", 0],
          ["feature-multicast-control", 1],
          ["feature-dynamic-multicast-control", 1],
          ["feature-xdp-headroom", 1],
        ] as const) {
          key = k;
          await xb.write(tx, `${node}/${k}`, String(v));
        }
      } catch (e) {
        await xb.transactionEnd(tx, true).catch(() => undefined);
        await dev.devFatal(errOf(e), `writing ${key}`);
        return this.probeFailed(be);
      }
      try {
        await xb.transactionEnd(tx, false);
        break;
      } catch (e) {
        if (isXenbusError(e, "EAGAIN")) continue;
        await dev.devFatal(errOf(e), "completing transaction");
        return this.probeFailed(be);
      }
    }
    // Optional features, outside the transaction; failures only logged. (Linux also writes
    // feature-ctrl-ring = 1; the hash/control ring is not modelled, so it is not offered.)
    for (const [k, v] of [
      ["feature-split-event-channels", this.splitEventChannels ? 1 : 0],
      ["multi-queue-max-queues", this.maxQueues],
    ] as const) {
      await xb.write(XBT_NIL, `${node}/${k}`, String(v)).catch(() => dev.trace("netback.warn", { key: k }));
    }
    try {
      be.script = await xb.readString(XBT_NIL, `${node}/script`);
    } catch (e) {
      await dev.devFatal(errOf(e), "reading script");
      return this.probeFailed(be);
    }
    // backend_create_xenvif: handle is "%li".
    let handle: number | undefined;
    try {
      const t = await xb.readString(XBT_NIL, `${node}/handle`);
      handle = /^\s*[+-]?\d+/.test(t) ? Number.parseInt(t, 10) : undefined;
    } catch (e) {
      await dev.devFatal(errOf(e), "reading handle");
      return this.probeFailed(be);
    }
    if (handle === undefined) {
      await dev.devFatal("EINVAL", "reading handle");
      return this.probeFailed(be);
    }
    be.vif = new Xenvif(dev, dev.otherendId, handle, this.pool(dev));
    dev.trace("netback.probe", { vif: be.vif.name, script: be.script });
  }

  /** Linux calls netback_remove on a failed probe; the device stays bound but has no vif. */
  private async probeFailed(be: BackendInfo): Promise<void> {
    await this.unregisterHotplugWatch(be);
    be.vif = null;
  }

  /** frontend_changed */
  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const be = dev.data;
    if (!(be instanceof BackendInfo)) return;
    be.frontendState = state;
    switch (state) {
      case S.Initialising:
        await this.setBackendState(be, S.InitWait);
        return;
      case S.Initialised:
        return;
      case S.Connected:
        await this.setBackendState(be, S.Connected);
        return;
      case S.Closing:
        await this.setBackendState(be, S.Closing);
        return;
      case S.Closed:
        await this.setBackendState(be, S.Closed);
        if ((await dev.xb.readUnsigned(dev.nodename, "online", 0)) !== 0) return;
        // not online: fall through to Unknown
        await this.setBackendState(be, S.Closed);
        await dev.unregister();
        return;
      case S.Unknown:
        await this.setBackendState(be, S.Closed);
        await dev.unregister();
        return;
      case S.Reconfiguring: {
        // read_xenbus_frontend_xdp: the headroom is accepted (XDP itself is not modelled).
        const headroom = await dev.xb.readUnsigned(dev.otherend, "xdp-headroom", 0);
        dev.trace("netback.xdp_headroom", { headroom: Math.min(headroom, 0x7fff) });
        await dev.switchState(S.Reconfigured);
        return;
      }
      default:
        await dev.devFatal("EINVAL", `saw state ${state} at frontend`);
        return;
    }
  }

  /** backend_switch_state: the write waits while the hotplug script has not reported in. */
  private async backendSwitchState(be: BackendInfo, state: XenbusState): Promise<void> {
    be.state = state;
    if (!be.haveHotplugStatusWatch) await be.dev.switchState(state);
  }

  /** set_backend_state: walk one hop at a time (Initialising → InitWait → Connected, …). */
  async setBackendState(be: BackendInfo, state: XenbusState): Promise<void> {
    while (be.state !== state) {
      const from = be.state;
      switch (from) {
        case S.Initialising:
          if (state === S.Closed) await this.backendSwitchState(be, S.Closed);
          else await this.backendSwitchState(be, S.InitWait);
          break;
        case S.Closed:
          if (state === S.Closing) await this.backendSwitchState(be, S.Closing);
          else await this.backendSwitchState(be, S.InitWait);
          break;
        case S.InitWait:
          if (state === S.Connected) {
            if (!(await this.backendConnect(be))) {
              // connect() went fatal (error node written, XenBus state Closing). Linux's
              // set_backend_state switches to Connected regardless, flipping the node 5 → 4 with
              // no queues behind it; this driver stays Closing so the frontend reliably sees it.
              be.state = S.Closing;
              return;
            }
            await this.backendSwitchState(be, S.Connected);
          } else {
            await this.backendSwitchState(be, S.Closing);
          }
          break;
        case S.Connected:
          await this.backendDisconnect(be);
          await this.backendSwitchState(be, S.Closing);
          break;
        case S.Closing:
          await this.backendSwitchState(be, S.Closed);
          break;
        default:
          return;
      }
    }
  }

  /** backend_connect: connect() when there is a vif. */
  private async backendConnect(be: BackendInfo): Promise<boolean> {
    if (be.vif === null) return true;
    return this.connect(be, be.vif);
  }

  /**
   * connect(): the queue count the frontend asked for (within our maximum), its MAC, its feature
   * flags, then per queue the ring refs and event channel(s) from the frontend directory (one
   * queue) or `queue-<i>/`, mapped and bound. Any failure is fatal and undoes every queue.
   */
  private async connect(be: BackendInfo, vif: Xenvif): Promise<boolean> {
    const dev = be.dev;
    const xb = dev.xb;
    const requested = await xb.readUnsigned(dev.otherend, "multi-queue-num-queues", 1);
    if (requested > this.maxQueues) {
      await dev.devFatal(
        "EINVAL",
        `guest requested ${requested} queues, exceeding the maximum of ${this.maxQueues}.`,
      );
      return false;
    }
    let mac: Uint8Array | undefined;
    let macErr = -2;
    try {
      mac = readMac(await xb.readString(XBT_NIL, `${dev.nodename}/mac`));
    } catch (e) {
      macErr = errOf(e);
    }
    if (mac === undefined) {
      await dev.devFatal(macErr, `parsing ${dev.nodename}/mac`);
      return false;
    }
    vif.feMac = mac;
    await this.readVifFlags(be, vif);
    if (requested === 0) {
      // Linux would allocate zero queues; a vif without queues can carry nothing.
      await dev.devFatal("EINVAL", "guest requested 0 queues");
      return false;
    }

    const queues: NetbackQueue[] = [];
    for (let i = 0; i < requested; i++) {
      const q = new NetbackQueue(vif, i);
      if (!(await this.connectDataRings(be, q, requested))) {
        for (const c of queues) await c.disconnect();
        return false;
      }
      queues.push(q);
    }
    vif.queues = queues;
    vif.disabled = false;
    vif.disabledReason = undefined;
    // Carrier on and, standing in for the vif-bridge script, the port on the bridge.
    let bridge = "xenbr0";
    try {
      bridge = (await xb.readString(XBT_NIL, `${dev.nodename}/bridge`)) || bridge;
    } catch {
      // no bridge key: default bridge
    }
    vif.carrierOn(this.switches.get(bridge));
    dev.trace("netback.connected", {
      vif: vif.name,
      queues: requested,
      split: queues[0]!.txIrq !== queues[0]!.rxIrq,
      bridge,
    });

    await this.unregisterHotplugWatch(be);
    be.hotplugWatch = await dev.watchPath(`${dev.nodename}/hotplug-status`, () =>
      this.hotplugStatusChanged(be),
    );
    return true;
  }

  /** read_xenbus_vif_flags */
  private async readVifFlags(be: BackendInfo, vif: Xenvif): Promise<void> {
    const dev = be.dev;
    const xb = dev.xb;
    const fe = dev.otherend;
    vif.rxCopy = (await xb.readUnsigned(fe, "request-rx-copy", 0)) !== 0;
    vif.rxNotify = (await xb.readUnsigned(fe, "feature-rx-notify", 0)) !== 0;
    vif.canSg = (await xb.readUnsigned(fe, "feature-sg", 0)) !== 0;
    vif.gsoMask = 0;
    if ((await xb.readUnsigned(fe, "feature-gso-tcpv4", 0)) !== 0) vif.gsoMask |= 1 << 1;
    if ((await xb.readUnsigned(fe, "feature-gso-tcpv6", 0)) !== 0) vif.gsoMask |= 1 << 2;
    vif.ipCsum = (await xb.readUnsigned(fe, "feature-no-csum-offload", 0)) === 0;
    vif.ipv6Csum = (await xb.readUnsigned(fe, "feature-ipv6-csum-offload", 0)) !== 0;
  }

  /** connect_data_rings */
  private async connectDataRings(be: BackendInfo, q: NetbackQueue, numQueues: number): Promise<boolean> {
    const dev = be.dev;
    const xb = dev.xb;
    const xspath = numQueues === 1 ? dev.otherend : `${dev.otherend}/queue-${q.id}`;
    const u = (t: string): number | undefined => (/^\d+$/.test(t) ? Number(t) : undefined);
    let txRef: number;
    let rxRef: number;
    try {
      const g = await xb.gather<{ tx: number; rx: number }>(XBT_NIL, xspath, {
        tx: { node: "tx-ring-ref", parse: u },
        rx: { node: "rx-ring-ref", parse: u },
      });
      txRef = g.tx;
      rxRef = g.rx;
    } catch (e) {
      await dev.devFatal(errOf(e), `reading ${xspath}/ring-ref`);
      return false;
    }
    let txEvtchn: number;
    let rxEvtchn: number;
    try {
      const g = await xb.gather<{ tx: number; rx: number }>(XBT_NIL, xspath, {
        tx: { node: "event-channel-tx", parse: u },
        rx: { node: "event-channel-rx", parse: u },
      });
      txEvtchn = g.tx;
      rxEvtchn = g.rx;
    } catch {
      const one = await xb.scanf(XBT_NIL, xspath, "event-channel", u);
      if (one === undefined) {
        await dev.devFatal("ENOENT", `reading ${xspath}/event-channel(-tx/rx)`);
        return false;
      }
      txEvtchn = rxEvtchn = one;
    }
    const err = await q.connect(txRef, rxRef, txEvtchn, rxEvtchn);
    if (err !== 0) {
      await dev.devFatal(err, `mapping shared-frames ${txRef}/${rxRef} port tx ${txEvtchn} rx ${rxEvtchn}`);
      return false;
    }
    return true;
  }

  /** hotplug_status_changed: once "connected", complete the deferred state change and stop watching. */
  private async hotplugStatusChanged(be: BackendInfo): Promise<void> {
    const dev = be.dev;
    let status: string;
    try {
      status = await dev.xb.readString(XBT_NIL, `${dev.nodename}/hotplug-status`);
    } catch {
      return;
    }
    if (status !== "connected" || be.hotplugWatch === null) return;
    await dev.switchState(be.state);
    await this.unregisterHotplugWatch(be);
  }

  private async unregisterHotplugWatch(be: BackendInfo): Promise<void> {
    const w = be.hotplugWatch;
    be.hotplugWatch = null;
    if (w !== null) await be.dev.unwatch(w);
  }

  /** backend_disconnect: every queue unbound and unmapped, carrier off. */
  private async backendDisconnect(be: BackendInfo): Promise<void> {
    const vif = be.vif;
    if (vif === null || (vif.queues.length === 0 && !vif.carrier)) return;
    vif.carrierOff();
    const queues = vif.queues;
    vif.queues = [];
    for (const q of queues) await q.disconnect();
    be.dev.trace("netback.disconnected", { vif: vif.name });
  }

  /** netback_remove: Closed, drop the hotplug watch, delete `hotplug-status`, free the vif. */
  async remove(dev: XenbusDevice): Promise<void> {
    const be = dev.data;
    if (!(be instanceof BackendInfo)) return;
    await this.setBackendState(be, S.Closed);
    await this.unregisterHotplugWatch(be);
    if (be.vif !== null) {
      await this.backendDisconnect(be);
      await dev.xb.rm(XBT_NIL, `${dev.nodename}/hotplug-status`).catch(() => undefined);
      be.vif = null;
    }
    this.backends.delete(dev.nodename);
    dev.data = undefined;
  }
}
