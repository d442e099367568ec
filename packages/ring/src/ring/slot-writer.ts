// Write cursors over one ring slot, handed out by FrontRing.nextRequest / BackRing.nextResponse
// and repositioned for every slot (no allocation per request). Each access checks the offset
// against the struct size and, folded into that same comparison, the page's lease (so a revoked
// mapping throws), then goes straight to the page: naturally aligned fields through its typed
// arrays (a typed-array store, unlike a DataView store, lets V8 keep the cursor's fields in
// registers across a run of stores), anything else through its DataView. A slot that straddles
// two pages (x86_32 blkif in a multi-page ring) gets the spanning cursor, which goes through the
// PageSequence instead.
import type { AccessLease, LeaseWatcher } from "../memory/access-lease.ts";
import { type ByteWriter, checkRange, OutOfBoundsError } from "../memory/byte-access.ts";
import { PAGE_SIZE } from "../memory/page.ts";
import type { PageSequence } from "./page-sequence.ts";

/** A slot being filled. Valid until its ring hands out the next slot. */
export type SlotWriter = ByteWriter;

function outOfBounds(offset: number, size: number, limit: number): never {
  throw new OutOfBoundsError(offset, size, limit);
}

/**
 * Checks an access the fast path refused: a stale lease throws StalePageAccessError, an offset
 * outside the slot OutOfBoundsError; a valid access (on a cursor whose fast path was switched
 * off because some page of its ring lost its lease) returns and proceeds.
 */
function slowCheck(lease: AccessLease, o: number, size: number, limit: number): void {
  lease.check();
  if (!(o >= 0 && o + size <= limit)) outOfBounds(o, size, limit);
}

/** Host byte order; the typed-array fast path is only used on little-endian hosts (every Xen ABI is). */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The views of one page a cursor writes through: aligned 16/32-bit fields use the typed arrays. */
export interface SlotPageViews {
  readonly dv: DataView;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
}

const pageViews = new WeakMap<ArrayBuffer, SlotPageViews>();
/** Package-internal: the (shared) typed views of a page buffer. */
export function slotPageViews(dv: DataView): SlotPageViews {
  const buffer = dv.buffer as ArrayBuffer;
  let v = pageViews.get(buffer);
  if (v === undefined) {
    v = { dv, u8: new Uint8Array(buffer), u16: new Uint16Array(buffer), u32: new Uint32Array(buffer) };
    pageViews.set(buffer, v);
  }
  return v;
}

let slowGet: (w: PageSlotWriter, o: number, size: 1 | 2 | 4, signed: boolean) => number;
let slowSet: (w: PageSlotWriter, o: number, size: 1 | 2 | 4, v: number) => void;
// One slow store per size, so each fast setter's call site (which V8 counts against the inlining
// budget of the driver loop it is inlined into) passes three arguments, not four.
const slowSet8 = (w: PageSlotWriter, o: number, v: number): void => slowSet(w, o, 1, v);
const slowSet16 = (w: PageSlotWriter, o: number, v: number): void => slowSet(w, o, 2, v);
const slowSet32 = (w: PageSlotWriter, o: number, v: number): void => slowSet(w, o, 4, v);

/**
 * Cursor for a slot that lies within one page (every slot of a one-page ring). Each access makes
 * one comparison against a per-size limit. The lease check is folded into it: when a lease of any
 * page of the ring ends, the lease tells the cursor (AccessLease.watch) and the limits drop to -1,
 * so every later access takes the slow path, which throws on the stale page. The page's typed
 * arrays are fields of the cursor itself (no views record to load first), and repositioning
 * within the same page is one store. Methods are kept tiny on purpose: a request loop calls
 * several per slot and all of them must fit V8's cumulative inlining budget.
 */
