// One netback queue (struct xenvif_queue, drivers/net/xen-netback/{interface.c,netback.c,rx.c}):
// the frontend's TX and RX rings mapped into dom0, its event channel(s) bound, and the two halves
// of the data path — TX (xenvif_tx_action: validate the requests, grant-copy the packet out of
// the guest, answer every slot) and RX (xenvif_rx_action: grant-copy queued packets into the
// buffers the guest posted, answering in the request's slot). Work runs on the queue's own dom0
// actor, kicked by the event channel or by packets arriving from the switch.

import {
  type BackRing,
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST_okay,
  type GrantCopyOp,
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETIF_RX_RING,
  NETIF_TX_RING,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  PAGE_SIZE,
  type RingError,
  type SlotSnapshot,
} from "@xensim/ring";
import { traceRingIndices } from "../../xenbus/ring-trace.ts";
import type { MappedRing } from "../../xenbus/xenbus-device.ts";
import type { Skb, SkbGso } from "./skb.ts";
import type { Xenvif } from "./xenvif.ts";

export const XEN_NETIF_TX_RING_SIZE = 256;
export const XEN_NETIF_RX_RING_SIZE = 256;
/** XEN_NETBK_LEGACY_SLOTS_MAX: packets using more slots are dropped. */
export const XEN_NETBK_LEGACY_SLOTS_MAX = 18;
/** fatal_skb_slots default: a frontend using this many slots is malicious. */
export const FATAL_SKB_SLOTS_DEFAULT = 20;
/** XENVIF_RX_QUEUE_BYTES: packets queued towards the guest beyond this are dropped. */
export const XENVIF_RX_QUEUE_BYTES = (XEN_NETIF_RX_RING_SIZE / 2) * PAGE_SIZE;
/** NAPI weight / RX batch: packets per action before yielding to other actors. */
export const NETBACK_BUDGET = 64;
const ETH_HLEN = 14;
const XEN_NETIF_EXTRA_TYPE_GSO = 1;
const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
const XEN_NETIF_EXTRA_TYPE_MAX = 6;
const XEN_NETIF_EXTRA_FLAG_MORE = 1;
const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
const XEN_NETIF_GSO_TYPE_TCPV6 = 2;
const NETTXF_KNOWN = NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info;
const MAX_SLOTS = FATAL_SKB_SLOTS_DEFAULT + 1;

export interface NetbackQueueStats {
  txPackets: number;
  txBytes: number;
  /** Packets answered with NETIF_RSP_ERROR (bad request, failed copy). */
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets dropped towards the guest (queue full, vif down). */
  rxDropped: number;
}

interface CopyPtr {
  ref?: number;
  gfn?: number;
  domid: number;
  offset: number;
}
interface CopyOp {
  source: CopyPtr;
  dest: CopyPtr;
  len: number;
  flags: number;
}

type TxReqSnapshot = SlotSnapshot<(typeof NETIF_TX_RING)["request"]>;
type RxReqSnapshot = SlotSnapshot<(typeof NETIF_RX_RING)["request"]>;

export class NetbackQueue {
  /** `vif<domid>.<handle>-q<id>`, also the dom0 actor its work runs on (as `dom0:<name>`). */
  readonly name: string;
  readonly actor: string;
  readonly stats: NetbackQueueStats = {
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
  };
  live = false;
  txMapped: MappedRing | null = null;
  rxMapped: MappedRing | null = null;
  tx!: BackRing<typeof NETIF_TX_RING>;
  rx!: BackRing<typeof NETIF_RX_RING>;
  /** Local (dom0) ports; equal when the frontend uses one channel. 0 = unbound. */
  txIrq = 0;
  rxIrq = 0;
  private txScheduled = false;
  private rxScheduled = false;

  // RX queue (skbs waiting for guest buffers): a simple FIFO with a head index.
  private readonly rxQueue: Skb[] = [];
  private rxHead = 0;
  rxQueueBytes = 0;

