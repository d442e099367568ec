// blkfront: the guest's block frontend, mirroring Linux drivers/block/xen-blkfront.c — probe,
// blkback_changed, talk_to_blkback, blkfront_connect, blkif_queue_request, blkif_interrupt,
// blkif_completion, blkif_free, blkfront_resume/blkif_recover, blkfront_closing, blkfront_remove.
// Data is always carried in pages this driver allocates and grants (the "bounce" path): the
// simulated block layer's buffers are not guest pages.

import type {
  FrontRing,
  Gfn,
  GrantRef,
  RingError,
  SlotSnapshot,
  StructLayout,
  WritablePage,
} from "@xensim/ring";
import { scheduleDeferredRetry } from "../../xenbus/deferred-grants.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import { type Kernel, ktrace } from "../../xenbus/kernel.ts";
import { traceRingIndices } from "../../xenbus/ring-trace.ts";
import type { GrantedRing, XenbusDevice } from "../../xenbus/xenbus-device.ts";
import { XenbusState as S, type XenbusState, xenbusStateName } from "../../xenbus/xenbus-state.ts";
import { isExistErr } from "../xenbus/xenbus-error.ts";
import { parseUnsigned, XBT_NIL } from "../xenbus/xs-client.ts";
import {
  BLKIF_ABI_X86_32,
  BLKIF_ABI_X86_64,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  type BlkifAbi,
  type BlkifProtocolName,
  blkifOpName,
  getU64n,
  SECTORS_PER_PAGE,
  SEG_SIZE,
  SEGS_PER_INDIRECT_FRAME,
  setU64n,
  VDISK_CDROM,
  VDISK_READONLY,
  VDISK_REMOVABLE,
  vdevName,
} from "./blkif-abi.ts";
import {
  type BlockConnState,
  type BlockDevice,
  type BlockErrno,
  type BlockFeatures,
  BlockIoError,
  type BlockStats,
} from "./block-io.ts";

/**
 * How the frontend behaves around the handshake (peer profiles, hostile-peers D15):
 * - `linux`: xen-blkfront exactly.
 * - `windows`: before its first connection it runs a close cycle — Closing → Closed →
 *   Initialising — as the Windows PV drivers do to clear state a previous driver left
 *   (win-xenvif#36), then connects normally.
 * - `closed`: jumps straight to Closed at its first backend event and stays there.
 */
export type FrontendProfile = "linux" | "windows" | "closed";

export interface BlkfrontOptions {
  /** Module parameter max_queues (Linux 4, capped by vCPUs: the simulated guest has one). */
  readonly maxQueues?: number;
  /** Module parameter max_ring_page_order (Linux default 0, at most 4). */
  readonly maxRingPageOrder?: number;
  /** Module parameter max_indirect_segments (Linux 32). */
  readonly maxIndirectSegments?: number;
  /** Module parameter feature_persistent (default on). */
  readonly persistent?: boolean;
  /** Module parameter trusted (default on); off ⇒ bounce buffers for every backend. */
  readonly trusted?: boolean;
  /** The ring ABI this guest speaks (its native one): default x86_64. */
  readonly protocol?: BlkifProtocolName;
  /**
   * After the backend closes (or on `reconnect()`), go Closed → Initialising and reconnect,
   * re-issuing requests that were in flight (Mini-OS/Windows behaviour; Linux fronts stay
   * Closed — hostile-peers D8). Default false.
   */
  readonly reconnect?: boolean;
  /** Profile for every device, or per device by nodename. Default `linux`. */
  readonly profile?: FrontendProfile | ((nodename: string) => FrontendProfile);
}

interface Grant {
  ref: GrantRef;
  gfn: Gfn;
  page: WritablePage;
}

type OpKind = "read" | "write" | "flush" | "discard";

/** One block-layer request from the public API; split into parts that each fit one blkif request. */
interface IoOp {
  readonly kind: OpKind;
  readonly buf: Uint8Array;
  readonly queue: number;
  remaining: number;
  error: BlockIoError | null;
  resolve(): void;
  reject(e: BlockIoError): void;
}

interface Part {
  readonly op: IoOp;
  readonly seq: number;
  /** BLKIF_OP_READ/WRITE/FLUSH_DISKCACHE/WRITE_BARRIER/DISCARD */
  blk: number;
  sector: number;
  nsect: number;
  /** Byte offset of this part's data in op.buf. */
  bufOffset: number;
}

/** struct blk_shadow: what one ring slot id is doing. */
interface Shadow {
  part: Part | null;
  wireOp: number;
  indirectOp: number;
  nsegs: number;
  data: Grant[];
  firsts: number[];
  counts: number[];
  indirect: Grant[];
  nextFree: number;
}

const SHADOW_END = 0x0fffffff;

/**
 * Reconnect mode: handshakes that may fail in a row (our own talk_to_blkback/connect failing,
 * never having reached Connected) before the frontend gives up, and the first backoff before
 * retrying (doubled each time, on virtual time).
 *
 * Real drivers never spin on a handshake that fails for good. Linux xen-blkfront does not retry
 * at all: talk_to_blkback's failure is xenbus_dev_fatal → Closing, and blkback_changed's Closed
 * case is blkfront_closing → Closed for good (the toolstack must unplug/replug). Mini-OS
 * init_blkfront's `error:` path frees the device and returns NULL to its caller. Windows XENVBD
 * (win-xenvbd frontend.c, FrontendSetState) fails the state transition back to its caller (the
 * target stays unusable until the next PnP start), it does not loop. The simulated reconnect
 * mode keeps its Mini-OS/Windows-style recovery after a backend restart of an *established*
 * connection, but bounds consecutive failed handshakes and backs off between them; after the
 * last one it leaves an error node and stays Closed as Linux does.
 */
export const BLKFRONT_MAX_HANDSHAKE_RETRIES = 3;
export const BLKFRONT_RETRY_BACKOFF_NS = 1_000_000_000;

/** struct blkfront_ring_info */
export interface RingInfo {
  readonly index: number;
  readonly granted: GrantedRing;
  readonly front: FrontRing;
  readonly snap: SlotSnapshot<StructLayout>;
  readonly port: number;
  readonly shadow: Shadow[];
  freeHead: number;
  inflight: number;
  /** Persistent grants not in use, reused LIFO (rinfo->grants). */
  readonly pool: Grant[];
  /** Every persistent grant this ring owns (pool + in use). */
  persistentCount: number;
}

