// XsConnection: the transport-neutral connection (cx `struct connection`). Raw client bytes
// in (`deliver`, any chunking), raw server bytes out (pulled with `takeOutput`, whole or
// partial frames). The ring transport and the socket daemon both drive one of these.
import { XsFrameError } from "../wire/errors.ts";
import { encodeFrame, type XsFrame } from "../wire/frame.ts";
import { FrameParser } from "../wire/frame-parser.ts";
import { copyBytes, encodeWatchEvent } from "../wire/payload.ts";
import { XS_HEADER_SIZE, XsType } from "../wire/xs-wire.ts";
import type { Session } from "./session.ts";

/** What the connection needs from its server (internal). */
export interface ConnectionHost {
  processFrame(conn: XsConnection, frame: XsFrame): void;
  /** processFrame() of the whole frame bytes[off, end), read in place */
  processWholeFrame(conn: XsConnection, bytes: Uint8Array, off: number, end: number): void;
  connectionClosed(conn: XsConnection, reason: string): void;
  protocolError(conn: XsConnection, error: XsFrameError): void;
  /** start of a top-level call: batches output notifications */
  enter(): void;
  leave(): void;
  markOutput(conn: XsConnection): void;
}

interface OutFrame {
  readonly bytes: Uint8Array;
  readonly reply: boolean;
  /** merge key of a watch event (path\0token) */
  readonly key: string | null;
}

export class XsConnection {
  private readonly parser = new FrameParser();
  /**
   * Queued output frames in out[outHead, outTail). Taken slots are cleared, and an emptied
   * queue restarts at 0 without resizing the array (a request-reply client empties it every
   * request).
   */
  private readonly out: (OutFrame | undefined)[] = [];
  private outHead = 0;
  private outTail = 0;
  private outOffset = 0;
  private outTotal = 0;
  private pendingReplies = 0;
  private pendingEvents = 0;
  /** events queued and not yet started, by merge key (XSA-326 coalescing) */
  private readonly mergeable = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private readonly closeListeners = new Set<(reason: string) => void>();
  private _closed = false;
  private _closeReason: string | null = null;
  private _fatal: XsFrameError | null = null;
  private pumping = false;
  /** @internal queued for an output notification (XenStoreServer.markOutput) */
  outputMarked = false;

  /** @internal */
  constructor(
    private readonly host: ConnectionHost,
    /** @internal per-connection protocol state (watches, transactions) */
    readonly session: Session,
    /** input-throttling limit: stop reading with this many replies unread (0 = never) */
    private readonly outstandingLimit: number,
    /** queued watch events cap (0 = none) */
    private readonly eventLimit: number,
  ) {}

  /** Stable id (kept by snapshots, so a transport can re-attach after restore). */
  get id(): number {
    return this.session.id;
  }
  get domid(): number {
    return this.session.domid;
  }
  get label(): string | undefined {
    return this.session.label;
  }
  get closed(): boolean {
    return this._closed;
  }
  /** Why the connection closed (`"closed"`, `"released"`, `"protocol-error"`, …). */
  get closeReason(): string | null {
    return this._closeReason;
  }
  /** The fatal protocol error (e.g. a header with len > 4096) that closed it, if any. */
  get fatalError(): XsFrameError | null {
    return this._fatal;
  }
  /** Bytes of server output waiting to be taken. */
  get outputBytes(): number {
    return this.outTotal - this.outOffset;
  }
  /** Client bytes received but not yet processed (incomplete, or held back by the outstanding quota). */
  get inputBytes(): number {
    return this.parser.bufferedBytes;
  }
  /** Replies queued and not completely taken. */
  get outstandingReplies(): number {
    return this.pendingReplies;
  }
  /** Watch events queued and not completely taken. */
  get queuedEvents(): number {
    return this.pendingEvents;
  }

  /**
   * Client → server bytes, in any chunking. Complete frames are processed synchronously in
   * order, while fewer than the outstanding quota of replies wait unread. Never throws.
   */
  deliver(bytes: Uint8Array): void {
    if (this._closed) return;
    this.host.enter();
    try {
      this.parser.push(bytes);
      this.pump();
    } finally {
      this.host.leave();
    }
  }

