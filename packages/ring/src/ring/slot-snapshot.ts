// A private copy of one request or response — the `dest` of RING_COPY_REQUEST /
// RING_COPY_RESPONSE. The peer cannot change it after the copy (XSA-155: never read a shared slot
// twice), so decode fields from here, never from the shared slot.
import { decodeStruct, type StructValue } from "../layout/struct-codec.ts";
import type { StructLayout } from "../layout/struct-layout.ts";
import { type ByteReader, checkRange } from "../memory/byte-access.ts";

/** Thrown when a ring is handed a snapshot of another layout (a caller bug). */
export function notASnapshotFor(ring: string): never {
  throw new TypeError(`${ring}: snapshot has the wrong size for this ring`);
}

export class SlotSnapshot<L extends StructLayout = StructLayout> implements ByteReader {
  readonly bytes: Uint8Array;
  /** The same private bytes as 32-bit words (length rounded up), for the ring's word copy. */
  readonly words: Int32Array;
  readonly byteLength: number;
  readonly #dv: DataView;

  constructor(readonly layout: L) {
    const buffer = new ArrayBuffer(Math.ceil(layout.size / 4) * 4);
    this.bytes = new Uint8Array(buffer, 0, layout.size);
    this.words = new Int32Array(buffer);
    this.byteLength = layout.size;
    this.#dv = new DataView(buffer, 0, layout.size);
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