const DEFAULT_FEATURES: BlockFeatures = {
  flush: false,
  barrier: false,
  discard: false,
  discardGranularity: 0,
  discardAlignment: 0,
  discardSecure: false,
  persistent: false,
  indirectSegments: 0,
  bounce: true,
  queues: 1,
  ringPages: 1,
};

function emptyStats(): BlockStats {
  return {
    submitted: 0,
    completed: 0,
    errors: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    discards: 0,
    indirect: 0,
    bytesRead: 0,
    bytesWritten: 0,
    requeued: 0,
    ringFull: 0,
    persistentHits: 0,
    spurious: 0,
  };
}

/**
 * One vbd (struct blkfront_info) and the disk it exports. Handshake methods run from watch
 * callbacks (serially, on the guest's xenwatch actor); the data path runs from callers of the
 * BlockDevice methods and from the event-channel upcall.
 */
export class BlkfrontDevice implements BlockDevice {
  readonly name: string;
  readonly handle: number;
  /** BLKIF_STATE_* */
  conn: "disconnected" | "connected" | "suspended" | "error" = "disconnected";
  /** blk_mark_disk_dead: no more requests (closing or removed). */
  dead = false;
  /** The vCPU is paused for suspend (xen_irq_suspend masked our ports): nothing is issued. */
  frozen = false;
  sectors = 0;
  sectorSize = 512;
  physicalSectorSize = 512;
  info = 0;
  features: BlockFeatures = DEFAULT_FEATURES;
  readonly stats: BlockStats = emptyStats();
  rings: RingInfo[] = [];
  /** Negotiated at talk_to_blkback. */
  private order = 0;
  private bounceForced = false;
  private readonly queue: Part[] = [];
  private nextSeq = 0;
  private nextQueue = 0;
  private readonly abi: BlkifAbi;
  /** Going round Closing → Closed → Initialising to reconnect (close cycle, backend restart, reconnect()). */
  private reconnecting = false;
  /** Windows profile: the initial close cycle is done. */
  private cycled = false;
  /** Reconnect mode: our handshakes that failed since the last connection (reset on Connected). */
  failedHandshakes = 0;
  /** Reconnect mode: a backoff timer before going Initialising again is armed. */
  private retryArmed = false;
  /** Reconnect mode: went Initialising again and has not connected since. */
  private restarted = false;
  /** failedHandshakes when the handshake was last restarted. */
  private failedAtRestart = 0;
  private readonly connectWaiters: (() => void)[] = [];
  private readonly closeWaiters: ((e: BlockIoError) => void)[] = [];

  constructor(
    readonly dev: XenbusDevice,
    readonly options: Required<Omit<BlkfrontOptions, "profile">>,
    readonly profile: FrontendProfile,
    vdevice: number,
  ) {
    this.name = vdevName(vdevice);
    this.handle = Number.parseInt(dev.nodename.slice(dev.nodename.lastIndexOf("/") + 1), 10);
    this.abi = options.protocol === "x86_32-abi" ? BLKIF_ABI_X86_32 : BLKIF_ABI_X86_64;
  }

  get nodename(): string {
    return this.dev.nodename;
  }

  private get k(): Kernel {
    return this.dev.kernel;
  }

  get state(): BlockConnState {
    return this.dead ? "closed" : this.conn;
  }

  get readOnly(): boolean {
    return (this.info & VDISK_READONLY) !== 0;
  }
  get removable(): boolean {
    return (this.info & VDISK_REMOVABLE) !== 0;
  }
  get cdrom(): boolean {
    return (this.info & VDISK_CDROM) !== 0;
  }

  private trace(kind: string, details: Record<string, string | number | boolean | undefined>): void {
    if (this.k.sched.trace.enabled) ktrace(this.k, kind, { dev: this.dev.nodename, ...details });
  }

  // ------------------------------------------------------------------------------------------
  // Public block-device surface

  /** Resolves once the device is Connected (now, or after the handshake/reconnection). */
  whenConnected(): Promise<this> {
    if (this.conn === "connected" && !this.dead) return Promise.resolve(this);
    if (this.dead || this.conn === "error")
      return Promise.reject(new BlockIoError("ENXIO", `${this.name} is gone`));
    return new Promise((resolve, reject) => {
      this.connectWaiters.push(() => resolve(this));
      this.closeWaiters.push(reject);
    });
  }

  read(sector: number, count: number): Promise<Uint8Array> {
    const buf = new Uint8Array(count * 512);
    return this.submit("read", sector, count, buf).then(() => buf);
  }

  write(sector: number, data: Uint8Array): Promise<void> {
    if (data.length % 512 !== 0)
      return Promise.reject(new BlockIoError("EINVAL", "write length is not whole sectors"));
    if (this.conn === "connected" && this.readOnly)
      return Promise.reject(new BlockIoError("EROFS", `${this.name} is read-only`));
    return this.submit("write", sector, data.length / 512, data);
  }

  flush(): Promise<void> {
    return this.submit("flush", 0, 0, new Uint8Array(0));
  }

  discard(sector: number, count: number): Promise<void> {
    return this.submit("discard", sector, count, new Uint8Array(0));
  }

  /**
   * Frontend-initiated reconnect: Closing → (backend Closing) → Closed → (backend Closed) →
   * Initialising → the normal handshake; requests in flight are re-issued afterwards.
   */
  async reconnect(): Promise<void> {
    if (this.dead || this.conn !== "connected") throw new BlockIoError("ENXIO", "not connected");
    const done = this.whenConnected();
    this.reconnecting = true;
    this.trace("blkfront.reconnect", { why: "requested" });
    this.quiesce();
    await this.dev.switchState(S.Closing);
    await done;
  }

