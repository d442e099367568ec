// Views of one 4 KiB page. A domain reaches a page only through a view: its own pages through
// GuestMemory, another domain's pages through a grant mapping (Hypervisor.map). A view carries an
// AccessLease, so unmapping/releasing makes it stale, and a writable flag, so a read-only view
// cannot be written through even by casting its type away.
import type { AccessLease } from "./access-lease.ts";
import { type ByteReader, type ByteWriter, checkRange } from "./byte-access.ts";
import { PAGE_SIZE } from "./page.ts";

/** Thrown by every setter of a read-only view. */
export class ReadOnlyPageError extends Error {
  override readonly name = "ReadOnlyPageError";
  constructor(readonly what: string) {
    super(`${what} is mapped read-only`);
  }
}

/** A page that can be read (a read-only grant mapping, or any page). */
export interface ReadablePage extends ByteReader {
  /** Whether setters work; false for read-only views. */
  readonly writable: boolean;
  /** False once the mapping was unmapped / the frame released; every access then throws. */
  readonly live: boolean;
  /** A copy of `length` bytes at `offset` (private memory: later peer writes do not change it). */
  readBytes(offset: number, length: number): Uint8Array;
}

/** A page that can also be written. */
export interface WritablePage extends ReadablePage, ByteWriter {
  /** The same page and lease, without write access. */
  readOnly(): ReadablePage;
}

/** Package-internal raw access for the ring fast path (not exported from the package index). */
export interface PageInternals {
  readonly dv: DataView;
  readonly u8: Uint8Array;
  readonly lease: AccessLease;
  readonly writable: boolean;
}

let internalsOf: (view: PageView) => PageInternals;

// One DataView/Uint8Array pair per page buffer, shared by every view of that page: a map or a
// page() call then costs one lookup instead of two typed-array allocations.
const rawViews = new WeakMap<ArrayBuffer, { readonly dv: DataView; readonly u8: Uint8Array }>();
/** Package-internal: the shared raw views of a page buffer (Hypervisor grant copy uses the bytes). */
export function rawViewsOf(buffer: ArrayBuffer): { readonly dv: DataView; readonly u8: Uint8Array } {
  let v = rawViews.get(buffer);
  if (v === undefined) {
    v = { dv: new DataView(buffer), u8: new Uint8Array(buffer) };
    rawViews.set(buffer, v);
  }
  return v;
}

/** The one implementation of ReadablePage/WritablePage; `writable` is fixed at construction. */
export class PageView implements WritablePage {
  readonly #dv: DataView;
  readonly #u8: Uint8Array;
  readonly #lease: AccessLease;
  readonly #writable: boolean;
  readonly byteLength = PAGE_SIZE;

  static {
    internalsOf = (v) => ({ dv: v.#dv, u8: v.#u8, lease: v.#lease, writable: v.#writable });
  }

  constructor(buffer: ArrayBuffer, lease: AccessLease, writable: boolean) {
    if (buffer.byteLength !== PAGE_SIZE) throw new RangeError("a page is 4096 bytes");
    const raw = rawViewsOf(buffer);
    this.#dv = raw.dv;
    this.#u8 = raw.u8;
    this.#lease = lease;
    this.#writable = writable;
  }

  get writable(): boolean {
    return this.#writable;
  }

  get live(): boolean {
    return !this.#lease.ended;
  }

  readOnly(): ReadablePage {
    return new PageView(this.#u8.buffer as ArrayBuffer, this.#lease, false);
  }

  getU8(offset: number): number {
    this.#lease.check();
    return this.#dv.getUint8(offset);
  }
  getI8(offset: number): number {
    this.#lease.check();
    return this.#dv.getInt8(offset);
  }
  getU16(offset: number): number {
    this.#lease.check();
    return this.#dv.getUint16(offset, true);
  }
  getI16(offset: number): number {
    this.#lease.check();
    return this.#dv.getInt16(offset, true);
  }
  getU32(offset: number): number {
    this.#lease.check();
    return this.#dv.getUint32(offset, true);
  }
  getI32(offset: number): number {
    this.#lease.check();
    return this.#dv.getInt32(offset, true);
  }
  getU64(offset: number): bigint {
    this.#lease.check();
    return this.#dv.getBigUint64(offset, true);
  }
  copyOut(offset: number, dst: Uint8Array, dstOffset: number, length: number): void {
    this.#lease.check();
    checkRange(offset, length, PAGE_SIZE);
    checkRange(dstOffset, length, dst.length);
    dst.set(this.#u8.subarray(offset, offset + length), dstOffset);
  }
  readBytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.copyOut(offset, out, 0, length);
    return out;
  }

  #checkWrite(): void {
    this.#lease.check();
    if (!this.#writable) throw new ReadOnlyPageError(this.#lease.what);
  }
  setU8(offset: number, value: number): void {
    this.#checkWrite();
    this.#dv.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    this.#checkWrite();
    this.#dv.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    this.#checkWrite();
    this.#dv.setUint32(offset, value, true);
  }
  setU64(offset: number, value: bigint): void {
    this.#checkWrite();
    this.#dv.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }
  copyIn(offset: number, src: Uint8Array, srcOffset: number, length: number): void {
    this.#checkWrite();
    checkRange(offset, length, PAGE_SIZE);
    checkRange(srcOffset, length, src.length);
    this.#u8.set(src.subarray(srcOffset, srcOffset + length), offset);
  }
  fill(value: number, offset = 0, length = PAGE_SIZE - offset): void {
    this.#checkWrite();
    checkRange(offset, length, PAGE_SIZE);
    this.#u8.fill(value, offset, offset + length);
  }
}

/** Raw DataView/lease of a view, for PageSequence's allocation-free slot access. */
export function pageInternals(view: ReadablePage): PageInternals {
  if (!(view instanceof PageView)) throw new TypeError("not a page view from @xensim/ring");
  return internalsOf(view);
}
