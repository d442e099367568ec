// Write cursors over one ring slot, handed out by FrontRing.nextRequest / BackRing.nextResponse
// and repositioned for every slot (no allocation per request). Each access checks the offset
// against the struct size and, folded into that same comparison, the page's lease (so a revoked
// mapping throws), then goes straight to the page's DataView. A slot that straddles two pages (x86_32 blkif in a multi-page ring)
// gets the spanning cursor, which goes through the PageSequence instead.
import type { AccessLease, LeaseWatcher } from "../memory/access-lease.ts";
import { type ByteWriter, checkRange, OutOfBoundsError } from "../memory/byte-access.ts";
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

/**
 * Cursor for a slot that lies within one page (every slot of a one-page ring). Each access makes
 * one comparison against a per-size limit. The lease check is folded into it: when a lease of any
 * page of the ring ends, the lease tells the cursor (AccessLease.watch) and the limits drop to -1,
 * so every later access takes the slow path, which throws on the stale page. Methods are kept
 * tiny on purpose: a request loop calls several per slot and all of them must fit V8's
 * cumulative inlining budget.
 */
export class PageSlotWriter implements SlotWriter, LeaseWatcher {
  readonly byteLength: number;
  readonly #seq: PageSequence;
  // Largest offset the fast path takes for a 1-, 2-, 4- and 8-byte access (-1: none).
  #last8: number;
  #last16: number;
  #last32: number;
  #last64: number;
  #dv: DataView;
  #lease: AccessLease;
  #base = 0;
  #abs = 0;

  constructor(seq: PageSequence, size: number) {
    const p = seq.pageInternals(0);
    this.#seq = seq;
    this.#dv = p.dv;
    this.#lease = p.lease;
    this.byteLength = size;
    this.#last8 = size - 1;
    this.#last16 = size - 2;
    this.#last32 = size - 4;
    this.#last64 = size - 8;
    for (let i = 0; i < seq.pageCount; i++) seq.pageInternals(i).lease.watch(this);
  }

  /** Package-internal (AccessLease): a page of the ring lost its lease; switch the fast path off. */
  leaseEnded(): void {
    this.#last8 = this.#last16 = this.#last32 = this.#last64 = -1;
  }

  /** Package-internal: point at `base` within the page viewed by `dv` (absolute offset `abs`). */
  at(dv: DataView, lease: AccessLease, base: number, abs: number): this {
    this.#dv = dv;
    this.#lease = lease;
    this.#base = base;
    this.#abs = abs;
    return this;
  }

  // `o >>> 0` maps negative offsets to huge ones, so one comparison bounds both ends.
  getU8(o: number): number {
    if (o >>> 0 > this.#last8) slowCheck(this.#lease, o, 1, this.byteLength);
    return this.#dv.getUint8(this.#base + o);
  }
  getI8(o: number): number {
    if (o >>> 0 > this.#last8) slowCheck(this.#lease, o, 1, this.byteLength);
    return this.#dv.getInt8(this.#base + o);
  }
  getU16(o: number): number {
    if (o >>> 0 > this.#last16) slowCheck(this.#lease, o, 2, this.byteLength);
    return this.#dv.getUint16(this.#base + o, true);
  }
  getI16(o: number): number {
    if (o >>> 0 > this.#last16) slowCheck(this.#lease, o, 2, this.byteLength);
    return this.#dv.getInt16(this.#base + o, true);
  }
  getU32(o: number): number {
    if (o >>> 0 > this.#last32) slowCheck(this.#lease, o, 4, this.byteLength);
    return this.#dv.getUint32(this.#base + o, true);
  }
  getI32(o: number): number {
    if (o >>> 0 > this.#last32) slowCheck(this.#lease, o, 4, this.byteLength);
    return this.#dv.getInt32(this.#base + o, true);
  }
  getU64(o: number): bigint {
    if (o >>> 0 > this.#last64) slowCheck(this.#lease, o, 8, this.byteLength);
    return this.#dv.getBigUint64(this.#base + o, true);
  }
  setU8(o: number, v: number): void {
    if (o >>> 0 > this.#last8) slowCheck(this.#lease, o, 1, this.byteLength);
    this.#dv.setUint8(this.#base + o, v);
  }
  setU16(o: number, v: number): void {
    if (o >>> 0 > this.#last16) slowCheck(this.#lease, o, 2, this.byteLength);
    this.#dv.setUint16(this.#base + o, v, true);
  }
  setU32(o: number, v: number): void {
    if (o >>> 0 > this.#last32) slowCheck(this.#lease, o, 4, this.byteLength);
    this.#dv.setUint32(this.#base + o, v, true);
  }
  setU64(o: number, v: bigint): void {
    if (o >>> 0 > this.#last64) slowCheck(this.#lease, o, 8, this.byteLength);
    this.#dv.setBigUint64(this.#base + o, BigInt.asUintN(64, v), true);
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