  /**
   * @internal deliver() of exactly one whole frame, `bytes[off, end)` (header and its `len`
   * payload bytes, `len` ≤ XENSTORE_PAYLOAD_MAX), for a transport that found it whole at a
   * frame boundary. When no earlier input waits and the outstanding quota allows, the frame is
   * processed in place (cx handle_input() reading straight into the connection's buffer)
   * instead of being copied through the parser; otherwise it takes deliver()'s path. The
   * payload handed to the server is a view of `bytes`: the caller must not reuse that memory.
   */
  deliverWhole(bytes: Uint8Array, off: number, end: number): void {
    if (
      this._closed ||
      this.pumping ||
      this.parser.bufferedBytes > 0 ||
      (this.outstandingLimit > 0 && this.pendingReplies >= this.outstandingLimit)
    ) {
      this.deliver(bytes.subarray(off, end));
      return;
    }
    this.host.enter();
    this.pumping = true;
    try {
      this.host.processWholeFrame(this, bytes, off, end);
    } finally {
      this.pumping = false;
      this.host.leave();
    }
  }

  /** @internal processes buffered frames as far as the outstanding quota allows. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this._closed) {
        if (this.outstandingLimit > 0 && this.pendingReplies >= this.outstandingLimit) break;
        const f = this.parser.next();
        if (f === null) break;
        if (f instanceof XsFrameError) {
          this._fatal = f;
          this.host.protocolError(this, f);
          this.shutdown("protocol-error");
          break;
        }
        this.host.processFrame(this, f);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Takes up to `maxBytes` of output: whole frames, or part of one (the rest follows in the
   * next call). Taking output may unblock held-back input.
   */
  takeOutput(maxBytes = Number.POSITIVE_INFINITY): Uint8Array {
    const n = Math.min(Math.max(0, Math.floor(Math.min(maxBytes, 2 ** 31))), this.outputBytes);
    const first = this.out[this.outHead];
    if (first !== undefined && this.outOffset === 0 && first.bytes.length === n) {
      // the whole output is one untouched frame (a reply to a request-reply client): hand
      // over its bytes, which nothing else references, instead of copying them
      return this.takeWholeFrame(first);
    }
    const res = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const f = this.out[this.outHead]!;
      if (this.outOffset === 0 && f.key !== null) this.unmergeable(f.key);
      const take = Math.min(n - off, f.bytes.length - this.outOffset);
      res.set(f.bytes.subarray(this.outOffset, this.outOffset + take), off);
      off += take;
      this.outOffset += take;
      if (this.outOffset === f.bytes.length) {
        this.outTotal -= f.bytes.length;
        this.outOffset = 0;
        this.out[this.outHead] = undefined;
        this.outHead++;
        if (f.reply) this.pendingReplies--;
        else this.pendingEvents--;
      }
    }
    this.compactOut();
    if (n > 0 && !this._closed && this.parser.bufferedBytes > 0) {
      this.host.enter();
      try {
        this.pump();
      } finally {
        this.host.leave();
      }
    }
    return res;
  }

  /** takeOutput() of exactly the first queued frame, not started: the same bookkeeping. */
  private takeWholeFrame(f: OutFrame): Uint8Array {
    if (f.key !== null) this.unmergeable(f.key);
    this.outTotal -= f.bytes.length;
    this.out[this.outHead] = undefined;
    this.outHead++;
    if (f.reply) this.pendingReplies--;
    else this.pendingEvents--;
    this.compactOut();
    if (!this._closed && this.parser.bufferedBytes > 0) {
      this.host.enter();
      try {
        this.pump();
      } finally {
        this.host.leave();
      }
    }
    return f.bytes;
  }

  /** After taking frames: an empty queue restarts at 0; a long-drained head is cut off. */
  private compactOut(): void {
    if (this.outHead === this.outTail) this.outHead = this.outTail = 0;
    else if (this.outHead > 64 && this.outHead * 2 > this.outTail) {
      this.out.splice(0, this.outHead);
      this.outTail -= this.outHead;
      this.outHead = 0;
    }
  }

  private pushOut(f: OutFrame): void {
    this.out[this.outTail++] = f;
  }

  /** Registers a listener called when output becomes available; returns an unsubscribe function. */
  onOutput(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers a listener called once when the connection closes (any reason). */
  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Closes the connection: its watches and transactions are dropped. */
  close(): void {
    if (this._closed) return;
    this.host.enter();
    try {
      this.shutdown("closed");
    } finally {
      this.host.leave();
    }
  }

  /** @internal */
  shutdown(reason: string): void {
    if (this._closed) return;
    this._closed = true;
    this._closeReason = reason;
    this.out.length = 0;
    this.outHead = this.outTail = this.outOffset = this.outTotal = 0;
    this.pendingReplies = this.pendingEvents = 0;
    this.mergeable.clear();
    this.host.connectionClosed(this, reason);
    for (const l of [...this.closeListeners]) l(reason);
  }

  /** @internal drops queued output and input (cx domain_conn_reset on re-INTRODUCE). */
  resetBuffers(): void {
    this.out.length = 0;
    this.outHead = this.outTail = this.outOffset = this.outTotal = 0;
    this.pendingReplies = this.pendingEvents = 0;
    this.mergeable.clear();
  }

  /** @internal snapshot of the buffers: unprocessed input, queued output frames. */
  exportBuffers(): {
    input: Uint8Array;
    out: { bytes: Uint8Array; reply: boolean; key: string | null }[];
    offset: number;
  } {
    return {
      input: this.parser.pendingBytes(),
      out: this.out.slice(this.outHead, this.outTail) as OutFrame[],
      offset: this.outOffset,
    };
  }

  /** @internal */
  importBuffers(b: {
    input: Uint8Array;
    out: { bytes: Uint8Array; reply: boolean; key: string | null }[];
    offset: number;
  }): void {
    this.parser.push(b.input);
    this.resetBuffers();
    for (const f of b.out) {
      this.pushOut(f);
      this.outTotal += f.bytes.length;
      if (f.reply) this.pendingReplies++;
      else this.pendingEvents++;
    }
    this.outOffset = b.offset;
    b.out.forEach((f, i) => {
      if (f.key !== null && !(i === 0 && b.offset > 0))
        this.mergeable.set(f.key, (this.mergeable.get(f.key) ?? 0) + 1);
    });
  }

  /** @internal */
  notifyOutput(): void {
    if (this.listeners.size === 1) {
      // the usual single transport: no copy of the set (and, as with a copy, a listener
      // added by this call is not called now)
      for (const l of this.listeners) {
        l();
        break;
      }
      return;
    }
    for (const l of [...this.listeners]) l();
  }

  /** @internal queues a reply frame. */
  queueReply(type: number, reqId: number, txId: number, p: Uint8Array): void {
    if (this._closed) return;
    // encodeFrame()'s bytes, written without a DataView per reply (one per request)
    const bytes = allocOutput(XS_HEADER_SIZE + p.length);
    writeU32(bytes, 0, type);
    writeU32(bytes, 4, reqId);
    writeU32(bytes, 8, txId);
    const n = p.length;
    writeU32(bytes, 12, n);
    copyBytes(bytes, XS_HEADER_SIZE, p);
    this.pushOut({ bytes, reply: true, key: null });
    this.outTotal += bytes.length;
    this.pendingReplies++;
    this.host.markOutput(this);
  }

  /**
   * @internal queues a watch event: merged with an identical one still queued and not
   * started (cx XSA-326), dropped when the queue is full.
   */
  queueEvent(path: string, token: string): "queued" | "coalesced" | "queue-full" {
    if (this._closed) return "queued";
    const key = `${path}\0${token}`;
    if ((this.mergeable.get(key) ?? 0) > 0) return "coalesced";
    if (this.eventLimit > 0 && this.pendingEvents >= this.eventLimit) return "queue-full";
    const bytes = encodeFrame({
      type: XsType.WATCH_EVENT,
      reqId: 0,
      txId: 0,
      payload: encodeWatchEvent(path, token),
    });
    this.pushOut({ bytes, reply: false, key });
    this.mergeable.set(key, (this.mergeable.get(key) ?? 0) + 1);
    this.outTotal += bytes.length;
    this.pendingEvents++;
    this.host.markOutput(this);
    return "queued";
  }

  private unmergeable(key: string): void {
    const c = (this.mergeable.get(key) ?? 0) - 1;
    if (c <= 0) this.mergeable.delete(key);
    else this.mergeable.set(key, c);
  }
}

/**
 * Replies are carved from slabs, as Node's Buffer.allocUnsafe() pool does: a small
 * `new Uint8Array(n)` lives in the JS heap, and the moment a transport hands it to the OS
 * (net's Buffer view of it) V8 moves it out with a malloc; a larger one is a calloc of its
 * own. A slice of a slab is neither. Slices never overlap and are never reused, so a reply
 * that is still queued (or kept by whoever took it) keeps its bytes; a slab lives as long as
 * any of its slices.
 */
const SLAB_SIZE = 16 * 1024;
let slab = new Uint8Array(SLAB_SIZE);
let slabUsed = 0;

function allocOutput(n: number): Uint8Array {
  if (n > SLAB_SIZE >>> 3) return new Uint8Array(n);
  if (slabUsed + n > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return b;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}
