// One blkif ring served by blkback (Linux drivers/block/xen-blkback/blkback.c, struct
// xen_blkif_ring): the ring thread's do_block_io_op loop, dispatch_rw_block_io /
// dispatch_discard_io with blkif.h's request checks, xen_blkbk_map (persistent grants kept
// mapped), make_response, and xen_blkif_disconnect's per-ring teardown (deferred while I/O is in
// flight). A QEMU-style backend uses GNTTABOP_copy instead of mapping data pages.

import { DOMID_SELF } from "@xensim/evtchn";
import {
  type BackRing,
  type ForeignMapping,
  type Gfn,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST_okay,
  type ReadablePage,
  type RingError,
  type SlotSnapshot,
  type StructLayout,
  type WritablePage,
} from "@xensim/ring";
import {
  BLKIF_DISCARD_SECURE,
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
  blkifOpName,
  getU64n,
  SECTORS_PER_PAGE,
  SEG_SIZE,
  SEGS_PER_INDIRECT_FRAME,
} from "../../guest/blkfront/blkif-abi.ts";
import type { Kernel } from "../../xenbus/kernel.ts";
import { traceRingIndices } from "../../xenbus/ring-trace.ts";
import type { MappedRing, XenbusDevice } from "../../xenbus/xenbus-device.ts";
import type { DiskImage } from "./disk-image.ts";

export interface BlkbackStats {
  requests: number;
  errors: number;
  persistentHits: number;
  /** Data pages mapped (GNTTABOP_map_grant_ref). */
  maps: number;
  /** Segments moved with GNTTABOP_copy. */
  copies: number;
}

/** What a ring needs from its device (struct xen_blkif + xen_vbd). */
export interface RingOwner {
  readonly stats: BlkbackStats;
  readonly dev: XenbusDevice;
  readonly image: DiskImage | undefined;
  readonly readonly: boolean;
  readonly persistent: boolean;
  readonly grantCopy: boolean;
  readonly maxIndirectSegments: number;
  readonly maxPersistentGrants: number;
  readonly discardEnabled: boolean;
  readonly latencyNs: number;
  /** The last in-flight request of a stopping ring completed and the ring is torn down. */
  ringDrained(ring: BlkbackRing): void;
}

interface Mapped {
  readonly page: WritablePage | ReadablePage;
  /** Non-persistent mappings are unmapped when the request completes. */
  readonly temp: ForeignMapping | null;
}

/** A request whose I/O was submitted and whose response is owed (struct pending_req). */
interface Pending {
  readonly idLo: number;
  readonly idHi: number;
  readonly op: number;
  status: number;
  readonly temps: ForeignMapping[];
}

export class BlkbackRing {
  /** The ring thread runs requests; false once stopped (disconnect). */
  active = true;
  /** Halted after a protocol violation by the frontend (bogus ring indices). */
  halted = false;
  inflight = 0;
  private stopping = false;
  private tornDown = false;
  readonly back: BackRing;
  readonly actor: string;
  private readonly req: SlotSnapshot<StructLayout>;
  /** Persistent grants: gref → mapping kept until disconnect (xen_blkif_ring.persistent_gnts). */
  readonly persistentGrants = new Map<number, ForeignMapping<WritablePage>>();
  /** A WRITE_BARRIER waiting for in-flight I/O to drain (xen_blk_drain_io). */
  private barrier: Uint8Array | null = null;
  private buf = new Uint8Array(4096);
  private readonly segRef: Uint32Array;
  private readonly segFirst: Uint8Array;
  private readonly segLast: Uint8Array;
  private indirectPageBuf: Uint8Array | null = null;
  private bounceGfn: Gfn | null = null;
  /** Counters shared by every ring of the device (they survive reconnections). */
  get stats(): BlkbackStats {
    return this.owner.stats;
  }

  constructor(
    readonly owner: RingOwner,
    readonly index: number,
    readonly mapped: MappedRing,
    back: BackRing,
    readonly port: number,
    readonly abi: BlkifAbi,
    actor: string,
  ) {
    this.back = back;
    this.req = this.back.requestSnapshot();
    this.actor = actor;
    const maxSegs = Math.max(BLKIF_MAX_SEGMENTS_PER_REQUEST, owner.maxIndirectSegments);
    this.segRef = new Uint32Array(maxSegs);
    this.segFirst = new Uint8Array(maxSegs);
    this.segLast = new Uint8Array(maxSegs);
  }

  private get k(): Kernel {
    return this.owner.dev.kernel;
  }

