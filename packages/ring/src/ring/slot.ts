// Slot access without allocation: a ring owns one SlotWriter cursor per side and repositions it
// for every slot it hands out; a reader copies a slot once into a SlotSnapshot it owns
// (RING_COPY_REQUEST / RING_COPY_RESPONSE, the XSA-155 rule: never read a shared slot twice).

import { decodeStruct, type StructValue } from "../layout/struct-codec.ts";
import type { StructLayout } from "../layout/struct-layout.ts";
import type { AccessLease } from "../memory/access-lease.ts";
import { type ByteReader, type ByteWriter, checkRange, OutOfBoundsError } from "../memory/byte-access.ts";
import { PAGE_SIZE } from "../memory/page.ts";
import type { PageSequence } from "./page-sequence.ts";
import { SRING_HEADER_SIZE } from "./shared-ring.ts";

/**
 * Where each slot of a ring lives, computed once at attach time: the page's DataView and the
 * offset inside it when the slot fits in one page (the common case), else only its absolute
 * offset in the sequence.
 */
export class RingSlots {
  readonly absolute: number[] = [];
  readonly dv: (DataView | undefined)[] = [];
  readonly base: number[] = [];
  readonly lease: (AccessLease | undefined)[] = [];
  readonly bytes: (Uint8Array | undefined)[] = [];

  constructor(
    readonly seq: PageSequence,
    readonly slotSize: number,
    readonly count: number,
  ) {
    for (let s = 0; s < count; s++) {
      const abs = SRING_HEADER_SIZE + s * slotSize;
      const page = Math.floor(abs / PAGE_SIZE);
      const off = abs % PAGE_SIZE;
      this.absolute.push(abs);
      if (off + slotSize <= PAGE_SIZE) {
        const p = seq.pageInternals(page);
        this.dv.push(p.dv);
        this.base.push(off);
        this.lease.push(p.lease);
        this.bytes.push(p.u8.subarray(off, off + slotSize));
      } else {
        this.dv.push(undefined);
        this.base.push(0);
        this.lease.push(undefined);
        this.bytes.push(undefined);
      }
    }
  }

  /** Copies the first `length` bytes of slot `s` into `dst` in one pass. */
  copyOut(s: number, dst: Uint8Array, length: number): void {
    const b = this.bytes[s];
    if (b !== undefined) {
      (this.lease[s] as AccessLease).check();
      if (length === b.length) dst.set(b);
      else dst.set(b.subarray(0, length));
    } else {
      this.seq.copyOut(this.absolute[s] as number, dst, 0, length);
    }
  }
}

/** A write cursor over one slot of shared memory. Valid until its ring hands out the next slot. */
export class SlotWriter implements ByteWriter {
  readonly byteLength: number;
  #dv: DataView | undefined;
  #base = 0;
  #abs = 0;
  #lease: AccessLease | undefined;
  readonly #slots: RingSlots;

  constructor(slots: RingSlots, size: number) {
    this.#slots = slots;
    this.byteLength = size;
  }

  /** Package-internal: point the cursor at slot `s`. */
  position(s: number): this {
    const slots = this.#slots;
    this.#dv = slots.dv[s];
    this.#base = slots.base[s] as number;
    this.#abs = slots.absolute[s] as number;
    this.#lease = slots.lease[s];
    return this;
  }

  #at(offset: number, size: number): DataView | undefined {
    if (!(offset >= 0 && offset + size <= this.byteLength))
      throw new OutOfBoundsError(offset, size, this.byteLength);
    const dv = this.#dv;
    if (dv !== undefined) (this.#lease as AccessLease).check();
    return dv;
  }

