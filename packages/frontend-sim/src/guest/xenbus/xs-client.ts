import type { Scheduler } from "@xensim/evtchn";
import {
  bytesToLatin1,
  decodeList,
  decodeReply,
  encodeFrame,
  encodeStrings,
  encodeWrite,
  FrameParser,
  XsFrameError,
  XsType,
} from "@xensim/xenstore-core/wire";
import { XenbusError } from "./xenbus-error.ts";
import type { XsTransport } from "./xs-transport.ts";

/** A transaction handle; 0 (XBT_NIL) = no transaction. */
export type Tx = number;
export const XBT_NIL: Tx = 0;

export type WatchCallback = (path: string, token: string) => void | Promise<void>;

/** A registered watch (Linux struct xenbus_watch). */
export interface XenbusWatch {
  readonly path: string;
  readonly token: string;
  /** Events the xenwatch thread has queued but not yet run (the XSA-349 per-watch count). */
  readonly pending: number;
}

interface WatchEntry {
  path: string;
  token: string;
  callback: WatchCallback;
  pending: number;
  /** Optional filter run when the event arrives (Linux `will_handle`): false drops it. */
  willHandle: ((path: string) => boolean) | undefined;
  registered: boolean;
}

interface Pending {
  readonly op: string;
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

export interface XenbusClientOptions {
  readonly sched: Scheduler;
  /** The actor whose context receives replies (the domain's kernel: `dom<N>`). */
  readonly actor: string;
  /** Watch callbacks run here, one at a time, in arrival order (Linux's xenwatch thread). */
  readonly watchActor?: string;
}

export interface TransactionOptions {
  /** Give up after this many EAGAIN retries (Linux retries forever; the default is unbounded). */
  readonly maxAttempts?: number;
}

/** One field for `gather`: the node name and how to parse its text (Linux xenbus_gather/scanf). */
export interface GatherField<T> {
  readonly node: string;
  readonly parse: (text: string) => T | undefined;
}

/**
 * The XenStore client a guest kernel has (Linux drivers/xen/xenbus/xenbus_xs.c): requests are
 * framed per xs_wire.h, sent through the transport, and matched to replies by `req_id`, so many
 * may be outstanding; watch events are dispatched by token to callbacks that run serially on the
 * xenwatch actor — a callback that awaits XenStore holds up later events, exactly as a blocking
 * callback holds up Linux's xenwatch thread.
 */
export class XenbusClient {
  private readonly sched: Scheduler;
  private readonly actor: string;
  private readonly watchActor: string;
  private readonly parser = new FrameParser();
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<string, WatchEntry>();
  private readonly watchQueue: { entry: WatchEntry; path: string }[] = [];
  private xenwatchBusy = false;
  private nextReqId = 0;
  private nextWatchId = 0;
  private fatal: string | null = null;

  constructor(
    private readonly transport: XsTransport,
    options: XenbusClientOptions,
  ) {
    this.sched = options.sched;
    this.actor = options.actor;
    this.watchActor = options.watchActor ?? `${options.actor}:xenwatch`;
    transport.onData((chunk) => this.receive(chunk));
    transport.onFatal?.((reason) => this.fail(reason));
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.pending.size;
  }

  /** Watches registered (for leak checks). */
  get watchCount(): number {
    return this.watches.size;
  }