  private trace(kind: string, details: Record<string, string | number | boolean | undefined>): void {
    const k = this.k;
    if (k.sched.trace.enabled)
      k.sched.trace.emit(this.actor, kind, { dev: this.owner.dev.nodename, ...details });
  }

  /** Starts the ring thread: bind the handler so every kick runs `process` on the ring's actor. */
  start(): void {
    this.k.events.bindHandler(this.port, () => this.process(), { actor: this.actor, label: "blkif_be_int" });
    this.k.sched.post(this.actor, "blkback.start", () => this.process());
  }

  /** do_block_io_op: consume requests until the ring is empty (with the final check). */
  process(): void {
    if (!this.active || this.halted) return;
    const back = this.back;
    const req = this.req;
    for (;;) {
      if (this.barrier !== null) return;
      let n: number | RingError = back.unconsumedRequests();
      if (typeof n !== "number") {
        this.halt(n);
        return;
      }
      if (n === 0) {
        n = back.finalCheckForRequests();
        if (typeof n !== "number") {
          this.halt(n);
          return;
        }
        if (n === 0) return;
      }
      while (this.barrier === null && back.takeRequest(req)) {
        this.dispatch(req);
        if (!this.active) return;
      }
    }
  }

  /** "Frontend provided bogus ring requests … Halting ring processing" (-EACCES): stop this ring. */
  private halt(e: RingError): void {
    this.halted = true;
    this.trace("blkback.ring_halted", { ring: this.index, why: e.kind });
    const msg = `Frontend provided bogus ring requests (${e.kind}). Halting ring processing`;
    void this.owner.dev.devError("EACCES", msg).catch(() => undefined);
  }

  private dispatch(req: SlotSnapshot<StructLayout>): void {
    const abi = this.abi;
    const op = req.getU8(abi.op);
    const idLo = req.getU32(abi.id);
    const idHi = req.getU32(abi.id + 4);
    this.stats.requests++;
    switch (op) {
      case BLKIF_OP_READ:
      case BLKIF_OP_WRITE:
      case BLKIF_OP_FLUSH_DISKCACHE:
      case BLKIF_OP_WRITE_BARRIER:
        this.dispatchRw(req, op, false, idLo, idHi);
        return;
      case BLKIF_OP_INDIRECT: {
        if (this.owner.maxIndirectSegments === 0) break;
        const iop = req.getU8(abi.indOp);
        if (iop !== BLKIF_OP_READ && iop !== BLKIF_OP_WRITE) {
          this.bad(idLo, idHi, iop, `Invalid indirect operation (${iop})`);
          return;
        }
        this.dispatchRw(req, iop, true, idLo, idHi);
        return;
      }
      case BLKIF_OP_DISCARD:
        this.dispatchDiscard(req, idLo, idHi);
        return;
    }
    // Unknown operation: BLKIF_RSP_EOPNOTSUPP, echoing what was asked.
    if (this.k.sched.trace.enabled)
      this.trace("blkback.request", { ring: this.index, id: idLo, op: blkifOpName(op) });
    this.bad(idLo, idHi, op, `unknown operation ${op}`, BLKIF_RSP_EOPNOTSUPP);
  }

  private bad(idLo: number, idHi: number, op: number, why: string, status = BLKIF_RSP_ERROR): void {
    this.stats.errors++;
    this.trace("blkback.bad_request", { ring: this.index, id: idLo, op: blkifOpName(op), why });
    this.respond(idLo, idHi, op, status);
  }