  // Scratch, reused for every packet.
  private txReq!: TxReqSnapshot;
  private txFrag!: TxReqSnapshot;
  private rxReq!: RxReqSnapshot;
  private readonly slotId = new Uint16Array(MAX_SLOTS);
  private readonly slotGref = new Uint32Array(MAX_SLOTS);
  private readonly slotOff = new Uint16Array(MAX_SLOTS);
  private readonly slotSize = new Uint16Array(MAX_SLOTS);
  private readonly slotFlags = new Uint16Array(MAX_SLOTS);
  private readonly slotStatus = new Int16Array(MAX_SLOTS);
  private readonly opSlot = new Int16Array(2 * MAX_SLOTS);
  private readonly ops: CopyOp[] = [];
  private readonly opPool: CopyOp[] = [];

  constructor(
    readonly vif: Xenvif,
    readonly id: number,
  ) {
    this.name = `${vif.name}-q${id}`;
    this.actor = `dom0:${this.name}`;
  }

  private get kernel() {
    return this.vif.dev.kernel;
  }

  private get tracing(): boolean {
    return this.kernel.sched.trace.enabled;
  }

  private trace(kind: string, details: Record<string, string | number | boolean | undefined>): void {
    const t = this.kernel.sched.trace;
    if (t.enabled) t.emit(this.actor, kind, { vif: this.vif.name, queue: this.id, ...details });
  }

  /**
   * xenvif_connect_data: map both rings (xenbus_map_ring_valloc) and bind the event channel(s) to
   * this queue's handlers. Returns 0 or the negative errno / GNTST status of the failure (the
   * caller reports it); nothing stays mapped or bound on failure.
   */
  async connect(txRef: number, rxRef: number, txEvtchn: number, rxEvtchn: number): Promise<number> {
    const dev = this.vif.dev;
    const ev = this.kernel.events;
    this.txMapped = await dev.mapRing([txRef]);
    if (this.txMapped === null) return -2;
    this.rxMapped = await dev.mapRing([rxRef]);
    if (this.rxMapped === null) {
      await this.unmapRings();
      return -2;
    }
    const tx = dev.attachBackRing(this.txMapped.pages, NETIF_TX_RING);
    const rx = dev.attachBackRing(this.rxMapped.pages, NETIF_RX_RING);
    if (tx === null || rx === null) {
      // xenvif_map_frontend_data_rings: "Illegal number of requests" on a corrupt header.
      await this.unmapRings();
      return -2;
    }
    this.tx = tx;
    this.rx = rx;
    this.txReq = this.tx.requestSnapshot();
    this.txFrag = this.tx.requestSnapshot();
    this.rxReq = this.rx.requestSnapshot();
    const t = ev.bindInterdomain(dev.otherendId, txEvtchn);
    if (!t.ok) {
      await this.unmapRings();
      return -22;
    }
    this.txIrq = t.value;
    if (txEvtchn === rxEvtchn) {
      this.rxIrq = this.txIrq;
      // xenvif_interrupt: one channel serves both directions.
      ev.bindHandler(
        this.txIrq,
        () => {
          this.kickTx();
          this.kickRx();
        },
        { actor: this.actor, label: `${this.name}` },
      );
    } else {
      const r = ev.bindInterdomain(dev.otherendId, rxEvtchn);
      if (!r.ok) {
        ev.close(this.txIrq);
        this.txIrq = 0;
        await this.unmapRings();
        return -22;
      }
      this.rxIrq = r.value;
      ev.bindHandler(this.txIrq, () => this.kickTx(), { actor: this.actor, label: `${this.name}-tx` });
      ev.bindHandler(this.rxIrq, () => this.kickRx(), { actor: this.actor, label: `${this.name}-rx` });
    }
    this.live = true;
    this.trace("netback.queue_connected", {
      tx_ref: txRef,
      rx_ref: rxRef,
      tx_port: this.txIrq,
      rx_port: this.rxIrq,
    });
    // A freshly bound port starts pending, so the guest's early requests are seen at once.
    return 0;
  }