  private submit(kind: OpKind, sector: number, count: number, buf: Uint8Array): Promise<void> {
    if (this.dead) return Promise.reject(new BlockIoError("ENXIO", `${this.name} is gone`));
    if (this.conn === "error") return Promise.reject(new BlockIoError("EIO", `${this.name} is broken`));
    const unit = this.sectorSize / 512;
    if (kind === "read" || kind === "write" || kind === "discard") {
      if (!Number.isSafeInteger(sector) || !Number.isSafeInteger(count) || sector < 0 || count <= 0) {
        return Promise.reject(new BlockIoError("EINVAL", `bad range ${sector}+${count}`));
      }
      if (sector % unit !== 0 || count % unit !== 0) {
        return Promise.reject(new BlockIoError("EINVAL", `not aligned to ${this.sectorSize}-byte sectors`));
      }
      if (this.conn === "connected" && sector + count > this.sectors) {
        return Promise.reject(new BlockIoError("EIO", `beyond end of device (${this.sectors} sectors)`));
      }
    }
    if (kind === "discard" && this.conn === "connected" && !this.features.discard) {
      return Promise.reject(new BlockIoError("EOPNOTSUPP", "discard not supported"));
    }
    if (kind === "flush" && this.conn === "connected" && !this.features.flush && !this.features.barrier) {
      return Promise.resolve(); // no volatile cache: nothing to flush
    }
    return new Promise<void>((resolve, reject) => {
      const op: IoOp = {
        kind,
        buf,
        queue: this.nextQueue++,
        remaining: 1,
        error: null,
        resolve,
        reject,
      };
      const blk =
        kind === "read"
          ? BLKIF_OP_READ
          : kind === "write"
            ? BLKIF_OP_WRITE
            : kind === "discard"
              ? BLKIF_OP_DISCARD
              : BLKIF_OP_FLUSH_DISKCACHE;
      this.queue.push({ op, seq: this.nextSeq++, blk, sector, nsect: count, bufOffset: 0 });
      this.kick();
    });
  }

  private finishPart(part: Part, err: BlockIoError | null): void {
    const op = part.op;
    if (err !== null && op.error === null) op.error = err;
    if (--op.remaining > 0) return;
    if (op.error !== null) op.reject(op.error);
    else op.resolve();
  }

  // ------------------------------------------------------------------------------------------
  // Submission: blkif_queue_rq / blkif_queue_request

  /** Issues queued parts on rings with room, then pushes and notifies (kick_pending_request_queues). */
  kick(): void {
    if (this.conn !== "connected" || this.frozen || this.dead || this.rings.length === 0) return;
    const n = this.rings.length;
    let pushed = 0;
    for (let i = 0; i < this.queue.length; ) {
      const part = this.queue[i]!;
      const r = this.rings[part.op.queue % n]!;
      if (r.freeHead === SHADOW_END || r.front.isFull) {
        this.stats.ringFull++;
        i++;
        continue;
      }
      const limit = this.maxSectors(part.sector);
      if ((part.blk === BLKIF_OP_READ || part.blk === BLKIF_OP_WRITE) && part.nsect > limit) {
        // Split to what one request can carry (the block layer's max_hw_sectors / max_segments).
        const tail: Part = {
          op: part.op,
          seq: part.seq,
          blk: part.blk,
          sector: part.sector + limit,
          nsect: part.nsect - limit,
          bufOffset: part.bufOffset + limit * 512,
        };
        part.nsect = limit;
        part.op.remaining++;
        this.queue.splice(i + 1, 0, tail);
      }
      this.queue.splice(i, 1);
      if (part.blk === BLKIF_OP_FLUSH_DISKCACHE && !this.features.flush && this.features.barrier) {
        part.blk = BLKIF_OP_WRITE_BARRIER;
      }
      if (this.issue(r, part)) pushed |= 1 << r.index;
    }
    for (const r of this.rings) {
      if ((pushed & (1 << r.index)) === 0) continue;
      const notify = r.front.pushRequestsAndCheckNotify();
      traceRingIndices(this.k, this.k.actor, this.dev.nodename, `ring-${r.index}`, r.front);
      if (this.k.sched.trace.enabled) {
        this.trace("blkfront.push", { ring: r.index, req_prod: r.front.reqProdPvt, notify });
      }
      if (notify) this.k.events.send(r.port);
    }
  }