  getU8(o: number): number {
    const dv = this.#at(o, 1);
    return dv ? dv.getUint8(this.#base + o) : this.#slots.seq.getU8(this.#abs + o);
  }
  getI8(o: number): number {
    const dv = this.#at(o, 1);
    return dv ? dv.getInt8(this.#base + o) : this.#slots.seq.getI8(this.#abs + o);
  }
  getU16(o: number): number {
    const dv = this.#at(o, 2);
    return dv ? dv.getUint16(this.#base + o, true) : this.#slots.seq.getU16(this.#abs + o);
  }
  getI16(o: number): number {
    const dv = this.#at(o, 2);
    return dv ? dv.getInt16(this.#base + o, true) : this.#slots.seq.getI16(this.#abs + o);
  }
  getU32(o: number): number {
    const dv = this.#at(o, 4);
    return dv ? dv.getUint32(this.#base + o, true) : this.#slots.seq.getU32(this.#abs + o);
  }
  getI32(o: number): number {
    const dv = this.#at(o, 4);
    return dv ? dv.getInt32(this.#base + o, true) : this.#slots.seq.getI32(this.#abs + o);
  }
  getU64(o: number): bigint {
    const dv = this.#at(o, 8);
    return dv ? dv.getBigUint64(this.#base + o, true) : this.#slots.seq.getU64(this.#abs + o);
  }
  setU8(o: number, v: number): void {
    const dv = this.#at(o, 1);
    if (dv) dv.setUint8(this.#base + o, v);
    else this.#slots.seq.setU8(this.#abs + o, v);
  }
  setU16(o: number, v: number): void {
    const dv = this.#at(o, 2);
    if (dv) dv.setUint16(this.#base + o, v, true);
    else this.#slots.seq.setU16(this.#abs + o, v);
  }
  setU32(o: number, v: number): void {
    const dv = this.#at(o, 4);
    if (dv) dv.setUint32(this.#base + o, v, true);
    else this.#slots.seq.setU32(this.#abs + o, v);
  }
  setU64(o: number, v: bigint): void {
    const dv = this.#at(o, 8);
    if (dv) dv.setBigUint64(this.#base + o, BigInt.asUintN(64, v), true);
    else this.#slots.seq.setU64(this.#abs + o, v);
  }
  copyOut(o: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#slots.seq.copyOut(this.#abs + o, dst, dstOffset, length);
  }
  copyIn(o: number, src: Uint8Array, srcOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    this.#slots.seq.copyIn(this.#abs + o, src, srcOffset, length);
  }
  fill(value: number, o = 0, length = this.byteLength - o): void {
    checkRange(o, length, this.byteLength);
    this.#slots.seq.fill(value, this.#abs + o, length);
  }
}

/**
 * A private copy of one request or response (the `dest` of RING_COPY_*). The peer cannot change
 * it after the copy; decode fields from here, never from the shared slot.
 */
export class SlotSnapshot<L extends StructLayout = StructLayout> implements ByteReader {
  readonly bytes: Uint8Array;
  readonly byteLength: number;
  readonly #dv: DataView;

  constructor(readonly layout: L) {
    this.bytes = new Uint8Array(layout.size);
    this.byteLength = layout.size;
    this.#dv = new DataView(this.bytes.buffer);
  }

  getU8(o: number): number {
    return this.#dv.getUint8(o);
  }
  getI8(o: number): number {
    return this.#dv.getInt8(o);
  }
  getU16(o: number): number {
    return this.#dv.getUint16(o, true);
  }
  getI16(o: number): number {
    return this.#dv.getInt16(o, true);
  }
  getU32(o: number): number {
    return this.#dv.getUint32(o, true);
  }
  getI32(o: number): number {
    return this.#dv.getInt32(o, true);
  }
  getU64(o: number): bigint {
    return this.#dv.getBigUint64(o, true);
  }
  copyOut(o: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    checkRange(dstOffset, length, dst.length);
    dst.set(this.bytes.subarray(o, o + length), dstOffset);
  }

  /** All fields as an object (allocates; for control paths and tests). */
  decode(): StructValue<L> {
    return decodeStruct(this.layout, this);
  }
}