  /** Sends a raw request and resolves with the reply payload (rejects with XenbusError). */
  request(type: number, payload: Uint8Array, tx: Tx = XBT_NIL, op = "xenstore"): Promise<Uint8Array> {
    if (this.fatal !== null) return Promise.reject(new XenbusError("EIO", `${op} (${this.fatal})`));
    // Linux: req_id = xs_request_id++ (a free-running u32).
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(reqId, { op, resolve, reject });
      this.transport.send(encodeFrame({ type, reqId, txId: tx, payload }));
    });
  }

  private receive(chunk: Uint8Array): void {
    this.parser.push(chunk);
    for (;;) {
      const f = this.parser.next();
      if (f === null) return;
      if (f instanceof XsFrameError) {
        this.fail(`bad frame from xenstored: ${f.message}`);
        return;
      }
      const r = decodeReply(f);
      if (r.kind === "event") {
        this.queueWatchEvent(r.path, r.token);
        continue;
      }
      const p = this.pending.get(r.reqId);
      if (p === undefined) {
        // Linux process_msg(): a reply nobody waits for is dropped.
        this.sched.trace.emit(this.actor, "xenbus.stray_reply", { req_id: r.reqId });
        continue;
      }
      this.pending.delete(r.reqId);
      if (r.kind === "error") p.reject(new XenbusError(String(r.errno), p.op));
      else p.resolve(r.payload);
    }
  }

  private fail(reason: string): void {
    if (this.fatal !== null) return;
    this.fatal = reason;
    this.sched.trace.emit(this.actor, "xenbus.fatal", { reason });
    for (const p of this.pending.values()) p.reject(new XenbusError("EIO", `${p.op} (${reason})`));
    this.pending.clear();
  }

  // --- watches -------------------------------------------------------------------------------

  private queueWatchEvent(path: string, token: string): void {
    const entry = this.watches.get(token);
    // Linux xs_watch_msg(): unknown token → dropped; will_handle may filter it out.
    if (entry === undefined || (entry.willHandle !== undefined && !entry.willHandle(path))) return;
    entry.pending++;
    this.watchQueue.push({ entry, path });
    this.kickXenwatch();
  }

  private kickXenwatch(): void {
    if (this.xenwatchBusy || this.watchQueue.length === 0) return;
    this.xenwatchBusy = true;
    this.sched.post(this.watchActor, "xenwatch", async () => {
      const ev = this.watchQueue.shift();
      if (ev !== undefined) {
        ev.entry.pending--;
        // An unregistered watch runs no more callbacks (unregister_xenbus_watch flushes them).
        if (ev.entry.registered) await ev.entry.callback(ev.path, ev.entry.token);
      }
      this.xenwatchBusy = false;
      this.kickXenwatch();
    });
  }

  /**
   * register_xenbus_watch: the callback fires once right after registration (xenstored's initial
   * event) and then on every change at or below `path`.
   */
  async watch(
    path: string,
    callback: WatchCallback,
    options: { willHandle?: (path: string) => boolean } = {},
  ): Promise<XenbusWatch> {
    const token = `${(0xffff8880_0000 + 0x40 * this.nextWatchId++).toString(16).toUpperCase()}`;
    const entry: WatchEntry = {
      path,
      token,
      callback,
      pending: 0,
      willHandle: options.willHandle,
      registered: true,
    };
    this.watches.set(token, entry);
    try {
      await this.request(XsType.WATCH, encodeStrings([path, token]), XBT_NIL, `watch ${path}`);
    } catch (e) {
      entry.registered = false;
      this.watches.delete(token);
      throw e;
    }
    return {
      path,
      token,
      get pending() {
        return entry.pending;
      },
    };
  }

  /** unregister_xenbus_watch: no callback of this watch runs after this resolves. */
  async unwatch(w: XenbusWatch): Promise<void> {
    const entry = this.watches.get(w.token);
    if (entry === undefined) return;
    entry.registered = false;
    this.watches.delete(w.token);
    try {
      await this.request(XsType.UNWATCH, encodeStrings([w.path, w.token]), XBT_NIL, `unwatch ${w.path}`);
    } catch (e) {
      // Linux only warns: the watch may already be gone (e.g. after a connection reset).
      this.sched.trace.emit(this.actor, "xenbus.unwatch_failed", {
        path: w.path,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  // --- typed helpers (Linux xenbus_xs.c) -----------------------------------------------------

  read(tx: Tx, path: string): Promise<Uint8Array> {
    return this.request(XsType.READ, encodeStrings([path]), tx, `read ${path}`);
  }

  async readString(tx: Tx, path: string): Promise<string> {
    return bytesToLatin1(await this.read(tx, path));
  }

  async write(tx: Tx, path: string, value: string | Uint8Array): Promise<void> {
    await this.request(XsType.WRITE, encodeWrite(path, value), tx, `write ${path}`);
  }

  async mkdir(tx: Tx, path: string): Promise<void> {
    await this.request(XsType.MKDIR, encodeStrings([path]), tx, `mkdir ${path}`);
  }

  async rm(tx: Tx, path: string): Promise<void> {
    await this.request(XsType.RM, encodeStrings([path]), tx, `rm ${path}`);
  }

  async directory(tx: Tx, path: string): Promise<string[]> {
    return decodeList(await this.request(XsType.DIRECTORY, encodeStrings([path]), tx, `directory ${path}`));
  }

  /** xenbus_exists: true iff a DIRECTORY of the node succeeds. */
  async exists(tx: Tx, path: string): Promise<boolean> {
    try {
      await this.directory(tx, path);
      return true;
    } catch (e) {
      if (e instanceof XenbusError) return false;
      throw e;
    }
  }

  async getPerms(tx: Tx, path: string): Promise<string[]> {
    return decodeList(await this.request(XsType.GET_PERMS, encodeStrings([path]), tx, `get_perms ${path}`));
  }

  async setPerms(tx: Tx, path: string, perms: readonly string[]): Promise<void> {
    await this.request(XsType.SET_PERMS, encodeStrings([path, ...perms]), tx, `set_perms ${path}`);
  }

  async getDomainPath(domid: number): Promise<string> {
    const p = await this.request(
      XsType.GET_DOMAIN_PATH,
      encodeStrings([String(domid)]),
      XBT_NIL,
      "get_domain_path",
    );
    return decodeList(p)[0] ?? "";
  }

  /** xs_introduce_domain (privileged): tell xenstored about a domain's page and port. */
  async introduceDomain(domid: number, gfn: number, port: number): Promise<void> {
    await this.request(
      XsType.INTRODUCE,
      encodeStrings([String(domid), String(gfn), String(port)]),
      XBT_NIL,
      `introduce ${domid}`,
    );
  }

  /** xs_release_domain (privileged). */
  async releaseDomain(domid: number): Promise<void> {
    await this.request(XsType.RELEASE, encodeStrings([String(domid)]), XBT_NIL, `release ${domid}`);
  }

  /** xenbus_read_unsigned: the default when the node is missing or not a number. */
  async readUnsigned(dir: string, node: string, defaultValue: number): Promise<number> {
    try {
      const v = parseUnsigned(await this.readString(XBT_NIL, joinPath(dir, node)));
      return v ?? defaultValue;
    } catch (e) {
      if (e instanceof XenbusError) return defaultValue;
      throw e;
    }
  }

  /** xenbus_scanf for one node: undefined when missing or unparsable. */
  async scanf<T>(
    tx: Tx,
    dir: string,
    node: string,
    parse: (text: string) => T | undefined,
  ): Promise<T | undefined> {
    try {
      return parse(await this.readString(tx, joinPath(dir, node)));
    } catch (e) {
      if (e instanceof XenbusError) return undefined;
      throw e;
    }
  }

  /**
   * xenbus_gather: reads several nodes of one directory; the first missing or unparsable node
   * fails the whole gather with that error (ENOENT / EINVAL).
   */
  async gather<T extends Record<string, unknown>>(
    tx: Tx,
    dir: string,
    fields: { [K in keyof T]: GatherField<T[K]> },
  ): Promise<T> {
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(fields) as [string, GatherField<unknown>][]) {
      const text = await this.readString(tx, joinPath(dir, f.node));
      const v = f.parse(text);
      if (v === undefined) throw new XenbusError("EINVAL", `gather ${joinPath(dir, f.node)}`);
      out[k] = v;
    }
    return out as T;
  }

  /** xenbus_printf: write a formatted value (`%d %u %i %x %s` as in the kernel's vsnprintf). */
  async printf(tx: Tx, dir: string, node: string, fmt: string, ...args: (string | number)[]): Promise<void> {
    await this.write(tx, joinPath(dir, node), format(fmt, args));
  }

  async transactionStart(): Promise<Tx> {
    const p = await this.request(XsType.TRANSACTION_START, encodeStrings([""]), XBT_NIL, "transaction_start");
    const id = Number.parseInt(decodeList(p)[0] ?? "", 10);
    if (!Number.isInteger(id) || id <= 0) throw new XenbusError("EINVAL", "transaction_start: bad id");
    return id;
  }

  async transactionEnd(tx: Tx, abort: boolean): Promise<void> {
    await this.request(XsType.TRANSACTION_END, encodeStrings([abort ? "F" : "T"]), tx, "transaction_end");
  }

  /**
   * Runs `body` in a transaction and commits it, starting over on EAGAIN (the `goto again` loop of
   * every Linux driver). Any other failure aborts the transaction and is rethrown.
   */
  async transaction<T>(body: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const max = options.maxAttempts ?? Number.POSITIVE_INFINITY;
    for (let attempt = 1; ; attempt++) {
      const tx = await this.transactionStart();
      let result: T;
      try {
        result = await body(tx);
      } catch (e) {
        await this.transactionEnd(tx, true).catch(() => undefined);
        throw e;
      }
      try {
        await this.transactionEnd(tx, false);
        return result;
      } catch (e) {
        if (e instanceof XenbusError && e.errno === "EAGAIN" && attempt < max) {
          this.sched.trace.emit(this.actor, "xenbus.tx_retry", { attempt });
          continue;
        }
        throw e;
      }
    }
  }
}

/** Joins a directory and a node name as Linux's join() does ("" node = the directory itself). */
export function joinPath(dir: string, node: string): string {
  return node === "" ? dir : `${dir}/${node}`;
}

/** simple_strtoul-like parse used by xenbus_read_unsigned ("%u"): decimal digits only. */
export function parseUnsigned(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** A small vsnprintf for the formats drivers use with xenbus_printf. */
export function format(fmt: string, args: readonly (string | number)[]): string {
  let i = 0;
  return fmt.replace(/%(%|0?\d*l*[diuxXs])/g, (m, spec: string) => {
    if (spec === "%") return "%";
    const a = args[i++];
    const conv = spec.at(-1);
    const width = /^0?(\d+)/.exec(spec)?.[1];
    const pad = (s: string): string =>
      width === undefined ? s : s.padStart(Number(width), spec.startsWith("0") ? "0" : " ");
    switch (conv) {
      case "s":
        return pad(String(a));
      case "x":
        return pad((Number(a) >>> 0).toString(16));
      case "X":
        return pad((Number(a) >>> 0).toString(16).toUpperCase());
      case "u":
        return pad(String(Number(a) >>> 0));
      default:
        return pad(String(Math.trunc(Number(a))));
    }
    // biome-ignore lint/correctness/noUnreachable: exhaustive switch above
    return m;
  });
}
