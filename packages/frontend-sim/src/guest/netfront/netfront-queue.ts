// One netfront queue (struct netfront_queue in drivers/net/xen-netfront.c): a TX and an RX ring
// granted to the backend, one or two event channels, the TX id freelist, the RX buffers by ring
// slot, and the private pools of grant references each direction claims from.
import {
  type FrontRing,
  type Gfn,
  type GrantRef,
  NETIF_RX_RING,
  NETIF_TX_RING,
  type SlotSnapshot,
  type WritablePage,
} from "@xensim/ring";
import type { GrantedRing, XenbusDevice } from "../../xenbus/xenbus-device.ts";
import type { NetfrontDevice } from "./netfront.ts";
import { rxInterrupt } from "./netfront-rx.ts";
import { txInterrupt } from "./netfront-tx.ts";

export const NET_TX_RING_SIZE = 256;
export const NET_RX_RING_SIZE = 256;
/** XEN_NETIF_NR_SLOTS_MIN: slots per packet every backend must accept. */
export const XEN_NETIF_NR_SLOTS_MIN = 18;
/** MAX_XEN_SKB_FRAGS = 65536 / XEN_PAGE_SIZE + 1 */
export const MAX_XEN_SKB_FRAGS = 17;
export const RX_COPY_THRESHOLD = 256;
/** tx_link values: end of the freelist, and "in flight" (set just before the push). */
export const TX_LINK_NONE = 0xffff;
export const TX_PENDING = 0xfffe;
/** netfront_tx_slot_available: the queue stops when this many slots are outstanding. */
export const TX_STOP_THRESHOLD = NET_TX_RING_SIZE - XEN_NETIF_NR_SLOTS_MIN - 1;

export type TxResponseSnapshot = SlotSnapshot<(typeof NETIF_TX_RING)["response"]>;
export type RxResponseSnapshot = SlotSnapshot<(typeof NETIF_RX_RING)["response"]>;

/** Per-queue counters (what `ip -s link` would show per queue). */
export interface NetfrontQueueStats {
  txPackets: number;
  txSlots: number;
  rxPackets: number;
  rxSlots: number;
}

export class NetfrontQueue {
  readonly name: string;
  readonly stats: NetfrontQueueStats = { txPackets: 0, txSlots: 0, rxPackets: 0, rxSlots: 0 };
  /** Rings and ports exist and the backend may be using them. */
  live = false;

  txRing: GrantedRing | null = null;
  rxRing: GrantedRing | null = null;
  tx!: FrontRing<typeof NETIF_TX_RING>;
  rx!: FrontRing<typeof NETIF_RX_RING>;
  /** Event channels; equal when shared (no feature-split-event-channels). 0 = none. */
  txEvtchn = 0;
  rxEvtchn = 0;

  // ---- TX: ids 0..255 index the request's buffer page and grant (Linux tx_skbs/grant_tx_ref).
  readonly txLink = new Uint16Array(NET_TX_RING_SIZE);
  txFreeHead = TX_LINK_NONE;
  readonly txRef = new Int32Array(NET_TX_RING_SIZE).fill(-1);
  readonly txGfn = new Int32Array(NET_TX_RING_SIZE).fill(-1);
  readonly txView: (WritablePage | undefined)[] = new Array(NET_TX_RING_SIZE).fill(undefined);
  /** gref_tx_head: references claimed for TX grants. */
  readonly txRefPool: GrantRef[] = [];
  /** netif_tx_stop_queue / xennet_maybe_wake_tx */
  stopped = false;
  txRspSnap!: TxResponseSnapshot;

