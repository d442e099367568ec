// One Unix-socket client bound to one XsConnection (cx struct connection with its fd; the
// daemon's I/O loop is Node's event loop). Input: socket bytes go to deliver() as they come;
// output: pulled from the connection only while the socket can take it.
import type { Socket } from "node:net";
import type { XsConnection } from "../server/connection.ts";
import { readU32LE } from "../wire/frame.ts";
import { copyBytes } from "../wire/payload.ts";
import { XENSTORE_PAYLOAD_MAX, XS_HEADER_SIZE } from "../wire/xs-wire.ts";

/** Bytes taken from the connection per write (a few frames; keeps one client from hogging). */
const OUT_CHUNK = 64 * 1024;
/**
 * Unprocessed input above which the socket is no longer read. The connection holds input back
 * once its outstanding-reply quota is reached (cx: it stops reading the fd); without this the
 * socket would keep filling that buffer.
 */
const IN_HIGH = 64 * 1024;

/**
 * The read buffer of every socket connection (one suffices: each read is consumed, copied or
 * processed, before the event loop runs the next). libuv reads at most 64 KiB at a time.
 */
const SHARED_READ = new Uint8Array(64 * 1024);

/**
 * Whole frames are copied out of SHARED_READ into slabs (a slice of a slab, unlike a small
 * `bytes.slice()`, is not moved out of the JS heap with a malloc when viewed by subarray).
 * Slices are never reused: whatever keeps a payload (a trace listener) keeps its bytes.
 */
const IN_SLAB = 16 * 1024;
let inSlab = new Uint8Array(IN_SLAB);
let inSlabUsed = 0;

/**
 * Copies `bytes[off, end)` into the current slab and returns where it starts there (the slab
 * is `inSlab` after the call). No typed array is made for it: the caller hands the server
 * `inSlab` with offsets, and a request's few dozen bytes are copied by a loop rather than
 * through a subarray of the source (each typed array V8 makes costs more than the copy).
 */
function copyFrame(bytes: Uint8Array, off: number, end: number): number {
  const n = end - off;
  if (inSlabUsed + n > IN_SLAB) {
    inSlab = new Uint8Array(Math.max(IN_SLAB, n));
    inSlabUsed = 0;
  }
  const at = inSlabUsed;
  copyBytes(inSlab, at, bytes, off, end);
  inSlabUsed = (at + n + 7) & ~7;
  return at;
}

/**
 * Makes `socket` read into SHARED_READ and call `onRead(n)` instead of emitting 'data': what
 * Node's documented `onread: { buffer, callback }` option of `new net.Socket()` does (Node
 * PR #25436). That saves, per read, the 64 KiB allocation of a fresh Buffer, the Readable
 * stream's push/'data' and the nextTick it schedules — a good part of the daemon's cost per
 * request. net.Server has no such option for the sockets it accepts, so this sets the same
 * two slots the option sets (the socket's `kBuffer`/`kBufferCb` symbols, then
 * `handle.useUserBuffer()`, as net.js initSocketHandle() does); pause()/resume(), 'end' and
 * 'close' then work as documented for `onread`. Only when every piece is there as net.js has
 * laid it out since that PR (checked on Node 20, the supported runtime); otherwise returns false and the caller uses 'data'. `XENSIM_NO_USER_BUFFER=1`
 * forces the 'data' path (to compare, or should a Node release change this).
 */
function readIntoShared(socket: Socket, onRead: (n: number) => void): boolean {
  if (process.env.XENSIM_NO_USER_BUFFER) return false;
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (handle === undefined || typeof handle.useUserBuffer !== "function") return false;
  const slots = socket as unknown as Record<symbol, unknown>;
  let kBuffer: symbol | undefined;
  let kBufferCb: symbol | undefined;
  let kBufferGen: symbol | undefined;
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description === "kBuffer") kBuffer = sym;
    else if (sym.description === "kBufferCb") kBufferCb = sym;
    else if (sym.description === "kBufferGen") kBufferGen = sym;
  }
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  if (slots[kBuffer] !== null || slots[kBufferCb] !== null || slots[kBufferGen] !== null) return false;
  slots[kBuffer] = SHARED_READ;
  slots[kBufferCb] = (n: number) => {
    onRead(n);
  };
  (handle.useUserBuffer as (b: Uint8Array) => void).call(handle, SHARED_READ);
  return true;
}