  /** Sectors one request starting at `sector` can carry: segments × 8, minus the first page's offset. */
  private maxSectors(sector: number): number {
    const segs = Math.max(this.features.indirectSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
    return segs * SECTORS_PER_PAGE - (sector % SECTORS_PER_PAGE);
  }

  /** A data or indirect page: from the persistent pool, or freshly allocated and granted. */
  private getGrant(r: RingInfo): Grant | null {
    if (this.features.persistent) {
      const g = r.pool.pop();
      if (g !== undefined) {
        this.stats.persistentHits++;
        return g;
      }
    }
    const mem = this.k.memory;
    const gfn = mem.allocate();
    if (typeof gfn !== "number") return null;
    // Modern blkfront grants every page read-write, whatever the direction [blkif.h].
    const ref = this.k.grantTable.grantForeignAccess(this.dev.otherendId, gfn as Gfn, false);
    if (typeof ref !== "number") {
      mem.release(gfn as Gfn);
      return null;
    }
    if (this.features.persistent) r.persistentCount++;
    return { ref, gfn: gfn as Gfn, page: mem.page(gfn as Gfn) };
  }

  /** gnttab_end_foreign_access(ref, page): revoke and free now, or defer while still mapped. */
  private endGrant(g: Grant): boolean {
    return this.k.grantTable.endForeignAccess(g.ref, g.gfn) === "revoked";
  }

  private releaseGrants(r: RingInfo, gs: Grant[]): void {
    if (this.features.persistent) {
      for (const g of gs) r.pool.push(g);
      return;
    }
    for (const g of gs) this.endGrant(g);
  }

  /** blkif_queue_request: one part → one ring slot. False if nothing was produced. */
  private issue(r: RingInfo, part: Part): boolean {
    const id = r.freeHead;
    const sh = r.shadow[id]!;
    const abi = this.abi;
    sh.data.length = 0;
    sh.indirect.length = 0;
    sh.firsts.length = 0;
    sh.counts.length = 0;
    sh.nsegs = 0;
    sh.indirectOp = 0;
    let wireOp = part.blk;
    let nsegs = 0;
    if (part.blk === BLKIF_OP_READ || part.blk === BLKIF_OP_WRITE) {
      // Lay the data out in pages as the page cache would: the first segment starts at the
      // request's offset within a 4 KiB page.
      let s = part.sector % SECTORS_PER_PAGE;
      let left = part.nsect;
      let off = part.bufOffset;
      while (left > 0) {
        const n = Math.min(SECTORS_PER_PAGE - s, left);
        const g = this.getGrant(r);
        if (g === null) {
          this.releaseGrants(r, sh.data);
          sh.data.length = 0;
          this.finishPart(part, new BlockIoError("ENOMEM", "no grant or page for a segment"));
          return false;
        }
        if (part.blk === BLKIF_OP_WRITE) g.page.copyIn(s * 512, part.op.buf, off, n * 512);
        sh.data.push(g);
        sh.firsts.push(s);
        sh.counts.push(n);
        off += n * 512;
        left -= n;
        s = 0;
      }
      nsegs = sh.data.length;
      if (nsegs > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        wireOp = BLKIF_OP_INDIRECT;
        const pages = Math.ceil(nsegs / SEGS_PER_INDIRECT_FRAME);
        for (let p = 0; p < pages; p++) {
          const g = this.getGrant(r);
          if (g === null) {
            this.releaseGrants(r, sh.data);
            this.releaseGrants(r, sh.indirect);
            sh.data.length = 0;
            sh.indirect.length = 0;
            this.finishPart(part, new BlockIoError("ENOMEM", "no grant for an indirect page"));
            return false;
          }
          sh.indirect.push(g);
        }
        for (let i = 0; i < nsegs; i++) {
          const page = sh.indirect[Math.floor(i / SEGS_PER_INDIRECT_FRAME)]!.page;
          const at = (i % SEGS_PER_INDIRECT_FRAME) * SEG_SIZE;
          page.setU32(at, sh.data[i]!.ref);
          page.setU8(at + 4, sh.firsts[i]!);
          page.setU8(at + 5, sh.firsts[i]! + sh.counts[i]! - 1);
          page.setU16(at + 6, 0);
        }
      }
    }
    const w = r.front.nextRequest();
    if (w === undefined) {
      // Cannot happen: the caller checked for room. Put the part back.
      this.releaseGrants(r, sh.data);
      this.releaseGrants(r, sh.indirect);
      this.queue.unshift(part);
      return false;
    }
    r.freeHead = sh.nextFree;
    sh.nextFree = SHADOW_END;
    sh.part = part;
    sh.wireOp = wireOp;
    sh.nsegs = nsegs;
    r.inflight++;
    w.setU8(abi.op, wireOp);
    if (wireOp === BLKIF_OP_INDIRECT) {
      sh.indirectOp = part.blk;
      w.setU8(abi.indOp, part.blk);
      w.setU16(abi.indNrSegments, nsegs);
      setU64n(w, abi.id, id);
      setU64n(w, abi.sector, part.sector);
      w.setU16(abi.indHandle, this.handle);
      for (let p = 0; p < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; p++) {
        w.setU32(abi.indGrefs + 4 * p, p < sh.indirect.length ? sh.indirect[p]!.ref : 0);
      }
      this.stats.indirect++;
    } else if (wireOp === BLKIF_OP_DISCARD) {
      w.setU8(abi.discardFlag, 0);
      w.setU16(abi.handle, this.handle);
      setU64n(w, abi.id, id);
      setU64n(w, abi.sector, part.sector);
      setU64n(w, abi.discardNrSectors, part.nsect);
    } else {
      w.setU8(abi.nrSegments, nsegs);
      w.setU16(abi.handle, this.handle);
      setU64n(w, abi.id, id);
      setU64n(w, abi.sector, wireOp === BLKIF_OP_READ || wireOp === BLKIF_OP_WRITE ? part.sector : 0);
      for (let i = 0; i < nsegs; i++) {
        const at = abi.seg0 + i * SEG_SIZE;
        w.setU32(at, sh.data[i]!.ref);
        w.setU8(at + 4, sh.firsts[i]!);
        w.setU8(at + 5, sh.firsts[i]! + sh.counts[i]! - 1);
      }
    }
    this.stats.submitted++;
    if (part.blk === BLKIF_OP_READ) this.stats.reads++;
    else if (part.blk === BLKIF_OP_WRITE) this.stats.writes++;
    else if (part.blk === BLKIF_OP_DISCARD) this.stats.discards++;
    else this.stats.flushes++;
    if (this.k.sched.trace.enabled)
      this.trace("blkfront.submit", {
        ring: r.index,
        id,
        op: blkifOpName(part.blk),
        indirect: wireOp === BLKIF_OP_INDIRECT,
        sector: part.sector,
        nsect: part.nsect,
        nsegs,
      });
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Completion: blkif_interrupt / blkif_completion

  /** The event-channel handler of ring `r` (runs in the guest's upcall; never throws). */
  private interrupt(r: RingInfo): void {
    if (this.conn !== "connected" || this.frozen || this.rings[r.index] !== r) {
      this.stats.spurious++; // xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS)
      return;
    }
    const front = r.front;
    const snap = r.snap;
    const abi = this.abi;
    for (;;) {
      const n: number | RingError = front.unconsumedResponses();
      if (typeof n !== "number") {
        this.broken(r, `illegal number of responses (${n.kind})`);
        return;
      }
      while (front.takeResponse(snap)) {
        const id = getU64n(snap, abi.rspId);
        if (id >= front.size) {
          this.broken(r, `response has incorrect id (${id})`);
          return;
        }
        const sh = r.shadow[id]!;
        const part = sh.part;
        if (part === null) {
          this.broken(r, "response references no pending request");
          return;
        }
        const expected = sh.wireOp === BLKIF_OP_INDIRECT ? sh.indirectOp : sh.wireOp;
        const op = snap.getU8(abi.rspOp);
        if (op !== expected) {
          this.broken(r, `response has wrong operation (${op} instead of ${expected})`);
          return;
        }
        const status = snap.getI16(abi.rspStatus);
        if (!this.completion(r, sh, status)) {
          this.broken(r, `backed has not unmapped grant`);
          return;
        }
        // add_id_to_freelist
        sh.part = null;
        sh.nextFree = r.freeHead;
        r.freeHead = id;
        r.inflight--;
        this.stats.completed++;
        if (this.k.sched.trace.enabled)
          this.trace("blkfront.response", { ring: r.index, id, op: blkifOpName(op), status });
        this.endRequest(part, status, sh.nsegs);
      }
      if (front.rspCons !== front.reqProdPvt) {
        const more = front.finalCheckForResponses();
        if (typeof more !== "number") {
          this.broken(r, `illegal number of responses (${more.kind})`);
          return;
        }
        if (more > 0) continue;
      } else {
        front.setResponseEvent(front.rspCons + 1);
      }
      break;
    }
    this.kick();
  }

  /** blkif_completion: copy read data out, give grants back (or revoke them). False on a violation. */
  private completion(r: RingInfo, sh: Shadow, status: number): boolean {
    const part = sh.part!;
    if (part.blk === BLKIF_OP_READ && status === BLKIF_RSP_OKAY) {
      let off = part.bufOffset;
      for (let i = 0; i < sh.data.length; i++) {
        const n = sh.counts[i]! * 512;
        sh.data[i]!.page.copyOut(sh.firsts[i]! * 512, part.op.buf, off, n);
        off += n;
      }
    }
    if (this.features.persistent) {
      for (const g of sh.data) r.pool.push(g);
      for (const g of sh.indirect) r.pool.push(g);
      sh.data.length = 0;
      sh.indirect.length = 0;
      return true;
    }
    // Not persistent: the backend must have unmapped every grant by the time it responded.
    const gt = this.k.grantTable;
    let ok = true;
    for (const list of [sh.data, sh.indirect]) {
      for (const g of list) {
        if (gt.endForeignAccessRef(g.ref)) {
          gt.freeRef(g.ref);
          this.k.memory.release(g.gfn);
        } else {
          ok = false;
          this.trace("blkfront.grant_still_mapped", { ref: g.ref });
          gt.endForeignAccess(g.ref, g.gfn); // deferred: the page is never reused while mapped
        }
      }
      list.length = 0;
    }
    if (!ok) scheduleDeferredRetry(this.k);
    return ok;
  }

  /** Status → block-layer result (blkif_interrupt's switch on bret.operation). */
  private endRequest(part: Part, status: number, nsegs: number): void {
    if (status === BLKIF_RSP_OKAY) {
      if (part.blk === BLKIF_OP_READ) this.stats.bytesRead += part.nsect * 512;
      else if (part.blk === BLKIF_OP_WRITE) this.stats.bytesWritten += part.nsect * 512;
      this.finishPart(part, null);
      return;
    }
    this.stats.errors++;
    if (part.blk === BLKIF_OP_DISCARD && status === BLKIF_RSP_EOPNOTSUPP) {
      this.trace("blkfront.feature_off", { feature: "discard" });
      this.features = { ...this.features, discard: false, discardSecure: false };
      this.finishPart(part, new BlockIoError("EOPNOTSUPP", "discard not supported by the backend"));
      return;
    }
    if (
      (part.blk === BLKIF_OP_FLUSH_DISKCACHE || part.blk === BLKIF_OP_WRITE_BARRIER) &&
      (status === BLKIF_RSP_EOPNOTSUPP || (status === BLKIF_RSP_ERROR && nsegs === 0))
    ) {
      this.trace("blkfront.feature_off", { feature: blkifOpName(part.blk) });
      this.features = { ...this.features, flush: false, barrier: false };
      this.finishPart(part, null);
      return;
    }
    const errno: BlockErrno = status === BLKIF_RSP_EOPNOTSUPP ? "EOPNOTSUPP" : "EIO";
    this.finishPart(part, new BlockIoError(errno, `${blkifOpName(part.blk)} failed with status ${status}`));
  }

  /**
   * A protocol violation by the backend: BLKIF_STATE_ERROR, no EOI (the port stays masked),
   * "%s disabled for further use". Requests fail; their pages stay granted until revocable.
   */
  private broken(r: RingInfo, why: string): void {
    this.conn = "error";
    this.k.events.mask(r.port);
    this.trace("blkfront.broken", { ring: r.index, why });
    void this.dev.devError("EIO", `${why}: ${this.name} disabled for further use`).catch(() => undefined);
    const err = new BlockIoError("EIO", `${this.name} disabled for further use`);
    for (const ring of this.rings) {
      for (const sh of ring.shadow) {
        if (sh.part === null) continue;
        const part = sh.part;
        sh.part = null;
        for (const g of [...sh.data, ...sh.indirect]) this.endGrant(g);
        sh.data.length = 0;
        sh.indirect.length = 0;
        this.finishPart(part, err);
      }
    }
    for (const part of this.queue.splice(0)) this.finishPart(part, err);
    for (const rej of this.closeWaiters.splice(0)) rej(err);
    this.connectWaiters.length = 0;
    scheduleDeferredRetry(this.k);
  }

  // ------------------------------------------------------------------------------------------
  // Handshake

  /** blkback_changed */
  async backendChanged(be: XenbusState): Promise<void> {
    const dev = this.dev;
    if (this.profile === "closed") {
      // A frontend that jumps straight to Closed (hostile-peers D15) and stays there.
      if (be !== S.Unknown && dev.state !== S.Closed) {
        this.trace("blkfront.profile", { profile: "closed", action: "straight to Closed" });
        await dev.switchState(S.Closed);
      }
      return;
    }
    if (this.profile === "windows" && !this.cycled && dev.state === S.Initialising) {
      if (be === S.InitWait || be === S.Connected) {
        // Windows PV drivers: Closing → Closed → Initialising before the first connection.
        this.trace("blkfront.profile", { profile: "windows", action: "close cycle" });
        this.reconnecting = true;
        await dev.switchState(S.Closing);
        return;
      }
    }
    switch (be) {
      case S.InitWait:
        if (dev.state !== S.Initialising) return;
        await this.talkToBlkback();
        return;
      case S.Initialising:
      case S.Initialised:
      case S.Reconfiguring:
      case S.Reconfigured:
      case S.Unknown:
        return;
      case S.Connected:
        if (this.reconnecting) return; // on our way round; the backend will follow
        if (dev.state !== S.Initialised && dev.state !== S.Connected) {
          // The backend skipped InitWait (or we missed it): do that work now.
          if (!(await this.talkToBlkback())) return;
        }
        await this.connect();
        return;
      case S.Closed:
        if (dev.state === S.Closed) {
          if (this.reconnecting) await this.restartHandshake();
          return;
        }
        await this.closing(be);
        if (this.reconnecting && (dev.state as XenbusState) === S.Closed) await this.restartHandshake();
        return;
      case S.Closing:
        await this.closing(be);
        return;
    }
  }

  /** blkfront_closing, or — when reconnecting — quiesce and go Closed while the backend tears down. */
  private async closing(be: XenbusState): Promise<void> {
    const dev = this.dev;
    if (this.options.reconnect && this.failedHandshakes > BLKFRONT_MAX_HANDSHAKE_RETRIES && !this.dead) {
      await this.giveUp();
      return;
    }
    if (this.reconnecting || (this.options.reconnect && !this.dead)) {
      if (!this.reconnecting) {
        // A restarted handshake closed again before it connected (and nothing counted it yet):
        // a failed one, so the next restart backs off. Without this a backend still Closed from the last round (its
        // answer to our Initialising not yet committed) sent us round again at once, and the
        // two ends chased each other forever under a fifo schedule (explorer: io vif ×1;
        // reconnect vbd +0, transient faults, seed 10).
        if (this.restarted && this.failedHandshakes === this.failedAtRestart) this.failedHandshakes++;
        this.reconnecting = true;
        this.trace("blkfront.reconnect", { why: `backend ${xenbusStateName(be)}` });
      }
      this.quiesce();
      await dev.switchState(S.Closed);
      return;
    }
    if (dev.state === S.Closing) return;
    this.markDead();
    // xenbus_frontend_closed
    await dev.switchState(S.Closed);
  }

  /**
   * Reconnect mode, too many failed handshakes in a row: stop (as Linux blkfront_closing does),
   * failing what is queued, with an error node saying why, and go Closed for good.
   */
  private async giveUp(): Promise<void> {
    this.reconnecting = false;
    const n = this.failedHandshakes;
    this.trace("blkfront.give_up", { failed_handshakes: n });
    this.markDead();
    await this.dev.devError("EIO", `giving up after ${n} failed handshakes`);
    if (this.dev.state !== S.Closed) await this.dev.switchState(S.Closed);
  }

  /** Backend Closed and we are Closed: free the old rings, Initialising again (Mini-OS dance). */
  private async restartHandshake(): Promise<void> {
    if (this.failedHandshakes > 0) {
      // Back off before trying again: 1 s, 2 s, 4 s … of virtual time, off the xenwatch thread
      // (a delayed work item in a real driver).
      if (this.retryArmed) return;
      this.retryArmed = true;
      const delay = BLKFRONT_RETRY_BACKOFF_NS * 2 ** Math.min(this.failedHandshakes - 1, 6);
      this.trace("blkfront.retry_backoff", { failed_handshakes: this.failedHandshakes, delay_ns: delay });
      this.k.sched.post(
        this.k.actor,
        "blkfront_retry",
        async () => {
          this.retryArmed = false;
          if (this.dead || this.dev.removed || !this.reconnecting || this.dev.state !== S.Closed) return;
          await this.reinitialise();
        },
        delay,
      );
      return;
    }
    await this.reinitialise();
  }

  private async reinitialise(): Promise<void> {
    this.freeRings(this.conn === "suspended");
    this.reconnecting = false;
    this.cycled = true;
    this.restarted = true;
    this.failedAtRestart = this.failedHandshakes;
    this.trace("blkfront.reinitialise", {});
    await this.dev.switchState(S.Initialising);
  }

  /** Stop issuing; take requests in flight back to the queue (re-issued after reconnecting). */
  private quiesce(): void {
    if (this.conn === "connected") this.conn = "suspended";
    this.saveInflight();
  }

  /** blkfront_resume's first half: every request in a shadow goes back to the queue, in order. */
  private saveInflight(): void {
    const saved: Part[] = [];
    let deferred = 0;
    for (const r of this.rings) {
      for (const sh of r.shadow) {
        if (sh.part === null) continue;
        saved.push(sh.part);
        sh.part = null;
        // The old backend may still map these pages: revoke or defer, never reuse.
        for (const g of [...sh.data, ...sh.indirect]) if (!this.endGrant(g)) deferred++;
        if (this.features.persistent) r.persistentCount -= sh.data.length + sh.indirect.length;
        sh.data.length = 0;
        sh.indirect.length = 0;
      }
      r.inflight = 0;
    }
    if (deferred > 0) scheduleDeferredRetry(this.k);
    if (saved.length === 0) return;
    saved.sort((a, b) => a.seq - b.seq);
    this.stats.requeued += saved.length;
    this.trace("blkfront.requeue", { requests: saved.length });
    this.queue.unshift(...saved);
  }

  private markDead(): void {
    if (this.dead) return;
    this.dead = true;
    this.trace("blkfront.disk_dead", {});
    const err = new BlockIoError("ENXIO", `${this.name} was removed`);
    for (const part of this.queue.splice(0)) this.finishPart(part, err);
    for (const rej of this.closeWaiters.splice(0)) rej(err);
    this.connectWaiters.length = 0;
  }

  private readBackendOrder(text: number): number {
    return Math.min(this.options.maxRingPageOrder, text);
  }

  /** talk_to_blkback: rings, event channels, the transaction publishing them, Initialised. */
  async talkToBlkback(): Promise<boolean> {
    const dev = this.dev;
    const xb = dev.xb;
    if (this.rings.length > 0) this.freeRings(this.conn === "suspended");
    const trusted = await xb.readUnsigned(dev.nodename, "trusted", 1);
    this.bounceForced = !this.options.trusted || trusted === 0;
    this.order = this.readBackendOrder(await xb.readUnsigned(dev.otherend, "max-ring-page-order", 0));
    const maxQueues = await xb.readUnsigned(dev.otherend, "multi-queue-max-queues", 1);
    const nrRings = Math.max(1, Math.min(maxQueues, this.options.maxQueues));
    const pages = 1 << this.order;
    // setup_blkring for every ring
    for (let i = 0; i < nrRings; i++) {
      const granted = await dev.setupRing(pages);
      if (granted === null) {
        this.freeRings(false);
        this.failedHandshakes++;
        return false;
      }
      const port = await dev.allocEvtchn();
      if (port === null) {
        dev.releaseRing(granted);
        this.freeRings(false);
        this.failedHandshakes++;
        return false;
      }
      const front = this.dev.initFrontRing(granted.pages, this.abi.ring);
      const shadow: Shadow[] = [];
      for (let j = 0; j < front.size; j++) {
        shadow.push({
          part: null,
          wireOp: 0,
          indirectOp: 0,
          nsegs: 0,
          data: [],
          firsts: [],
          counts: [],
          indirect: [],
          nextFree: j + 1 < front.size ? j + 1 : SHADOW_END,
        });
      }
      const r: RingInfo = {
        index: i,
        granted,
        front,
        snap: front.responseSnapshot(),
        port,
        shadow,
        freeHead: 0,
        inflight: 0,
        pool: [],
        persistentCount: 0,
      };
      this.k.events.bindHandler(port, () => this.interrupt(r), { label: `blkif-${this.name}-${i}` });
      // bind_evtchn_to_irqhandler enables the irq: a reused port number may still carry the
      // mask bit a previous owner left (suspend masks every port).
      this.k.events.unmask(port);
      this.rings.push(r);
    }
    // The transaction: restart on EAGAIN, rewriting the whole key set (hostile-peers D4).
    const what = { step: "completing transaction" };
    try {
      await xb.transaction(async (tx) => {
        const base = dev.nodename;
        if (pages > 1) {
          what.step = "writing ring-page-order";
          await xb.printf(tx, base, "ring-page-order", "%u", this.order);
        }
        if (nrRings > 1) {
          what.step = "writing multi-queue-num-queues";
          await xb.printf(tx, base, "multi-queue-num-queues", "%u", nrRings);
        }
        for (const r of this.rings) {
          const dir = nrRings === 1 ? base : `${base}/queue-${r.index}`;
          what.step = "writing ring-ref";
          if (pages === 1) await xb.printf(tx, dir, "ring-ref", "%u", r.granted.refs[0]!);
          else {
            for (let k = 0; k < pages; k++)
              await xb.printf(tx, dir, `ring-ref${k}`, "%u", r.granted.refs[k]!);
          }
          what.step = "writing event-channel";
          await xb.printf(tx, dir, "event-channel", "%u", r.port);
        }
        what.step = "writing protocol";
        await xb.printf(tx, base, "protocol", "%s", this.abi.name);
        try {
          await xb.printf(tx, base, "feature-persistent", "%u", this.options.persistent ? 1 : 0);
        } catch {
          this.trace("blkfront.warn", { msg: "writing persistent grants feature to xenbus" });
        }
        what.step = "completing transaction";
      });
    } catch (e) {
      this.failedHandshakes++;
      await dev.devFatal(errnoOf(e), what.step);
      this.freeRings(false);
      return false;
    }
    this.trace("blkfront.talk", { rings: nrRings, pages, protocol: this.abi.name });
    await dev.switchState(S.Initialised);
    return true;
  }

  /** blkfront_connect (backend Connected). */
  private async connect(): Promise<void> {
    const dev = this.dev;
    const xb = dev.xb;
    if (this.conn === "connected") {
      // Repeated Connected: a capacity change (xen_vbd_resize rewrites `state`).
      let text: string;
      try {
        text = await xb.readString(XBT_NIL, `${dev.otherend}/sectors`);
      } catch (e) {
        if (isExistErr(e)) return;
        throw e;
      }
      const sectors = parseUnsigned(text);
      if (sectors === undefined) return;
      if (sectors !== this.sectors) {
        this.trace("blkfront.capacity", { sectors, msg: `Setting capacity to ${sectors}` });
        this.sectors = sectors;
      }
      return;
    }
    if (this.conn === "error" || this.dead) return;
    let fields: { sectors: number; info: number; sectorSize: number };
    try {
      fields = await xb.gather(XBT_NIL, dev.otherend, {
        sectors: { node: "sectors", parse: parseUnsigned },
        info: { node: "info", parse: parseUnsigned },
        sectorSize: { node: "sector-size", parse: parseUnsigned },
      });
    } catch (e) {
      this.failedHandshakes++;
      await dev.devFatal(errnoOf(e), `reading backend fields at ${dev.otherend}`);
      return;
    }
    if (fields.sectorSize < 512 || (fields.sectorSize & (fields.sectorSize - 1)) !== 0) {
      this.failedHandshakes++;
      await dev.devFatal("EINVAL", `reading backend fields at ${dev.otherend}`);
      return;
    }
    const recovering = this.conn === "suspended";
    this.sectors = fields.sectors;
    this.info = fields.info;
    this.sectorSize = fields.sectorSize;
    this.physicalSectorSize = await xb.readUnsigned(dev.otherend, "physical-sector-size", fields.sectorSize);
    await this.gatherBackendFeatures();
    if (this.dead || this.rings.length === 0) return;
    await dev.switchState(S.Connected);
    if (dev.state !== S.Connected) return;
    this.conn = "connected";
    this.failedHandshakes = 0;
    this.restarted = false;
    this.trace(recovering ? "blkfront.recover" : "blkfront.connect", {
      name: this.name,
      sectors: this.sectors,
      sector_size: this.sectorSize,
      queues: this.features.queues,
      ring_pages: this.features.ringPages,
      persistent: this.features.persistent,
      indirect: this.features.indirectSegments,
      requeued: this.queue.length,
    });
    for (const w of this.connectWaiters.splice(0)) w();
    this.closeWaiters.length = 0;
    this.kick();
  }

  /** blkfront_gather_backend_features */
  private async gatherBackendFeatures(): Promise<void> {
    const xb = this.dev.xb;
    const be = this.dev.otherend;
    let flush = false;
    let barrier = false;
    if ((await xb.readUnsigned(be, "feature-barrier", 0)) !== 0) barrier = true;
    if ((await xb.readUnsigned(be, "feature-flush-cache", 0)) !== 0) {
      flush = true;
      barrier = false; // flush-cache wins (no FUA)
    }
    const discard = (await xb.readUnsigned(be, "feature-discard", 0)) !== 0;
    let discardGranularity = 0;
    let discardAlignment = 0;
    let discardSecure = false;
    if (discard) {
      discardGranularity = await xb.readUnsigned(be, "discard-granularity", this.sectorSize);
      discardAlignment = await xb.readUnsigned(be, "discard-alignment", 0);
      discardSecure = (await xb.readUnsigned(be, "discard-secure", 0)) !== 0;
    }
    const persistent = this.options.persistent && (await xb.readUnsigned(be, "feature-persistent", 0)) !== 0;
    let indirect = Math.min(
      await xb.readUnsigned(be, "feature-max-indirect-segments", 0),
      this.options.maxIndirectSegments,
    );
    if (indirect <= BLKIF_MAX_SEGMENTS_PER_REQUEST) indirect = 0;
    indirect = Math.min(indirect, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * SEGS_PER_INDIRECT_FRAME);
    this.features = {
      flush,
      barrier,
      discard,
      discardGranularity,
      discardAlignment,
      discardSecure,
      persistent,
      indirectSegments: indirect,
      bounce: this.bounceForced || persistent,
      queues: this.rings.length,
      ringPages: 1 << this.order,
    };
  }

  /**
   * blkif_free: close the event channels, revoke every grant (deferred while the backend still
   * maps it), free the rings. Requests in shadows must have been saved or failed before.
   */
  freeRings(suspend: boolean): void {
    if (this.rings.length === 0) return;
    this.conn = suspend ? "suspended" : this.conn === "error" ? "error" : "disconnected";
    let deferred = 0;
    for (const r of this.rings) {
      this.k.events.unbindHandler(r.port);
      const st = this.k.events.close(r.port);
      if (!st.ok) this.trace("blkfront.warn", { msg: `freeing event channel ${r.port}` });
      for (const sh of r.shadow) {
        for (const g of [...sh.data, ...sh.indirect]) if (!this.endGrant(g)) deferred++;
        sh.data.length = 0;
        sh.indirect.length = 0;
        if (sh.part !== null) {
          this.finishPart(sh.part, new BlockIoError("EIO", `${this.name}: ring torn down`));
          sh.part = null;
        }
      }
      for (const g of r.pool.splice(0)) if (!this.endGrant(g)) deferred++;
      deferred += this.dev.releaseRing(r.granted).deferred.length;
    }
    this.trace("blkfront.free", { rings: this.rings.length, deferred, suspend });
    this.rings = [];
    // Also re-arms a retry that gave up earlier (the backend may have let go since).
    scheduleDeferredRetry(this.k);
  }

  // ------------------------------------------------------------------------------------------
  // Suspend / resume / remove

  /** Guest suspend (xen_irq_suspend masks every port; the block layer is frozen). */
  suspend(): void {
    this.frozen = true;
    for (const r of this.rings) this.k.events.mask(r.port);
    this.trace("blkfront.suspend", { inflight: this.rings.reduce((a, r) => a + r.inflight, 0) });
  }

  /** blkfront_resume: save requests, free the rings, talk to the (possibly new) backend at once. */
  async resume(): Promise<void> {
    this.frozen = false;
    this.reconnecting = false;
    this.saveInflight();
    if (this.rings.length > 0) this.freeRings(this.conn === "connected" || this.conn === "suspended");
    else if (this.conn === "connected") this.conn = "suspended";
    if (this.dead) return;
    await this.talkToBlkback();
  }

  /** blkfront_remove: no handshake; everything fails and is freed. */
  remove(): void {
    this.markDead();
    const err = new BlockIoError("ENXIO", `${this.name} was removed`);
    for (const r of this.rings) {
      for (const sh of r.shadow) {
        if (sh.part === null) continue;
        const part = sh.part;
        sh.part = null;
        this.finishPart(part, err);
      }
    }
    this.freeRings(false);
    this.conn = "disconnected";
  }
}

function errnoOf(e: unknown): number {
  if (e instanceof Error && "code" in e && typeof (e as { code: unknown }).code === "number") {
    return (e as { code: number }).code;
  }
  return -5;
}

/**
 * The blkfront XenBus driver (struct xenbus_driver blkfront_driver, type "vbd"). One instance
 * per guest kernel; `device(name)` finds a disk by `xvda` or by nodename.
 */
export class Blkfront implements XenbusDriver {
  readonly type = "vbd";
  readonly allowRebind = false;
  readonly options: Required<Omit<BlkfrontOptions, "profile">>;
  private readonly profileOf: (nodename: string) => FrontendProfile;
  private readonly devices = new Map<string, BlkfrontDevice>();
  private readonly waiters: { key: string; resolve: (d: BlkfrontDevice) => void }[] = [];

  constructor(options: BlkfrontOptions = {}) {
    this.options = {
      maxQueues: options.maxQueues ?? 1,
      maxRingPageOrder: Math.min(options.maxRingPageOrder ?? 0, 4),
      maxIndirectSegments: options.maxIndirectSegments ?? 32,
      persistent: options.persistent ?? true,
      trusted: options.trusted ?? true,
      protocol: options.protocol ?? "x86_64-abi",
      reconnect: options.reconnect ?? false,
    };
    const p = options.profile ?? "linux";
    this.profileOf = typeof p === "function" ? p : () => p;
  }

  /** Devices bound now, by nodename. */
  get all(): ReadonlyMap<string, BlkfrontDevice> {
    return this.devices;
  }

  /** The device named `xvda` (or with that nodename), if bound. */
  find(nameOrNodename: string): BlkfrontDevice | undefined {
    for (const d of this.devices.values())
      if (d.name === nameOrNodename || d.nodename === nameOrNodename) return d;
    return undefined;
  }

  /** Resolves with the device once it is bound and Connected (waits for probe and handshake). */
  async device(nameOrNodename: string): Promise<BlkfrontDevice> {
    const d = this.find(nameOrNodename);
    if (d !== undefined) return d.whenConnected();
    const bound = await new Promise<BlkfrontDevice>((resolve) => {
      this.waiters.push({ key: nameOrNodename, resolve });
    });
    return bound.whenConnected();
  }

  /** blkfront_probe: read virtual-device; no XenStore writes, state stays Initialising. */
  async probe(dev: XenbusDevice): Promise<void> {
    const xb = dev.xb;
    let vdevice = await xb.scanf(XBT_NIL, dev.nodename, "virtual-device", parseVdev);
    if (vdevice === undefined)
      vdevice = await xb.scanf(XBT_NIL, dev.nodename, "virtual-device-ext", parseVdev);
    if (vdevice === undefined) {
      await dev.devFatal("ENOENT", "reading virtual-device");
      return;
    }
    const type = await xb.scanf(XBT_NIL, dev.nodename, "device-type", (s) => s);
    if (type === undefined) {
      ktrace(dev.kernel, "blkfront.probe_skipped", { dev: dev.nodename, why: "no device-type" });
      return; // -ENODEV
    }
    const info = new BlkfrontDevice(dev, this.options, this.profileOf(dev.nodename), vdevice);
    dev.data = info;
    this.devices.set(dev.nodename, info);
    ktrace(dev.kernel, "blkfront.probe", { dev: dev.nodename, name: info.name, profile: info.profile });
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.key === info.name || w.key === info.nodename) {
        this.waiters.splice(i, 1);
        w.resolve(info);
      }
    }
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const info = dev.data;
    if (info instanceof BlkfrontDevice) await info.backendChanged(state);
  }