  // ---- RX: buffers by ring slot (xennet_rxidx), as Linux's rx_skbs/grant_rx_ref.
  readonly rxRef = new Int32Array(NET_RX_RING_SIZE).fill(-1);
  readonly rxGfn = new Int32Array(NET_RX_RING_SIZE).fill(-1);
  readonly rxView: (WritablePage | undefined)[] = new Array(NET_RX_RING_SIZE).fill(undefined);
  /** Buffer pages not currently posted (the page_pool). */
  /** Free rx buffers; `view` is made on first use (see allocRxBuffers). */
  readonly rxPagePool: { gfn: Gfn; view: WritablePage | undefined }[] = [];
  /** gref_rx_head */
  readonly rxRefPool: GrantRef[] = [];
  rxRspSnap!: RxResponseSnapshot;
  rxExtraSnap!: RxResponseSnapshot;
  // Scratch for one received packet's fragments (no allocation per packet beyond its bytes).
  readonly fragView: (WritablePage | undefined)[] = new Array(XEN_NETIF_NR_SLOTS_MIN + 2).fill(undefined);
  readonly fragGfn = new Int32Array(XEN_NETIF_NR_SLOTS_MIN + 2);
  readonly fragOff = new Uint16Array(XEN_NETIF_NR_SLOTS_MIN + 2);
  readonly fragLen = new Uint16Array(XEN_NETIF_NR_SLOTS_MIN + 2);
  /** The buffer just taken out of a ring slot (xennet_get_rx_skb / xennet_get_rx_ref). */
  curRef = -1;
  curGfn = -1;
  curView: WritablePage | undefined = undefined;
  /** Ids of the packet being sent (for the trace and the pending mark). */
  readonly txIds = new Uint16Array(MAX_XEN_SKB_FRAGS + 1);

  constructor(
    readonly info: NetfrontDevice,
    readonly id: number,
  ) {
    this.name = `${info.dev.nodename}-q${id}`;
  }

  get dev(): XenbusDevice {
    return this.info.dev;
  }

  /**
   * xennet_init_queue: the TX freelist and the grant reference pools (gnttab_alloc_grant_references
   * for 256 TX and 256 RX refs). False if the grant table is exhausted (nothing kept then).
   */
  init(): boolean {
    for (let i = 0; i < NET_TX_RING_SIZE; i++)
      this.txLink[i] = i + 1 < NET_TX_RING_SIZE ? i + 1 : TX_LINK_NONE;
    this.txFreeHead = 0;
    const gt = this.dev.kernel.grantTable;
    for (let i = 0; i < NET_TX_RING_SIZE + NET_RX_RING_SIZE; i++) {
      const ref = gt.allocRef();
      if (typeof ref !== "number") {
        this.freePools();
        return false;
      }
      (i < NET_TX_RING_SIZE ? this.txRefPool : this.rxRefPool).push(ref);
    }
    return true;
  }

  /**
   * setup_netfront: grant one TX and one RX ring page (front-initialised), then event channels —
   * two when the backend offers split channels (falling back to one if that fails), else one.
   * Failures have already been reported fatally by the xenbus helpers.
   */
  async setup(split: boolean): Promise<boolean> {
    const dev = this.dev;
    this.txRing = await dev.setupRing(1);
    if (this.txRing === null) return false;
    this.tx = dev.initFrontRing(this.txRing.pages, NETIF_TX_RING);
    this.txRspSnap = this.tx.responseSnapshot();
    this.rxRing = await dev.setupRing(1);
    if (this.rxRing === null) return false;
    this.rx = dev.initFrontRing(this.rxRing.pages, NETIF_RX_RING);
    this.rxRspSnap = this.rx.responseSnapshot();
    this.rxExtraSnap = this.rx.responseSnapshot();
    let ok = false;
    if (split) ok = await this.setupSplit();
    if (!ok) ok = await this.setupSingle();
    if (!ok) return false;
    this.live = true;
    return true;
  }

  /** setup_netfront_single: one port for both directions (xennet_interrupt). */
  private async setupSingle(): Promise<boolean> {
    const port = await this.dev.allocEvtchn();
    if (port === null) return false;
    this.txEvtchn = this.rxEvtchn = port;
    this.dev.kernel.events.bindHandler(
      port,
      () => {
        txInterrupt(this);
        rxInterrupt(this);
      },
      { label: `${this.name}` },
    );
    return true;
  }

  /** setup_netfront_split: `<name>-tx` and `<name>-rx` ports. */
  private async setupSplit(): Promise<boolean> {
    const tx = await this.dev.allocEvtchn();
    if (tx === null) return false;
    const rx = await this.dev.allocEvtchn();
    if (rx === null) {
      this.dev.kernel.events.close(tx);
      return false;
    }
    this.txEvtchn = tx;
    this.rxEvtchn = rx;
    const ev = this.dev.kernel.events;
    ev.bindHandler(tx, () => txInterrupt(this), { label: `${this.name}-tx` });
    ev.bindHandler(rx, () => rxInterrupt(this), { label: `${this.name}-rx` });
    return true;
  }