/** A write request object of Node's stream_wrap binding (stream_base_commons.js createWriteWrap()). */
interface WriteReq {
  handle: unknown;
  oncomplete: ((status: number) => void) | null;
  async: boolean;
  bytes: number;
  /** what the request writes, kept alive until libuv is done with it */
  buffer: unknown;
}

/** The methods of a libuv stream handle (StreamBase, src/stream_base.cc) the direct path calls. */
interface StreamHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writev(req: WriteReq, chunks: Uint8Array[], allBuffers: boolean): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** process.binding("stream_wrap") when it has what the direct path needs; looked up once. */
let streamWrap: StreamWrapBinding | null | undefined;

function streamWrapBinding(): StreamWrapBinding | null {
  if (streamWrap !== undefined) return streamWrap;
  streamWrap = null;
  try {
    // deprecated (DEP0111) but still served for "stream_wrap" on Node 20; throws under the
    // permission model, and may go away: then the stream path is used
    const b = (process as unknown as { binding?: (name: string) => unknown }).binding?.("stream_wrap") as
      | Partial<StreamWrapBinding>
      | undefined;
    if (
      b !== undefined &&
      typeof b.WriteWrap === "function" &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kLastWriteWasAsync === "number" &&
      b.kLastWriteWasAsync >= 0 &&
      b.kLastWriteWasAsync < b.streamBaseState.length
    ) {
      const req = new b.WriteWrap();
      if (typeof req === "object" && req !== null) streamWrap = b as StreamWrapBinding;
    }
  } catch {
    streamWrap = null;
  }
  return streamWrap;
}

/**
 * The socket's libuv handle when replies can be written to it directly, as Node's own
 * `writeGeneric()`/`writevGeneric()` (lib/internal/stream_base_commons.js) do under
 * `socket.write()`: `handle.writeBuffer(req, bytes)` tries the write at once (uv_try_write)
 * and only when the kernel does not take everything queues the rest with a uv_write_t bound
 * to `req` (a real WriteWrap, so that case is safe), reporting `streamBaseState[
 * kLastWriteWasAsync]` and calling `req.oncomplete(status)` later. Skipping the Writable
 * stream saves, per reply, its bookkeeping, a WriteWrap and the afterWrite nextTick: a few
 * percent of the daemon's CPU per request. Null (use socket.write()) when any piece is
 * missing, or with `XENSIM_NO_DIRECT_WRITE=1`.
 */
function directWriteHandle(socket: Socket): StreamHandle | null {
  if (process.env.XENSIM_NO_DIRECT_WRITE) return null;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (handle == null || typeof handle.writeBuffer !== "function" || typeof handle.writev !== "function")
    return null;
  if (streamWrapBinding() === null) return null;
  return handle as StreamHandle;
}

export interface SocketTransportStats {
  /** times the socket's write buffer was full and output waited for 'drain' (or the direct write to complete) */
  writeStalls: number;
  /** times reading was paused because input was held back */
  readPauses: number;
  /** reads go to the shared buffer (readIntoShared), not through 'data' */
  sharedRead: boolean;
  /** replies go straight to the libuv handle (directWriteHandle), not through socket.write() */
  directWrite: boolean;
}

export class SocketTransport {
  readonly stats: SocketTransportStats = {
    writeStalls: 0,
    readPauses: 0,
    sharedRead: false,
    directWrite: false,
  };
  private flushing = false;
  private again = false;
  private waitingDrain = false;
  private readPaused = false;
  private ended = false;
  /** corked for the replies to one input chunk of several frames */
  private corked = false;
  /** the direct write path's handle, or null for socket.write() */
  private readonly handle: StreamHandle | null;
  /** a request object for the next direct write; a write that went async keeps its own */
  private req: WriteReq | null = null;
  /** bytes of a direct write libuv still has queued (it went async) */
  private inFlight = 0;
  /** direct path, corked: replies gathered for one writev */
  private readonly gathered: Uint8Array[] = [];
  /** request framing, only to find where one request ends (the connection parses them) */
  private readonly hdr = new Uint8Array(XS_HEADER_SIZE);
  private readonly hdrView = new DataView(this.hdr.buffer);
  private hdrFill = 0;
  private bodyLeft = 0;
  private readonly offOutput: () => void;
  private readonly offClose: () => void;