  private async unmapRings(): Promise<void> {
    const dev = this.vif.dev;
    if (this.txMapped !== null) await dev.unmapRing(this.txMapped);
    if (this.rxMapped !== null) await dev.unmapRing(this.rxMapped);
    this.txMapped = this.rxMapped = null;
  }

  /** xenvif_disconnect_data for this queue: unbind, drop queued packets, unmap the rings. */
  async disconnect(): Promise<void> {
    this.live = false;
    const ev = this.kernel.events;
    for (const port of new Set([this.txIrq, this.rxIrq])) {
      if (port === 0) continue;
      ev.unbindHandler(port);
      ev.close(port);
    }
    this.txIrq = this.rxIrq = 0;
    this.purgeRx();
    await this.unmapRings();
  }

  private purgeRx(): void {
    for (let i = this.rxHead; i < this.rxQueue.length; i++) this.rxQueue[i]!.release();
    this.rxQueue.length = 0;
    this.rxHead = 0;
    this.rxQueueBytes = 0;
  }

  /** Schedule TX work on this queue's actor (napi_schedule), once. */
  kickTx(): void {
    if (this.txScheduled) return;
    this.txScheduled = true;
    this.kernel.sched.post(this.actor, "tx_action", () => {
      this.txScheduled = false;
      this.guard(() => this.txAction());
    });
  }

  /** Wake the RX thread (xenvif_kick_thread), once. */
  kickRx(): void {
    if (this.rxScheduled) return;
    this.rxScheduled = true;
    this.kernel.sched.post(this.actor, "rx_action", () => {
      this.rxScheduled = false;
      this.guard(() => this.rxAction());
    });
  }

  /** Nothing a frontend writes may crash dom0: a fault disables the vif instead. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.vif.fatalTxErr(this, `fault: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // ---------------------------------------------------------------- TX (guest → dom0) ----

  /** xenvif_tx_action: up to NETBACK_BUDGET packets, then yield and come back. */
  txAction(): void {
    if (!this.live || this.vif.disabled) return;
    for (let budget = NETBACK_BUDGET; budget > 0; budget--) {
      let n = this.tx.unconsumedRequests();
      if (typeof n !== "number") {
        this.impossible(n);
        return;
      }
      if (n === 0) {
        n = this.tx.finalCheckForRequests();
        if (typeof n !== "number") {
          this.impossible(n);
          return;
        }
        if (n === 0) return;
      }
      if (!this.txOne(n)) return;
    }
    this.kickTx();
  }

  private impossible(e: RingError): void {
    const what =
      e.kind === "request-prod-overflow" ? "Impossible number of requests" : "request producer regressed";
    this.vif.fatalTxErr(
      this,
      `${what}. req_prod ${e.prod}, req_cons ${this.tx.reqCons}, size ${this.tx.size}`,
    );
  }