  /** notify_remote_via_irq */
  notifyTx(): void {
    if (this.txEvtchn !== 0) this.dev.kernel.events.send(this.txEvtchn);
  }

  notifyRx(): void {
    if (this.rxEvtchn !== 0) this.dev.kernel.events.send(this.rxEvtchn);
  }

  /**
   * The queue's part of xennet_disconnect_backend: unbind and close the ports, release the TX and
   * RX buffers and the ring pages. Grants the backend still holds are revoked later by the grant
   * table (gnttab_end_foreign_access defers them), and their pages are freed only then.
   */
  disconnect(): void {
    this.live = false;
    const dev = this.dev;
    const ev = dev.kernel.events;
    const gt = dev.kernel.grantTable;
    const mem = dev.kernel.memory;
    for (const port of new Set([this.txEvtchn, this.rxEvtchn])) {
      if (port === 0) continue;
      ev.unbindHandler(port);
      const r = ev.close(port);
      if (!r.ok) void dev.devError(r.errno, `freeing event channel ${port}`);
    }
    this.txEvtchn = this.rxEvtchn = 0;
    // xennet_release_tx_bufs
    for (let id = 0; id < NET_TX_RING_SIZE; id++) {
      const ref = this.txRef[id]!;
      const gfn = this.txGfn[id]!;
      if (ref >= 0) gt.endForeignAccess(ref, gfn as Gfn);
      else if (gfn >= 0) mem.release(gfn as Gfn);
      this.txRef[id] = -1;
      this.txGfn[id] = -1;
      this.txView[id] = undefined;
      this.txLink[id] = id + 1 < NET_TX_RING_SIZE ? id + 1 : TX_LINK_NONE;
    }
    this.txFreeHead = 0;
    // xennet_release_rx_bufs
    for (let i = 0; i < NET_RX_RING_SIZE; i++) {
      const ref = this.rxRef[i]!;
      const gfn = this.rxGfn[i]!;
      if (ref >= 0) gt.endForeignAccess(ref, gfn as Gfn);
      else if (gfn >= 0) mem.release(gfn as Gfn);
      this.rxRef[i] = -1;
      this.rxGfn[i] = -1;
      this.rxView[i] = undefined;
    }
    for (const p of this.rxPagePool.splice(0)) mem.release(p.gfn);
    // xennet_end_access on both ring pages
    if (this.txRing !== null) dev.releaseRing(this.txRing);
    if (this.rxRing !== null) dev.releaseRing(this.rxRing);
    this.txRing = this.rxRing = null;
  }

  /** gnttab_free_grant_references of both pools (xennet_destroy_queues). */
  freePools(): void {
    const gt = this.dev.kernel.grantTable;
    for (const r of this.txRefPool.splice(0)) gt.freeRef(r);
    for (const r of this.rxRefPool.splice(0)) gt.freeRef(r);
  }

  /** get_id_from_list */
  takeTxId(): number {
    const id = this.txFreeHead;
    if (id !== TX_LINK_NONE) {
      this.txFreeHead = this.txLink[id]!;
      this.txLink[id] = TX_LINK_NONE;
    }
    return id;
  }

  /** add_id_to_list */
  putTxId(id: number): void {
    this.txLink[id] = this.txFreeHead;
    this.txFreeHead = id;
  }

  /** The TX buffer page of an id (allocated once, kept while the queue lives). */
  txPage(id: number): WritablePage | undefined {
    let v = this.txView[id];
    if (v === undefined) {
      const mem = this.dev.kernel.memory;
      const g = mem.allocate();
      if (typeof g !== "number") return undefined;
      v = mem.page(g as Gfn);
      this.txGfn[id] = g;
      this.txView[id] = v;
    }
    return v;
  }

  /** netfront_tx_slot_available */
  txSlotAvailable(): boolean {
    return (this.tx.reqProdPvt - this.tx.rspCons) >>> 0 < TX_STOP_THRESHOLD;
  }
}