export class PageSlotWriter implements SlotWriter, LeaseWatcher {
  readonly byteLength: number;
  readonly #seq: PageSequence;
  // Largest offset the fast path takes for a 1-, 2-, 4- and 8-byte access (-1: none).
  #last8: number;
  #last16: number;
  #last32: number;
  #last64: number;
  #u8: Uint8Array;
  #u16: Uint16Array;
  #u32: Uint32Array;
  #dv: DataView;
  #lease: AccessLease;
  #page = 0;
  #base = 0;

  constructor(seq: PageSequence, size: number, aligned: boolean) {
    const p = seq.pageInternals(0);
    const pv = slotPageViews(p.dv);
    this.#seq = seq;
    this.#u8 = pv.u8;
    this.#u16 = pv.u16;
    this.#u32 = pv.u32;
    this.#dv = pv.dv;
    this.#lease = p.lease;
    this.byteLength = size;
    this.#last8 = size - 1;
    this.#last16 = size - 2;
    this.#last32 = size - 4;
    this.#last64 = size - 8;
    for (let i = 0; i < seq.pageCount; i++) seq.pageInternals(i).lease.watch(this);
    // slots not 4-byte aligned (none of the Xen rings) or a big-endian host: always the slow path
    if (!aligned || !HOST_LE) this.leaseEnded();
  }

  /** Package-internal (AccessLease): a page of the ring lost its lease; switch the fast path off. */
  leaseEnded(): void {
    this.#last8 = this.#last16 = this.#last32 = this.#last64 = -1;
  }

  /** Package-internal: write through page `page` of the sequence (viewed by `pv`, leased by `lease`). */
  onPage(pv: SlotPageViews, lease: AccessLease, page: number): void {
    this.#u8 = pv.u8;
    this.#u16 = pv.u16;
    this.#u32 = pv.u32;
    this.#dv = pv.dv;
    this.#lease = lease;
    this.#page = page;
  }

  /** Package-internal: point at byte `base` of the current page. */
  at(base: number): this {
    this.#base = base;
    return this;
  }

