// struct xsd_sockmsg (xs_wire.h): the 16-byte little-endian header and whole frames.
import { XENSTORE_PAYLOAD_MAX, XS_HEADER_SIZE } from "./xs-wire.ts";

export interface XsHeader {
  type: number;
  reqId: number;
  txId: number;
  len: number;
}

/** One message: header fields and its payload (`len` = payload.length). */
export interface XsFrame {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** A little-endian u32 field of xsd_sockmsg at bytes[at], without a DataView (hot paths). */
export function readU32LE(b: Uint8Array, at: number): number {
  return (
    ((b[at] as number) |
      ((b[at + 1] as number) << 8) |
      ((b[at + 2] as number) << 16) |
      ((b[at + 3] as number) << 24)) >>>
    0
  );
}

/** Reads a header at `offset` (needs 16 bytes). */
export function decodeHeader(bytes: Uint8Array, offset = 0): XsHeader {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, XS_HEADER_SIZE);
  return {
    type: dv.getUint32(0, true),
    reqId: dv.getUint32(4, true),
    txId: dv.getUint32(8, true),
    len: dv.getUint32(12, true),
  };
}

/** Writes a header at `offset`. */
export function encodeHeaderInto(out: Uint8Array, offset: number, h: XsHeader): void {
  const dv = new DataView(out.buffer, out.byteOffset + offset, XS_HEADER_SIZE);
  dv.setUint32(0, h.type >>> 0, true);
  dv.setUint32(4, h.reqId >>> 0, true);
  dv.setUint32(8, h.txId >>> 0, true);
  dv.setUint32(12, h.len >>> 0, true);
}

/**
 * Encodes a frame. The payload is not checked against XENSTORE_PAYLOAD_MAX, so tests can
 * build hostile frames; use {@link frameFits} to check.
 */
export function encodeFrame(frame: XsFrame): Uint8Array {
  const out = new Uint8Array(XS_HEADER_SIZE + frame.payload.length);
  encodeHeaderInto(out, 0, {
    type: frame.type,
    reqId: frame.reqId,
    txId: frame.txId,
    len: frame.payload.length,
  });
  out.set(frame.payload, XS_HEADER_SIZE);
  return out;
}

/** Whether a payload length is legal on the wire. */
export function frameFits(payloadLength: number): boolean {
  return payloadLength <= XENSTORE_PAYLOAD_MAX;
}