  constructor(
    readonly socket: Socket,
    readonly conn: XsConnection,
    private readonly onEnd: (t: SocketTransport) => void,
  ) {
    socket.setNoDelay?.(true);
    this.offOutput = conn.onOutput(() => this.flush());
    // the server closed it: a fatal protocol error (cx handle_input(): len >
    // XENSTORE_PAYLOAD_MAX → ignore_connection()), RELEASE of its domain, daemon stop
    this.offClose = conn.onClose(() => this.end());
    this.stats.sharedRead = readIntoShared(socket, (n) => this.input(SHARED_READ, n, true));
    this.handle = directWriteHandle(socket);
    this.stats.directWrite = this.handle !== null;
    if (!this.stats.sharedRead) {
      // a Buffer is a Uint8Array: no wrapper per read
      socket.on("data", (d: Buffer) => this.input(d, d.length, false));
    }
    socket.on("drain", () => {
      this.waitingDrain = false;
      this.flush();
    });
    socket.on("close", () => this.end());
    socket.on("error", () => this.end());
    socket.on("end", () => this.end());
    // output queued before we attached (e.g. nothing today, but a restored connection could have some)
    this.flush();
  }

  /**
   * Delivers client bytes one request at a time, writing output between requests, as cx's
   * main loop does (handle_input() completes one message, process_message() answers it,
   * handle_output() writes): watch events a request fires are on their way before the next
   * request runs, so only events that really wait unread are merged (XSA-326), not every
   * identical pair inside one pipelined burst.
   */
  private input(bytes: Uint8Array, end: number, shared: boolean): void {
    try {
      this.inputFrames(bytes, end, shared);
    } finally {
      // replies to a pipelined burst leave in one writev; each was taken from the connection
      // before the next request ran, so what they contain (and event merging) is unchanged
      if (this.corked) {
        this.corked = false;
        if (this.handle !== null) this.writeGathered();
        else if (!this.ended) this.socket.uncork();
      }
    }
    if (this.conn.outputBytes > 0) this.flush();
    else this.checkInput();
  }

  /**
   * input()'s loop over `bytes[0, end)`; corks the socket when they hold more than one whole
   * frame. `shared`: the bytes are SHARED_READ, overwritten by the next read of any connection,
   * so nothing may keep a view of them (the parser copies what it buffers; a whole frame is
   * copied before the server sees it).
   */
  private inputFrames(bytes: Uint8Array, end: number, shared: boolean): void {
    let off = 0;
    while (off < end && !this.ended) {
      // Fast path: at a frame boundary with the whole frame in this chunk (what a request-reply
      // client sends): hand it over without copying its header, as the chunk itself when it is
      // exactly one frame.
      if (this.bodyLeft === 0 && this.hdrFill === 0 && end - off >= XS_HEADER_SIZE) {
        const len = readU32LE(bytes, off + 12);
        const frameEnd = off + XS_HEADER_SIZE + len;
        if (len <= XENSTORE_PAYLOAD_MAX && frameEnd <= end) {
          if (!this.corked && frameEnd < end) {
            if (this.handle === null) this.socket.cork();
            this.corked = true;
          }
          // processed in place: a 'data' chunk is a fresh buffer Node never reuses
          if (shared) {
            const at = copyFrame(bytes, off, frameEnd);
            this.conn.deliverWhole(inSlab, at, at + (frameEnd - off));
          } else this.conn.deliverWhole(bytes, off, frameEnd);
          off = frameEnd;
          // the reply normally left already (the connection notified us); this catches
          // output that waited for a flush in progress
          if (this.conn.outputBytes > 0) this.flush();
          continue;
        }
      }
      let n: number;
      if (this.bodyLeft > 0) {
        n = Math.min(this.bodyLeft, end - off);
        this.bodyLeft -= n;
        this.conn.deliver(bytes.subarray(off, off + n));
        off += n;
        if (this.bodyLeft === 0) this.flush();
        continue;
      }
      n = Math.min(XS_HEADER_SIZE - this.hdrFill, end - off);
      this.hdr.set(bytes.subarray(off, off + n), this.hdrFill);
      this.hdrFill += n;
      if (this.hdrFill < XS_HEADER_SIZE) {
        this.conn.deliver(bytes.subarray(off, off + n));
        off += n;
        continue;
      }
      this.hdrFill = 0;
      const len = this.hdrView.getUint32(12, true);
      if (len > XENSTORE_PAYLOAD_MAX) {
        // the connection closes on this header (cx handle_input()); hand it everything
        this.conn.deliver(bytes.subarray(off, end));
        off = end;
        break;
      }
      this.bodyLeft = len;
      const take = Math.min(n + len, end - off);
      this.bodyLeft -= take - n;
      this.conn.deliver(bytes.subarray(off, off + take));
      off += take;
      if (this.bodyLeft === 0) this.flush();
    }
  }