  /** dispatch_rw_block_io (+ xen_blkbk_parse_indirect, xen_vbd_translate, xen_blkbk_map). */
  private dispatchRw(
    req: SlotSnapshot<StructLayout>,
    op: number,
    indirect: boolean,
    idLo: number,
    idHi: number,
  ): void {
    const abi = this.abi;
    const owner = this.owner;
    const image = owner.image;
    const nseg = indirect ? req.getU16(abi.indNrSegments) : req.getU8(abi.nrSegments);
    const sector = getU64n(req, abi.sector);
    const flushOp = op === BLKIF_OP_FLUSH_DISKCACHE || op === BLKIF_OP_WRITE_BARRIER;
    if (this.k.sched.trace.enabled)
      this.trace("blkback.request", {
        ring: this.index,
        id: idLo,
        op: blkifOpName(op),
        indirect,
        sector,
        nsegs: nseg,
      });
    if (
      (nseg === 0 && !flushOp) ||
      (!indirect && nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST) ||
      (indirect && nseg > owner.maxIndirectSegments)
    ) {
      this.bad(idLo, idHi, op, `Bad number of segments in request (${nseg})`);
      return;
    }
    if (image === undefined) {
      this.bad(idLo, idHi, op, "no device");
      return;
    }
    if (op === BLKIF_OP_WRITE_BARRIER && this.inflight > 0) {
      // xen_blk_drain_io: all earlier writes complete before the barrier starts.
      this.barrier = req.bytes.slice();
      return;
    }
    // Segments, each copied once into private arrays (XSA-155).
    if (indirect) {
      const pages = Math.ceil(nseg / SEGS_PER_INDIRECT_FRAME);
      for (let p = 0; p < pages; p++) {
        const gref = req.getU32(abi.indGrefs + 4 * p);
        this.indirectPageBuf ??= new Uint8Array(4096);
        if (!this.readGrant(gref, this.indirectPageBuf)) {
          this.bad(idLo, idHi, op, `could not map indirect page ${gref}`);
          return;
        }
        const first = p * SEGS_PER_INDIRECT_FRAME;
        const count = Math.min(SEGS_PER_INDIRECT_FRAME, nseg - first);
        const dv = new DataView(this.indirectPageBuf.buffer);
        for (let i = 0; i < count; i++) {
          this.segRef[first + i] = dv.getUint32(i * SEG_SIZE, true);
          this.segFirst[first + i] = dv.getUint8(i * SEG_SIZE + 4);
          this.segLast[first + i] = dv.getUint8(i * SEG_SIZE + 5);
        }
      }
    } else {
      for (let i = 0; i < nseg; i++) {
        const at = abi.seg0 + i * SEG_SIZE;
        this.segRef[i] = req.getU32(at);
        this.segFirst[i] = req.getU8(at + 4);
        this.segLast[i] = req.getU8(at + 5);
      }
    }
    const unit = image.sectorSize / 512;
    let nsect = 0;
    let misaligned = sector % unit !== 0;
    for (let i = 0; i < nseg; i++) {
      const f = this.segFirst[i]!;
      const l = this.segLast[i]!;
      if (l >= SECTORS_PER_PAGE || l < f) {
        this.bad(idLo, idHi, op, `bad segment ${i}: ${f}..${l}`);
        return;
      }
      if ((l - f + 1) % unit !== 0 || f % unit !== 0) misaligned = true;
      nsect += l - f + 1;
    }
    if (misaligned) {
      this.bad(idLo, idHi, op, "Misaligned I/O request");
      return;
    }
    const writes = op !== BLKIF_OP_READ;
    // xen_vbd_translate: writes to a read-only vbd, or a range beyond the end, are refused.
    if (writes && nseg > 0 && owner.readonly) {
      this.bad(idLo, idHi, op, "write to a read-only vbd");
      return;
    }
    if (nsect > 0 && (sector + nsect > image.sectors || !Number.isSafeInteger(sector + nsect))) {
      this.bad(idLo, idHi, op, `access beyond end of device: [${sector},${sector + nsect})`);
      return;
    }
    const bytes = nsect * 512;
    if (this.buf.length < bytes) this.buf = new Uint8Array(Math.max(bytes, this.buf.length * 2));
    const buf = this.buf;
    const pending: Pending = { idLo, idHi, op, status: BLKIF_RSP_OKAY, temps: [] };
    if (owner.grantCopy) {
      if (!this.copySegments(nseg, op === BLKIF_OP_READ, image, sector, buf)) {
        this.bad(idLo, idHi, op, "grant copy failed");
        return;
      }
    } else {
      // xen_blkbk_map: persistent grants stay mapped RW; others are mapped for this request.
      const maps: Mapped[] = [];
      for (let i = 0; i < nseg; i++) {
        const m = this.mapSegment(this.segRef[i]!, writes);
        if (m === null) {
          for (const t of pending.temps) this.k.gnttab.unmap(t.handle);
          this.bad(idLo, idHi, op, "invalid buffer -- could not remap it");
          return;
        }
        if (m.temp !== null) pending.temps.push(m.temp);
        maps.push(m);
      }
      let pos = 0;
      if (writes) {
        for (let i = 0; i < nseg; i++) {
          const f = this.segFirst[i]!;
          const n = (this.segLast[i]! - f + 1) * 512;
          maps[i]!.page.copyOut(f * 512, buf, pos, n);
          pos += n;
        }
        if (bytes > 0) image.write(sector * 512, buf.subarray(0, bytes));
      } else {
        image.read(sector * 512, buf.subarray(0, bytes));
        for (let i = 0; i < nseg; i++) {
          const f = this.segFirst[i]!;
          const n = (this.segLast[i]! - f + 1) * 512;
          (maps[i]!.page as WritablePage).copyIn(f * 512, buf, pos, n);
          pos += n;
        }
      }
    }
    if (flushOp) {
      if (image.writeCache) image.flush();
      else pending.status = BLKIF_RSP_EOPNOTSUPP;
    }
    this.complete(pending);
  }

