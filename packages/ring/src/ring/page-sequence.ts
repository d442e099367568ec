// The bytes of a ring: 2^order separately granted 4 KiB pages seen as one contiguous range, as
// Linux's xenbus_map_ring_valloc presents them to a back end (and as the front end allocates
// them). Offsets may straddle page boundaries (e.g. x86_32 blkif slots are 108 bytes); accesses
// that stay within one page take a fast path straight to that page's DataView.
import type { AccessLease } from "../memory/access-lease.ts";
import { type ByteWriter, checkRange, OutOfBoundsError } from "../memory/byte-access.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../memory/page.ts";
import { pageInternals, type WritablePage } from "../memory/page-view.ts";

const OFFSET_MASK = PAGE_SIZE - 1;

export class PageSequence implements ByteWriter {
  readonly byteLength: number;
  readonly #dvs: DataView[];
  readonly #u8s: Uint8Array[];
  readonly #leases: AccessLease[];
  readonly #scratch = new DataView(new ArrayBuffer(8)); // assembles values that straddle pages

  /** A sequence over writable pages (a ring needs write access on both sides). */
  static of(pages: readonly WritablePage[]): PageSequence {
    return new PageSequence(pages);
  }

  private constructor(pages: readonly WritablePage[]) {
    if (pages.length === 0) throw new RangeError("a page sequence needs at least one page");
    const internals = pages.map((p) => pageInternals(p));
    if (internals.some((i) => !i.writable)) throw new TypeError("a ring cannot live in a read-only mapping");
    this.#dvs = internals.map((i) => i.dv);
    this.#u8s = internals.map((i) => i.u8);
    this.#leases = internals.map((i) => i.lease);
    this.byteLength = pages.length * PAGE_SIZE;
  }

  get pageCount(): number {
    return this.#dvs.length;
  }

  /** Package-internal: raw access to page `i` for precomputed slot views. */
  pageInternals(i: number): { dv: DataView; u8: Uint8Array; lease: AccessLease } {
    const dv = this.#dvs[i];
    if (dv === undefined) throw new RangeError(`no page ${i}`);
    return { dv, u8: this.#u8s[i] as Uint8Array, lease: this.#leases[i] as AccessLease };
  }

  // Returns the page's DataView if [offset, offset+size) lies in one page, after the lease check;
  // undefined if it straddles. Throws on out-of-range offsets.
  #direct(offset: number, size: number): DataView | undefined {
    if (!(offset >= 0 && offset + size <= this.byteLength))
      throw new OutOfBoundsError(offset, size, this.byteLength);
    const p = offset >>> PAGE_SHIFT;
    if ((offset & OFFSET_MASK) + size > PAGE_SIZE) return undefined;
    (this.#leases[p] as AccessLease).check();
    return this.#dvs[p] as DataView;
  }

  #gather(offset: number, size: number): DataView {
    for (let i = 0; i < size; i++) this.#scratch.setUint8(i, this.getU8(offset + i));
    return this.#scratch;
  }

  #scatter(offset: number, size: number): void {
    for (let i = 0; i < size; i++) this.setU8(offset + i, this.#scratch.getUint8(i));
  }

  getU8(offset: number): number {
    return (this.#direct(offset, 1) as DataView).getUint8(offset & OFFSET_MASK);
  }
  getI8(offset: number): number {
    return (this.#direct(offset, 1) as DataView).getInt8(offset & OFFSET_MASK);
  }
  getU16(offset: number): number {
    const dv = this.#direct(offset, 2);
    return dv ? dv.getUint16(offset & OFFSET_MASK, true) : this.#gather(offset, 2).getUint16(0, true);
  }
  getI16(offset: number): number {
    const dv = this.#direct(offset, 2);
    return dv ? dv.getInt16(offset & OFFSET_MASK, true) : this.#gather(offset, 2).getInt16(0, true);
  }
  getU32(offset: number): number {
    const dv = this.#direct(offset, 4);
    return dv ? dv.getUint32(offset & OFFSET_MASK, true) : this.#gather(offset, 4).getUint32(0, true);
  }
  getI32(offset: number): number {
    const dv = this.#direct(offset, 4);
    return dv ? dv.getInt32(offset & OFFSET_MASK, true) : this.#gather(offset, 4).getInt32(0, true);
  }
  getU64(offset: number): bigint {
    const dv = this.#direct(offset, 8);
    return dv ? dv.getBigUint64(offset & OFFSET_MASK, true) : this.#gather(offset, 8).getBigUint64(0, true);
  }

  setU8(offset: number, value: number): void {
    (this.#direct(offset, 1) as DataView).setUint8(offset & OFFSET_MASK, value);
  }
  setU16(offset: number, value: number): void {
    const dv = this.#direct(offset, 2);
    if (dv) dv.setUint16(offset & OFFSET_MASK, value, true);
    else {
      this.#scratch.setUint16(0, value, true);
      this.#scatter(offset, 2);
    }
  }
  setU32(offset: number, value: number): void {
    const dv = this.#direct(offset, 4);
    if (dv) dv.setUint32(offset & OFFSET_MASK, value, true);
    else {
      this.#scratch.setUint32(0, value, true);
      this.#scatter(offset, 4);
    }
  }
  setU64(offset: number, value: bigint): void {
    const dv = this.#direct(offset, 8);
    const v = BigInt.asUintN(64, value);
    if (dv) dv.setBigUint64(offset & OFFSET_MASK, v, true);
    else {
      this.#scratch.setBigUint64(0, v, true);
      this.#scatter(offset, 8);
    }
  }

  copyOut(offset: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(offset, length, this.byteLength);
    checkRange(dstOffset, length, dst.length);
    while (length > 0) {
      const p = offset >>> PAGE_SHIFT;
      const o = offset & OFFSET_MASK;
      const n = Math.min(length, PAGE_SIZE - o);
      (this.#leases[p] as AccessLease).check();
      dst.set((this.#u8s[p] as Uint8Array).subarray(o, o + n), dstOffset);
      offset += n;
      dstOffset += n;
      length -= n;
    }
  }

  copyIn(offset: number, src: Uint8Array, srcOffset: number, length: number): void {
    checkRange(offset, length, this.byteLength);
    checkRange(srcOffset, length, src.length);
    while (length > 0) {
      const p = offset >>> PAGE_SHIFT;
      const o = offset & OFFSET_MASK;
      const n = Math.min(length, PAGE_SIZE - o);
      (this.#leases[p] as AccessLease).check();
      (this.#u8s[p] as Uint8Array).set(src.subarray(srcOffset, srcOffset + n), o);
      offset += n;
      srcOffset += n;
      length -= n;
    }
  }

  fill(value: number, offset = 0, length = this.byteLength - offset): void {
    checkRange(offset, length, this.byteLength);
    while (length > 0) {
      const p = offset >>> PAGE_SHIFT;
      const o = offset & OFFSET_MASK;
      const n = Math.min(length, PAGE_SIZE - o);
      (this.#leases[p] as AccessLease).check();
      (this.#u8s[p] as Uint8Array).fill(value, o, o + n);
      offset += n;
      length -= n;
    }
  }
}