  async remove(dev: XenbusDevice): Promise<void> {
    const info = dev.data;
    if (!(info instanceof BlkfrontDevice)) return;
    info.remove();
    this.devices.delete(dev.nodename);
    dev.data = undefined;
  }

  async suspend(dev: XenbusDevice): Promise<void> {
    const info = dev.data;
    if (info instanceof BlkfrontDevice) info.suspend();
  }

  async resume(dev: XenbusDevice): Promise<void> {
    const info = dev.data;
    if (info instanceof BlkfrontDevice) await info.resume();
  }
}

/** `%i`: decimal, 0x hex or 0 octal. */
function parseVdev(text: string): number | undefined {
  const t = text.trim();
  let n: number;
  if (/^0x[0-9a-f]+$/i.test(t)) n = Number.parseInt(t.slice(2), 16);
  else if (/^0[0-7]+$/.test(t)) n = Number.parseInt(t, 8);
  else if (/^\d+$/.test(t)) n = Number.parseInt(t, 10);
  else return undefined;
  return n;
}

/** The blkfront device a guest bus bound at `nodename` (e.g. `device/vbd/51712`), if any. */
export function blkfrontOf(bus: { device(n: string): XenbusDevice | undefined }, nodename: string) {
  const d = bus.device(nodename)?.data;
  return d instanceof BlkfrontDevice ? d : undefined;
}