  /** A QEMU-style backend: GNTTABOP_copy through one bounce page of dom0 for every segment. */
  private copySegments(
    nseg: number,
    read: boolean,
    image: DiskImage,
    sector: number,
    buf: Uint8Array,
  ): boolean {
    const k = this.k;
    if (this.bounceGfn === null) {
      const g = k.memory.allocate();
      if (typeof g !== "number") return false;
      this.bounceGfn = g as Gfn;
    }
    const bounce = k.memory.page(this.bounceGfn);
    const fe = this.owner.dev.otherendId;
    let bytes = 0;
    for (let i = 0; i < nseg; i++) bytes += (this.segLast[i]! - this.segFirst[i]! + 1) * 512;
    if (read) image.read(sector * 512, buf.subarray(0, bytes));
    let pos = 0;
    for (let i = 0; i < nseg; i++) {
      const off = this.segFirst[i]! * 512;
      const len = (this.segLast[i]! - this.segFirst[i]! + 1) * 512;
      if (read) {
        bounce.copyIn(0, buf, pos, len);
        this.stats.copies++;
        const [st] = k.gnttab.copy([
          {
            source: { gfn: this.bounceGfn, domid: DOMID_SELF, offset: 0 },
            dest: { ref: this.segRef[i]!, domid: fe, offset: off },
            len,
            flags: GNTCOPY_dest_gref,
          },
        ]);
        if (st !== GNTST_okay) return false;
      } else {
        this.stats.copies++;
        const [st] = k.gnttab.copy([
          {
            source: { ref: this.segRef[i]!, domid: fe, offset: off },
            dest: { gfn: this.bounceGfn, domid: DOMID_SELF, offset: 0 },
            len,
            flags: GNTCOPY_source_gref,
          },
        ]);
        if (st !== GNTST_okay) return false;
        bounce.copyOut(0, buf, pos, len);
      }
      pos += len;
    }
    if (!read && bytes > 0) image.write(sector * 512, buf.subarray(0, bytes));
    return true;
  }

  /** Reads one granted page (an indirect segment page) into `into`: copied once, then unmapped. */
  private readGrant(gref: number, into: Uint8Array): boolean {
    const k = this.k;
    const fe = this.owner.dev.otherendId;
    if (this.owner.grantCopy) {
      return false; // a copy-only backend advertises no indirect descriptors
    }
    const pg = this.owner.persistent ? this.persistentGrants.get(gref) : undefined;
    if (pg !== undefined) {
      this.stats.persistentHits++;
      pg.page.copyOut(0, into, 0, 4096);
      return true;
    }
    const r = k.gnttab.map(fe, gref, { readonly: true });
    if (r.status !== GNTST_okay) return false;
    r.mapping.page.copyOut(0, into, 0, 4096);
    k.gnttab.unmap(r.handle);
    return true;
  }

  /** One data segment's page: a persistent mapping (kept) or a mapping for this request only. */
  private mapSegment(gref: number, writes: boolean): Mapped | null {
    const k = this.k;
    this.stats.maps++;
    const fe = this.owner.dev.otherendId;
    if (this.owner.persistent) {
      const pg = this.persistentGrants.get(gref);
      if (pg !== undefined) {
        this.stats.persistentHits++;
        return { page: pg.page, temp: null };
      }
      const r = k.gnttab.map(fe, gref);
      if (r.status !== GNTST_okay) return null;
      if (this.persistentGrants.size < this.owner.maxPersistentGrants) {
        this.persistentGrants.set(gref, r.mapping);
        return { page: r.mapping.page, temp: null };
      }
      return { page: r.mapping.page, temp: r.mapping };
    }
    // Non-persistent: data to be written only needs a read-only mapping.
    if (writes) {
      const r = k.gnttab.map(fe, gref, { readonly: true });
      if (r.status !== GNTST_okay) return null;
      return { page: r.mapping.page, temp: r.mapping };
    }
    const r = k.gnttab.map(fe, gref);
    if (r.status !== GNTST_okay) return null;
    return { page: r.mapping.page, temp: r.mapping };
  }

