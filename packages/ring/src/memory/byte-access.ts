// The two capabilities every byte region in this package offers (a page, a multi-page ring area,
// one ring slot, a private snapshot of a slot). All multi-byte values are little-endian, as on
// every Xen ABI we model (x86_32, x86_64).

/** Read access to a little-endian byte region. Offsets are relative to the region. */
export interface ByteReader {
  readonly byteLength: number;
  getU8(offset: number): number;
  getI8(offset: number): number;
  getU16(offset: number): number;
  getI16(offset: number): number;
  getU32(offset: number): number;
  getI32(offset: number): number;
  getU64(offset: number): bigint;
  /** Copies `length` bytes starting at `offset` into `dst[dstOffset...]`. */
  copyOut(offset: number, dst: Uint8Array, dstOffset: number, length: number): void;
}

/** Read and write access. Setters take the value modulo 2^bits (so -1 stored as u16 is 0xFFFF). */
export interface ByteWriter extends ByteReader {
  setU8(offset: number, value: number): void;
  setU16(offset: number, value: number): void;
  setU32(offset: number, value: number): void;
  setU64(offset: number, value: bigint): void;
  /** Copies `length` bytes from `src[srcOffset...]` to `offset`. */
  copyIn(offset: number, src: Uint8Array, srcOffset: number, length: number): void;
  fill(value: number, offset?: number, length?: number): void;
}

/** Thrown when an access would leave its region: a caller bug, never a peer-controlled outcome. */
export class OutOfBoundsError extends RangeError {
  override readonly name = "OutOfBoundsError";
  constructor(offset: number, length: number, limit: number) {
    super(`access [${offset}, ${offset + length}) outside region of ${limit} bytes`);
  }
}

/** Throws OutOfBoundsError unless [offset, offset+length) lies inside [0, limit). */
export function checkRange(offset: number, length: number, limit: number): void {
  if (!(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0)) {
    throw new OutOfBoundsError(offset, length, limit);
  }
  if (offset + length > limit) throw new OutOfBoundsError(offset, length, limit);
}
