// Incremental frame parser: bytes in any chunking (one byte at a time included) → frames.
// Mirrors cx read_buffered_data()/handle_input(): header first, then `len` payload bytes;
// a header with len > XENSTORE_PAYLOAD_MAX is a fatal protocol error.
import { XsFrameError } from "./errors.ts";
import { decodeHeader, type XsFrame } from "./frame.ts";
import { XENSTORE_PAYLOAD_MAX, XS_HEADER_SIZE } from "./xs-wire.ts";

export interface FrameParserOptions {
  /** Largest accepted payload (default XENSTORE_PAYLOAD_MAX). */
  maxPayload?: number;
}

/**
 * Pull-based: `push()` bytes, then call `next()` until it returns `null` (needs more bytes).
 * After an `XsFrameError` the parser is failed for good and keeps returning that error.
 */
export class FrameParser {
  private buf = new Uint8Array(64);
  private start = 0;
  private end = 0;
  private failed: XsFrameError | null = null;
  private readonly maxPayload: number;

  constructor(options: FrameParserOptions = {}) {
    this.maxPayload = options.maxPayload ?? XENSTORE_PAYLOAD_MAX;
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** The fatal error, once one was reported. */
  get error(): XsFrameError | null {
    return this.failed;
  }

  push(chunk: Uint8Array): void {
    if (this.failed || chunk.length === 0) return;
    const used = this.end - this.start;
    if (this.end + chunk.length > this.buf.length) {
      if (used + chunk.length <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        let cap = this.buf.length;
        while (cap < used + chunk.length) cap *= 2;
        const nb = new Uint8Array(cap);
        nb.set(this.buf.subarray(this.start, this.end));
        this.buf = nb;
      }
      this.start = 0;
      this.end = used;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The next complete frame, a fatal error, or `null` when more bytes are needed. */
  next(): XsFrame | XsFrameError | null {
    if (this.failed) return this.failed;
    const avail = this.end - this.start;
    if (avail < XS_HEADER_SIZE) return null;
    const h = decodeHeader(this.buf, this.start);
    if (h.len > this.maxPayload) {
      this.failed = new XsFrameError(
        "oversized",
        `frame payload length ${h.len} exceeds ${this.maxPayload}`,
        h,
      );
      return this.failed;
    }
    if (avail < XS_HEADER_SIZE + h.len) return null;
    const p0 = this.start + XS_HEADER_SIZE;
    const payload = this.buf.slice(p0, p0 + h.len);
    this.start = p0 + h.len;
    if (this.start === this.end) this.start = this.end = 0;
    return { type: h.type, reqId: h.reqId, txId: h.txId, payload };
  }

  /** Every complete frame available now (stops at, and includes, a fatal error). */
  drain(): (XsFrame | XsFrameError)[] {
    const out: (XsFrame | XsFrameError)[] = [];
    for (;;) {
      const f = this.next();
      if (f === null) return out;
      out.push(f);
      if (f instanceof XsFrameError) return out;
    }
  }

  /** A copy of the buffered, not yet returned bytes (snapshots). */
  pendingBytes(): Uint8Array {
    return this.buf.slice(this.start, this.end);
  }

  /** At end of stream: a `truncated` error if a partial frame is buffered, else `null`. */
  finish(): XsFrameError | null {
    if (this.failed) return this.failed;
    if (this.end - this.start === 0) return null;
    return new XsFrameError(
      "truncated",
      `stream ended with ${this.end - this.start} bytes of a partial frame`,
    );
  }
}