  /** dispatch_discard_io */
  private dispatchDiscard(req: SlotSnapshot<StructLayout>, idLo: number, idHi: number): void {
    const abi = this.abi;
    const image = this.owner.image;
    const sector = getU64n(req, abi.sector);
    const nr = getU64n(req, abi.discardNrSectors);
    const flag = req.getU8(abi.discardFlag);
    if (this.k.sched.trace.enabled)
      this.trace("blkback.request", { ring: this.index, id: idLo, op: "discard", sector, nsect: nr });
    if (
      image === undefined ||
      !this.owner.discardEnabled ||
      !image.discardable ||
      flag & BLKIF_DISCARD_SECURE
    ) {
      this.bad(idLo, idHi, BLKIF_OP_DISCARD, "discard not supported", BLKIF_RSP_EOPNOTSUPP);
      return;
    }
    if (this.owner.readonly) {
      this.bad(idLo, idHi, BLKIF_OP_DISCARD, "discard on a read-only vbd");
      return;
    }
    if (sector + nr > image.sectors || !Number.isSafeInteger(sector + nr)) {
      this.bad(idLo, idHi, BLKIF_OP_DISCARD, `discard beyond end: [${sector},${sector + nr})`);
      return;
    }
    const unit = image.sectorSize / 512;
    if (sector % unit !== 0 || nr % unit !== 0) {
      this.bad(idLo, idHi, BLKIF_OP_DISCARD, "Misaligned discard request");
      return;
    }
    image.discard(sector * 512, nr * 512);
    this.complete({ idLo, idHi, op: BLKIF_OP_DISCARD, status: BLKIF_RSP_OKAY, temps: [] });
  }

  /** Ends a request now, or after the disk's latency (the bio's end_io). */
  private complete(p: Pending): void {
    this.inflight++;
    const lat = this.owner.latencyNs;
    if (lat <= 0) {
      this.endIo(p);
      return;
    }
    this.k.sched.post(this.actor, "blkback.end_io", () => this.endIo(p), lat);
  }

  /** __end_block_io_op + xen_blkbk_unmap + make_response. */
  private endIo(p: Pending): void {
    for (const t of p.temps) this.k.gnttab.unmap(t.handle);
    this.inflight--;
    if (!this.tornDown) this.respond(p.idLo, p.idHi, p.op, p.status);
    if (this.inflight === 0) {
      if (this.stopping) {
        this.teardown();
        this.owner.ringDrained(this);
        return;
      }
      if (this.barrier !== null) {
        const bytes = this.barrier;
        this.barrier = null;
        this.req.bytes.set(bytes);
        this.dispatch(this.req);
        this.process();
      }
    }
  }

  /** make_response: write into the next response slot, push, notify if asked to. */
  private respond(idLo: number, idHi: number, op: number, status: number): void {
    const abi = this.abi;
    const w = this.back.nextResponse();
    if (w === undefined) return;
    w.setU32(abi.rspId, idLo);
    w.setU32(abi.rspId + 4, idHi);
    w.setU8(abi.rspOp, op);
    w.setU16(abi.rspStatus, status & 0xffff);
    const notify = this.back.pushResponsesAndCheckNotify();
    traceRingIndices(this.k, this.actor, this.owner.dev.nodename, `ring-${this.index}`, this.back);
    if (this.k.sched.trace.enabled) {
      this.trace("blkback.response", {
        ring: this.index,
        id: idLo,
        op: blkifOpName(op),
        status,
        rsp_prod: this.back.rspProdPvt,
        notify,
      });
    }
    if (notify) this.k.events.send(this.port);
  }

  /**
   * xen_blkif_disconnect for this ring: stop the thread; if I/O is in flight, the teardown waits
   * for its completion (Linux's deferred xen_blkif_free). Returns true when torn down now.
   */
  stop(): boolean {
    this.active = false;
    if (this.tornDown) return true;
    if (this.inflight > 0) {
      this.stopping = true;
      this.trace("blkback.ring_draining", { ring: this.index, inflight: this.inflight });
      return false;
    }
    this.teardown();
    return true;
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    const k = this.k;
    k.events.unbindHandler(this.port);
    k.events.close(this.port);
    for (const m of this.persistentGrants.values()) k.gnttab.unmap(m.handle);
    const persistent = this.persistentGrants.size;
    this.persistentGrants.clear();
    void this.owner.dev.unmapRing(this.mapped).catch(() => undefined);
    if (this.bounceGfn !== null) {
      k.memory.release(this.bounceGfn);
      this.bounceGfn = null;
    }
    this.trace("blkback.ring_down", { ring: this.index, persistent });
  }
}
