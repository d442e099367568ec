// A private copy of one request or response — the `dest` of RING_COPY_REQUEST /
// RING_COPY_RESPONSE. The peer cannot change it after the copy (XSA-155: never read a shared slot
// twice), so decode fields from here, never from the shared slot.
//
// Where the copy lives: a ring copies every slot it validates (unconsumedRequests /
// unconsumedResponses) in one pass into a private mirror of the ring area (ring-slots.ts), and
// takeRequest / takeResponse then point the snapshot at that slot of the mirror instead of copying
// the bytes a second time. The mirror slot of a taken request is never written again until the
// peer has reused the slot, i.e. until after the request was answered, so the snapshot reads the
// same bytes until its ring hands it the next slot — exactly the life of the C `dest` struct a
// driver reuses per request. Reads go through typed-array views of the private bytes (one
// comparison each, like the slot cursors in slot-writer.ts), not a DataView.
import { decodeStruct, type StructValue } from "../layout/struct-codec.ts";
import type { StructLayout } from "../layout/struct-layout.ts";
import { type ByteReader, checkRange, OutOfBoundsError } from "../memory/byte-access.ts";

/** Thrown when a ring is handed a snapshot of another layout (a caller bug). */
export function notASnapshotFor(ring: string): never {
  throw new TypeError(`${ring}: snapshot has the wrong size for this ring`);
}

/** Host byte order: the typed-array fast path is only used on little-endian hosts (every Xen ABI is). */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Package-internal: the views of a private byte buffer that snapshots read through. */
export interface SnapshotViews {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly dv: DataView;
  /**
   * Whether every base a snapshot is pointed at in this buffer is 4-aligned (every Xen ring's
   * slots are): only then are halfwords and words read through u16/u32, else through the DataView.
   */
  readonly aligned: boolean;
}

/** Package-internal: views of `buffer` (length a multiple of 4). */
export function snapshotViews(buffer: ArrayBuffer, aligned: boolean): SnapshotViews {
  return {
    u8: new Uint8Array(buffer),
    u16: new Uint16Array(buffer),
    u32: new Uint32Array(buffer),
    dv: new DataView(buffer),
    aligned: aligned && HOST_LE,
  };
}

let slowGet: (s: SlotSnapshot, o: number, size: 1 | 2 | 4, signed: boolean) => number;

export class SlotSnapshot<L extends StructLayout = StructLayout> implements ByteReader {
  readonly byteLength: number;
  /** This snapshot's own buffer (holds the bytes until a ring points it at its mirror). */
  readonly #own: SnapshotViews;
  /** The views currently read through: #own, or a ring's mirror. */
  #views: SnapshotViews;
  #u8: Uint8Array;
  #u16: Uint16Array;
  #u32: Uint32Array;
  #dv: DataView;
  #base = 0;
  // Largest offset the fast path takes for a 1-, 2- and 4-byte read (-1: none, slow path only).
  readonly #last8: number;
  #last16: number;
  #last32: number;

  constructor(readonly layout: L) {
    this.byteLength = layout.size;
    this.#own = snapshotViews(new ArrayBuffer(Math.ceil(layout.size / 4) * 4), true);
    this.#views = this.#own;
    this.#u8 = this.#own.u8;
    this.#u16 = this.#own.u16;
    this.#u32 = this.#own.u32;
    this.#dv = this.#own.dv;
    this.#last8 = layout.size - 1;
    this.#last16 = HOST_LE ? layout.size - 2 : -1;
    this.#last32 = HOST_LE ? layout.size - 4 : -1;
  }

  /**
   * The snapshot's bytes, as a writable array of `byteLength` bytes that later reads see (e.g. to
   * replay a saved request). Moves the bytes into the snapshot's own buffer first; allocates a
   * view, so for control paths.
   */
  get bytes(): Uint8Array {
    this.#detach();
    return this.#own.u8.subarray(0, this.byteLength);
  }

  /** The same bytes as 32-bit words (length rounded up); see `bytes`. */
  get words(): Int32Array {
    this.#detach();
    return new Int32Array(this.#own.u8.buffer);
  }

  #detach(): void {
    if (this.#u8 === this.#own.u8) return;
    const n = this.#own.u8.length;
    const src = this.#u8.subarray(this.#base, Math.min(this.#base + n, this.#u8.length));
    this.#own.u8.fill(0);
    this.#own.u8.set(src);
    this.at(this.#own, 0);
  }

  /**
   * Package-internal (rings): read the `byteLength` bytes at `base` of the private views `v`.
   * Kept tiny so that a ring's takeRequest / takeResponse inlines it: within one ring's mirror
   * only the base moves.
   * @internal
   */
  at(v: SnapshotViews, base: number): void {
    if (this.#views !== v) this.#bind(v);
    this.#base = base;
  }

  #bind(v: SnapshotViews): void {
    this.#views = v;
    this.#u8 = v.u8;
    this.#u16 = v.u16;
    this.#u32 = v.u32;
    this.#dv = v.dv;
    this.#last16 = v.aligned ? this.byteLength - 2 : -1;
    this.#last32 = v.aligned ? this.byteLength - 4 : -1;
  }

  static {
    // Out-of-range offsets throw; valid ones the fast path refused (unaligned, or an unaligned
    // base) read through the DataView.
    slowGet = (s, o, size, signed) => {
      if (!(o >= 0 && o + size <= s.byteLength)) throw new OutOfBoundsError(o, size, s.byteLength);
      const dv = s.#dv;
      const a = s.#base + o;
      if (size === 1) return signed ? dv.getInt8(a) : dv.getUint8(a);
      if (size === 2) return signed ? dv.getInt16(a, true) : dv.getUint16(a, true);
      return signed ? dv.getInt32(a, true) : dv.getUint32(a, true);
    };
  }

  // `o >>> 0` maps negative offsets to huge ones, so one comparison bounds both ends.
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
    if (!(o >= 0 && o + 8 <= this.byteLength)) throw new OutOfBoundsError(o, 8, this.byteLength);
    return this.#dv.getBigUint64(this.#base + o, true);
  }
  copyOut(o: number, dst: Uint8Array, dstOffset: number, length: number): void {
    checkRange(o, length, this.byteLength);
    checkRange(dstOffset, length, dst.length);
    dst.set(this.#u8.subarray(this.#base + o, this.#base + o + length), dstOffset);
  }

  /** All fields as an object (allocates; for control paths and tests). */
  decode(): StructValue<L> {
    return decodeStruct(this.layout, this);
  }
}