  /** Offset of the slot within the whole page sequence. */
  get #abs(): number {
    return this.#page * PAGE_SIZE + this.#base;
  }

  // `o >>> 0` maps negative offsets to huge ones, so one comparison bounds both ends; an
  // unaligned offset takes the slow path (after inlining, with a constant offset, that test folds).
  getU8(o: number): number {
    if (o >>> 0 > this.#last8) return slowGet(this, o, 1, false);
    return this.#u8[this.#base + o] as number;
  }
  getI8(o: number): number {
    if (o >>> 0 > this.#last8) return slowGet(this, o, 1, true);
    return ((this.#u8[this.#base + o] as number) << 24) >> 24;
  }
  getU16(o: number): number {
    if (o >>> 0 > this.#last16 || (o & 1) !== 0) return slowGet(this, o, 2, false);
    return this.#u16[(this.#base + o) >> 1] as number;
  }
  getI16(o: number): number {
    if (o >>> 0 > this.#last16 || (o & 1) !== 0) return slowGet(this, o, 2, true);
    return ((this.#u16[(this.#base + o) >> 1] as number) << 16) >> 16;
  }
  getU32(o: number): number {
    if (o >>> 0 > this.#last32 || (o & 3) !== 0) return slowGet(this, o, 4, false);
    return this.#u32[(this.#base + o) >> 2] as number;
  }
  getI32(o: number): number {
    if (o >>> 0 > this.#last32 || (o & 3) !== 0) return slowGet(this, o, 4, true);
    return (this.#u32[(this.#base + o) >> 2] as number) | 0;
  }
  getU64(o: number): bigint {
    slowCheck(this.#lease, o, 8, this.byteLength);
    return this.#dv.getBigUint64(this.#base + o, true);
  }
  setU8(o: number, v: number): void {
    if (o >>> 0 > this.#last8) slowSet8(this, o, v);
    else this.#u8[this.#base + o] = v;
  }
  setU16(o: number, v: number): void {
    if (o >>> 0 > this.#last16 || o & 1) slowSet16(this, o, v);
    else this.#u16[(this.#base + o) >> 1] = v;
  }
  setU32(o: number, v: number): void {
    if (o >>> 0 > this.#last32 || o & 3) slowSet32(this, o, v);
    else this.#u32[(this.#base + o) >> 2] = v;
  }
  setU64(o: number, v: bigint): void {
    slowCheck(this.#lease, o, 8, this.byteLength);
    this.#dv.setBigUint64(this.#base + o, BigInt.asUintN(64, v), true);
  }

  static {
    // The slow paths: check lease and bounds (throwing), then access through the DataView.
    slowGet = (w, o, size, signed) => {
      slowCheck(w.#lease, o, size, w.byteLength);
      const dv = w.#dv;
      const a = w.#base + o;
      if (size === 1) return signed ? dv.getInt8(a) : dv.getUint8(a);
      if (size === 2) return signed ? dv.getInt16(a, true) : dv.getUint16(a, true);
      return signed ? dv.getInt32(a, true) : dv.getUint32(a, true);
    };
    slowSet = (w, o, size, v) => {
      slowCheck(w.#lease, o, size, w.byteLength);
      const dv = w.#dv;
      const a = w.#base + o;
      if (size === 1) dv.setUint8(a, v);
      else if (size === 2) dv.setUint16(a, v, true);
      else dv.setUint32(a, v, true);
    };
  }
  copyOut(o: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#seq.copyOut(this.#abs + o, dst, dstOffset, length);
  }
  copyIn(o: number, src: Uint8Array, srcOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#seq.copyIn(this.#abs + o, src, srcOffset, length);
  }
  fill(value: number, o = 0, length = this.byteLength - o): void {
    checkRange(o, length, this.byteLength);
    this.#seq.fill(value, this.#abs + o, length);
  }
}

/** Cursor for a slot that straddles a page boundary: every access goes through the PageSequence. */
export class SpanningSlotWriter implements SlotWriter {
  readonly byteLength: number;
  readonly #seq: PageSequence;
  #abs = 0;

  constructor(seq: PageSequence, size: number) {
    this.#seq = seq;
    this.byteLength = size;
  }

  /** Package-internal: point at absolute offset `abs` of the sequence. */
  at(abs: number): this {
    this.#abs = abs;
    return this;
  }

  #check(o: number, size: number): number {
    if (!(o >= 0 && o + size <= this.byteLength)) outOfBounds(o, size, this.byteLength);
    return this.#abs + o;
  }
  getU8(o: number): number {
    return this.#seq.getU8(this.#check(o, 1));
  }
  getI8(o: number): number {
    return this.#seq.getI8(this.#check(o, 1));
  }
  getU16(o: number): number {
    return this.#seq.getU16(this.#check(o, 2));
  }
  getI16(o: number): number {
    return this.#seq.getI16(this.#check(o, 2));
  }
  getU32(o: number): number {
    return this.#seq.getU32(this.#check(o, 4));
  }
  getI32(o: number): number {
    return this.#seq.getI32(this.#check(o, 4));
  }
  getU64(o: number): bigint {
    return this.#seq.getU64(this.#check(o, 8));
  }
  setU8(o: number, v: number): void {
    this.#seq.setU8(this.#check(o, 1), v);
  }
  setU16(o: number, v: number): void {
    this.#seq.setU16(this.#check(o, 2), v);
  }
  setU32(o: number, v: number): void {
    this.#seq.setU32(this.#check(o, 4), v);
  }
  setU64(o: number, v: bigint): void {
    this.#seq.setU64(this.#check(o, 8), v);
  }
  copyOut(o: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#seq.copyOut(this.#abs + o, dst, dstOffset, length);
  }
  copyIn(o: number, src: Uint8Array, srcOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#seq.copyIn(this.#abs + o, src, srcOffset, length);
  }
  fill(value: number, o = 0, length = this.byteLength - o): void {
    checkRange(o, length, this.byteLength);
    this.#seq.fill(value, this.#abs + o, length);
  }
}