  /**
   * One packet (xenvif_tx_build_gops + xenvif_get_extras + xenvif_count_requests, then the copy
   * and the responses). False if the vif had to be disabled.
   */
  private txOne(workToDo: number): boolean {
    const vif = this.vif;
    const tx = this.tx;
    const first = this.txReq;
    tx.takeRequest(first);
    workToDo--;
    let size = first.getU16(10);
    const offset0 = first.getU16(4);
    const flags0 = first.getU16(6);
    this.slotId[0] = first.getU16(8);
    this.slotGref[0] = first.getU32(0);
    this.slotOff[0] = offset0;
    this.slotFlags[0] = flags0;

    // xenvif_get_extras
    let extraCount = 0;
    let gso: SkbGso | undefined;
    let mcast = 0;
    if (flags0 & NETTXF_extra_info) {
      const x = this.txFrag;
      let more: boolean;
      do {
        if (workToDo-- <= 0) return this.fatal("Missing extra info");
        tx.takeRequest(x);
        extraCount++;
        const type = x.getU8(0);
        if (type === 0 || type >= XEN_NETIF_EXTRA_TYPE_MAX) return this.fatal(`Invalid extra type: ${type}`);
        if (type === XEN_NETIF_EXTRA_TYPE_GSO) gso = { size: x.getU16(2), type: x.getU8(4) };
        else if (type === XEN_NETIF_EXTRA_TYPE_MCAST_ADD || type === XEN_NETIF_EXTRA_TYPE_MCAST_DEL)
          mcast = type;
        more = (x.getU8(1) & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      } while (more);
    }
    if (mcast !== 0) {
      // Multicast filter updates carry no packet: answer and go on (filtering is not modelled).
      this.respond(0, extraCount, NETIF_RSP_OKAY);
      this.pushTx();
      return true;
    }

    // xenvif_count_requests
    let slots = 0;
    let dropErr = "";
    let more = (flags0 & NETTXF_more_data) !== 0;
    let unknownFlags = flags0 & ~NETTXF_KNOWN;
    while (more) {
      if (slots >= workToDo) return this.fatal(`Asked for ${slots} slots but exceeds this limit`);
      if (slots >= FATAL_SKB_SLOTS_DEFAULT) {
        return this.fatal(`Malicious frontend using ${slots} slots, threshold ${FATAL_SKB_SLOTS_DEFAULT}`);
      }
      if (dropErr === "" && slots >= XEN_NETBK_LEGACY_SLOTS_MAX) {
        dropErr = `Too many slots (${slots}) exceeding limit (${XEN_NETBK_LEGACY_SLOTS_MAX}), dropping packet`;
      }
      const f = this.txFrag;
      tx.takeRequest(f);
      const fsize = f.getU16(10);
      const foff = f.getU16(4);
      const fflags = f.getU16(6);
      const s = slots + 1;
      this.slotId[s] = f.getU16(8);
      this.slotGref[s] = f.getU32(0);
      this.slotOff[s] = foff;
      this.slotSize[s] = fsize;
      this.slotFlags[s] = fflags;
      unknownFlags |= fflags & ~NETTXF_KNOWN;
      if (dropErr === "" && fsize > size) {
        dropErr = `Invalid tx request, slot size ${fsize} > remaining size ${size}`;
      }
      size = (size - fsize) & 0xffff;
      slots++;
      if (foff + fsize > PAGE_SIZE)
        return this.fatal(`Cross page boundary, txp->offset: ${foff}, size: ${fsize}`);
      more = (fflags & NETTXF_more_data) !== 0;
    }
    this.slotSize[0] = size;
    const nslots = slots + 1;
    if (dropErr !== "") return this.txErr(nslots, extraCount, dropErr);
    if (size < ETH_HLEN) return this.txErr(nslots, extraCount, `Bad packet size: ${size}`);
    if (offset0 + size > PAGE_SIZE) {
      return this.fatal(`Cross page boundary, txreq.offset: ${offset0}, size: ${size}`);
    }
    // Linux ignores flag bits it does not know; a request with them is refused here instead.
    if (unknownFlags !== 0)
      return this.txErr(nslots, extraCount, `Unknown tx flags 0x${unknownFlags.toString(16)}`);
    if (gso !== undefined) {
      // xenvif_set_skb_gso
      if (gso.size === 0) return this.fatal("GSO size must not be zero.");
      if (gso.type !== XEN_NETIF_GSO_TYPE_TCPV4 && gso.type !== XEN_NETIF_GSO_TYPE_TCPV6) {
        return this.fatal(`Bad GSO type ${gso.type}.`);
      }
    }

    let total = 0;
    for (let s = 0; s < nslots; s++) total += this.slotSize[s]!;
    const skb = vif.pool.alloc(total);
    if (skb === undefined) return this.txErr(nslots, extraCount, "Can't allocate a skb");
    skb.gso = gso;
    skb.csumBlank = (flags0 & NETTXF_csum_blank) !== 0;
    skb.dataValidated = (flags0 & NETTXF_data_validated) !== 0;

    // Grant-copy every slot out of the guest into the skb's dom0 frames (a slot landing across a
    // frame boundary takes two copy ops: a copy never crosses a page on either side).
    const ops = this.ops;
    ops.length = 0;
    const fe = vif.dev.otherendId;
    let pos = 0;
    for (let s = 0; s < nslots; s++) {
      let left = this.slotSize[s]!;
      let srcOff = this.slotOff[s]!;
      this.slotStatus[s] = NETIF_RSP_OKAY;
      while (left > 0) {
        const dstOff = pos & (PAGE_SIZE - 1);
        const len = Math.min(left, PAGE_SIZE - dstOff);
        const op = this.op(ops.length);
        op.source.ref = this.slotGref[s]!;
        op.source.domid = fe;
        op.source.offset = srcOff;
        op.dest.gfn = skb.pages[pos >> 12]!.gfn;
        op.dest.domid = DOMID_SELF;
        op.dest.offset = dstOff;
        op.len = len;
        op.flags = GNTCOPY_source_gref;
        this.opSlot[ops.length] = s;
        ops.push(op);
        left -= len;
        srcOff += len;
        pos += len;
      }
    }
    const st = this.kernel.gnttab.copy(ops as unknown as GrantCopyOp[]);
    let failed = 0;
    for (let i = 0; i < st.length; i++) {
      if (st[i] !== GNTST_okay) {
        this.slotStatus[this.opSlot[i]!] = NETIF_RSP_ERROR;
        failed = st[i]!;
      }
    }
    // Responses: the first slot, NULL for each extra, then one per fragment.
    this.respond(0, extraCount, this.slotStatus[0]!);
    for (let s = 1; s < nslots; s++) this.respond(s, 0, this.slotStatus[s]!);
    const notify = this.pushTx();
    if (this.tracing)
      this.trace("netback.tx_copy", {
        len: total,
        slots: nslots + extraCount,
        ops: ops.length,
        req_cons: tx.reqCons,
        rsp_prod: tx.rspProdPvt,
        notify,
        status: failed === 0 ? "okay" : `gntst ${failed}`,
        gso: gso === undefined ? undefined : `${gso.type}/${gso.size}`,
      });
    if (failed !== 0) {
      // xenvif_tx_check_gop: "Bad status from copy" — the packet is dropped.
      this.stats.txErrors++;
      skb.release();
      return true;
    }
    this.stats.txPackets++;
    this.stats.txBytes += total;
    vif.fromGuest(skb);
    return true;
  }

  private op(i: number): CopyOp {
    let op = this.opPool[i];
    if (op === undefined) {
      op = { source: { domid: 0, offset: 0 }, dest: { domid: 0, offset: 0 }, len: 0, flags: 0 };
      this.opPool[i] = op;
    }
    op.source.ref = undefined;
    op.source.gfn = undefined;
    op.dest.ref = undefined;
    op.dest.gfn = undefined;
    return op;
  }

  /** make_tx_response for slot `s` (+ NULL responses for `extras` extra-info slots after it). */
  private respond(s: number, extras: number, status: number): void {
    const r = this.tx.nextResponse()!;
    r.setU16(0, this.slotId[s]!);
    r.setU16(2, status & 0xffff);
    for (let i = 0; i < extras; i++) this.tx.nextResponse()!.setU16(2, NETIF_RSP_NULL);
  }

  /** push_tx_responses; returns whether the frontend was notified. */
  private pushTx(): boolean {
    const notify = this.tx.pushResponsesAndCheckNotify();
    if (notify) this.kernel.events.send(this.txIrq);
    traceRingIndices(this.kernel, this.actor, this.vif.dev.nodename, `tx-${this.id}`, this.tx);
    return notify;
  }

  /** xenvif_tx_err: every slot of the packet answered with NETIF_RSP_ERROR; not fatal. */
  private txErr(nslots: number, extras: number, why: string): true {
    this.trace("netback.tx_error", { reason: why, slots: nslots + extras, req_cons: this.tx.reqCons });
    this.respond(0, extras, NETIF_RSP_ERROR);
    for (let s = 1; s < nslots; s++) this.respond(s, 0, NETIF_RSP_ERROR);
    this.pushTx();
    this.stats.txErrors++;
    return true;
  }

  /** xenvif_fatal_tx_err: the frontend is broken or malicious; stop serving the vif. */
  private fatal(why: string): false {
    this.vif.fatalTxErr(this, why);
    return false;
  }

  // ---------------------------------------------------------------- RX (dom0 → guest) ----

  /** xenvif_rx_queue_tail: queue a packet for the guest (dropping it when the queue is full). */
  enqueue(skb: Skb): void {
    if (!this.live || this.rxQueueBytes + skb.len > XENVIF_RX_QUEUE_BYTES) {
      this.stats.rxDropped++;
      skb.release();
      return;
    }
    this.rxQueue.push(skb);
    this.rxQueueBytes += skb.len;
    this.kickRx();
  }

  /** Packets waiting for guest buffers. */
  get rxQueueLength(): number {
    return this.rxQueue.length - this.rxHead;
  }

  private slotsNeeded(skb: Skb): number {
    return Math.max(1, Math.ceil(skb.len / PAGE_SIZE)) + (this.gsoFor(skb) !== undefined ? 1 : 0);
  }

  /** The GSO extra to send with `skb`, if the frontend accepts that type. */
  private gsoFor(skb: Skb): SkbGso | undefined {
    const g = skb.gso;
    if (g === undefined) return undefined;
    return (this.vif.gsoMask & (1 << g.type)) !== 0 ? g : undefined;
  }

  /**
   * xenvif_rx_ring_slots_available: enough posted requests for the head packet? If not, ask to be
   * notified at the next request (req_event = prod + 1) and look once more.
   */
  private slotsAvailable(needed: number): boolean | RingError {
    for (;;) {
      const n = this.rx.unconsumedRequests();
      if (typeof n !== "number") return n;
      if (n >= needed) return true;
      this.rx.setRequestEvent(this.rx.reqCons + n + 1);
      const again = this.rx.unconsumedRequests();
      if (typeof again !== "number") return again;
      if (again === n) return false;
    }
  }

  /** xenvif_rx_action: copy queued packets into the guest's buffers, a batch at a time. */
  rxAction(): void {
    if (!this.live) return;
    if (this.vif.disabled) {
      this.purgeRx();
      return;
    }
    let done = 0;
    while (this.rxHead < this.rxQueue.length && done < NETBACK_BUDGET) {
      const skb = this.rxQueue[this.rxHead]!;
      const ok = this.slotsAvailable(this.slotsNeeded(skb));
      if (ok !== true) {
        if (ok !== false) {
          this.vif.fatalTxErr(this, `Impossible number of RX requests. req_prod ${ok.prod}`);
          return;
        }
        break; // the frontend notifies when it posts more (feature-rx-notify)
      }
      this.rxHead++;
      this.rxQueueBytes -= skb.len;
      this.rxOne(skb);
      skb.release();
      done++;
    }
    if (this.rxHead === this.rxQueue.length) {
      this.rxQueue.length = 0;
      this.rxHead = 0;
    } else if (this.rxHead > 1024) {
      this.rxQueue.splice(0, this.rxHead);
      this.rxHead = 0;
    }
    if (done > 0) {
      const notify = this.rx.pushResponsesAndCheckNotify();
      if (notify) this.kernel.events.send(this.rxIrq);
      traceRingIndices(this.kernel, this.actor, this.vif.dev.nodename, `rx-${this.id}`, this.rx);
      if (this.tracing)
        this.trace("netback.rx_push", { packets: done, rsp_prod: this.rx.rspProdPvt, notify });
    }
    if (done === NETBACK_BUDGET && this.rxHead < this.rxQueue.length) this.kickRx();
  }

  /**
   * xenvif_rx_skb: one request per slot, its response written into the same slot (id echoed,
   * offset 0, status = bytes). The GSO extra goes in the slot after the first data slot.
   */
  private rxOne(skb: Skb): void {
    const rx = this.rx;
    const req = this.rxReq;
    const fe = this.vif.dev.otherendId;
    const gso = this.gsoFor(skb);
    const ops = this.ops;
    ops.length = 0;
    // Phase 1: take the requests and plan the copies.
    let remaining = skb.len;
    let pos = 0;
    let slot = 0;
    let extraLeft = gso !== undefined ? 1 : 0;
    const firstCons = rx.reqCons;
    do {
      rx.takeRequest(req);
      this.slotId[slot] = req.getU16(0);
      if (slot !== 0 && extraLeft > 0) {
        this.slotSize[slot] = 0xffff; // marks the extra slot
        extraLeft = 0;
      } else {
        const len = Math.min(PAGE_SIZE, remaining);
        const op = this.op(ops.length);
        op.source.gfn = skb.pages[pos >> 12]!.gfn;
        op.source.domid = DOMID_SELF;
        op.source.offset = 0;
        op.dest.ref = req.getU32(4);
        op.dest.domid = fe;
        op.dest.offset = 0;
        op.len = len;
        op.flags = GNTCOPY_dest_gref;
        this.opSlot[ops.length] = slot;
        ops.push(op);
        this.slotSize[slot] = len;
        this.slotStatus[slot] = len;
        remaining -= len;
        pos += len;
      }
      slot++;
    } while (remaining > 0 || extraLeft > 0);
    // Phase 2: one batched copy (xenvif_rx_copy_flush); a failed element errors its slot.
    const st = this.kernel.gnttab.copy(ops as unknown as GrantCopyOp[]);
    let failed = 0;
    for (let i = 0; i < st.length; i++) {
      if (st[i] !== GNTST_okay) {
        this.slotStatus[this.opSlot[i]!] = NETIF_RSP_ERROR;
        failed = st[i]!;
      }
    }
    // Phase 3: the responses, in the slots the requests came from.
    let left = skb.len;
    for (let s = 0; s < slot; s++) {
      const r = rx.nextResponse()!;
      if (this.slotSize[s] === 0xffff && gso !== undefined) {
        r.setU8(0, XEN_NETIF_EXTRA_TYPE_GSO);
        r.setU8(1, 0);
        r.setU16(2, gso.size);
        r.setU8(4, gso.type);
        r.setU8(5, 0);
        r.setU16(6, 0);
        continue;
      }
      left -= this.slotSize[s]!;
      let flags = left > 0 ? NETRXF_more_data : 0;
      if (s === 0) {
        if (gso !== undefined) flags |= NETRXF_extra_info;
        if (skb.csumBlank) flags |= NETRXF_csum_blank | NETRXF_data_validated;
        else if (skb.dataValidated) flags |= NETRXF_data_validated;
      }
      r.setU16(0, this.slotId[s]!);
      r.setU16(2, 0);
      r.setU16(4, flags);
      r.setU16(6, this.slotStatus[s]! & 0xffff);
    }
    if (this.tracing)
      this.trace("netback.rx_copy", {
        len: skb.len,
        slots: slot,
        first_slot: firstCons & (XEN_NETIF_RX_RING_SIZE - 1),
        req_cons: rx.reqCons,
        status: failed === 0 ? "okay" : `gntst ${failed}`,
      });
    if (failed === 0) {
      this.stats.rxPackets++;
      this.stats.rxBytes += skb.len;
    } else {
      this.stats.rxDropped++;
    }
  }
}