  /** Moves output from the connection to the socket until either is empty/full. */
  flush(): void {
    if (this.ended) return;
    if (this.flushing) {
      // takeOutput() may process held-back input, which queues more output and calls us
      this.again = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.again = false;
        while (!this.waitingDrain && this.conn.outputBytes > 0 && !this.ended) {
          const chunk = this.conn.takeOutput(OUT_CHUNK);
          if (chunk.length === 0) break;
          if (this.handle !== null) {
            if (this.corked) this.gathered.push(chunk);
            else this.writeDirect(chunk);
            continue;
          }
          if (!this.socket.write(chunk)) {
            // socket backpressure: stop pulling until 'drain' (a slow reader stalls only itself)
            this.waitingDrain = true;
            this.stats.writeStalls++;
          }
        }
      } while (this.again && !this.waitingDrain && !this.ended);
    } finally {
      this.flushing = false;
    }
    this.checkInput();
  }

  /** The replies gathered while corked, in one writev (or one write). */
  private writeGathered(): void {
    const g = this.gathered;
    if (g.length === 0) return;
    if (this.ended) {
      g.length = 0;
      return;
    }
    if (g.length === 1) {
      const only = g[0]!;
      g.length = 0;
      this.writeDirect(only);
      return;
    }
    const all = g.slice();
    g.length = 0;
    this.writeDirect(all);
  }

  /**
   * One write straight to the libuv handle (what Node's writeGeneric()/writevGeneric() do).
   * Completed at once (the usual case): nothing else to do, and the request object is
   * untouched (StreamBase::Write binds it to a uv_write_t only when it queues), so the next
   * write reuses it. Queued: output waits for req.oncomplete, as the stream path waits for
   * 'drain'. Failed (EPIPE, ECONNRESET…): the client is gone; close as on a socket error.
   */
  private writeDirect(data: Uint8Array | Uint8Array[]): void {
    if (this.ended || this.socket.destroyed) return;
    const handle = this.handle!;
    const b = streamWrap!;
    let req = this.req;
    if (req === null) {
      req = new b.WriteWrap();
      req.handle = handle;
      req.oncomplete = null;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      this.req = req;
    }
    const err = Array.isArray(data) ? handle.writev(req, data, true) : handle.writeBuffer(req, data);
    if (err !== 0) {
      this.end();
      return;
    }
    if (b.streamBaseState[b.kLastWriteWasAsync] === 0) return;
    // libuv holds the rest: keep the bytes alive, wait for the completion, take a fresh
    // request object for the next write
    req.async = true;
    req.buffer = data;
    this.req = null;
    const bytes = Array.isArray(data) ? data.reduce((n, d) => n + d.length, 0) : data.length;
    this.inFlight += bytes;
    this.waitingDrain = true;
    this.stats.writeStalls++;
    req.oncomplete = (status: number) => {
      req.buffer = null;
      this.inFlight -= bytes;
      if (this.ended) return;
      if (status < 0) {
        this.end();
        return;
      }
      this.waitingDrain = false;
      this.flush();
    };
  }

  /** Output taken from the connection and not yet in the kernel (the socket's own buffer, or a queued direct write). */
  get bufferedBytes(): number {
    return this.handle !== null ? this.inFlight : this.socket.writableLength;
  }

  private checkInput(): void {
    if (this.ended) return;
    const held = this.conn.inputBytes;
    if (!this.readPaused && held >= IN_HIGH) {
      this.readPaused = true;
      this.stats.readPauses++;
      this.socket.pause();
    } else if (this.readPaused && held < IN_HIGH) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  /** Closes both sides: the connection (dropping its watches and transactions) and the socket. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.offOutput();
    this.offClose();
    this.conn.close();
    this.socket.destroy();
    this.onEnd(this);
  }
}
