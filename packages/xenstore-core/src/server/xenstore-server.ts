// XenStoreServer: the simulated xenstored. Owns the store, connections (sessions), watches,
// transactions and domains; transports (ring, Unix socket) attach through XsConnection.
import { XsOpError } from "../store/access.ts";
import { DEFAULT_HOST, type DomainHost, type DomainInfo, DomainTable } from "../store/domains.ts";
import * as ops from "../store/operations.ts";
import { childPath, domainPath, parentPath, SPECIAL_INTRODUCE, SPECIAL_RELEASE } from "../store/paths.ts";
import { type Caller, PERM_READ, type Perms, permForCaller } from "../store/permissions.ts";
import { type Profile, type ProfileName, resolveProfile } from "../store/profiles.ts";
import type { QuotaName, Quotas } from "../store/quotas.ts";
import { XsStore } from "../store/store.ts";
import { Transaction } from "../store/transactions.ts";
import { WatchTable } from "../store/watches.ts";
import type { XsErrno } from "../wire/errors.ts";
import { readU32LE, type XsFrame } from "../wire/frame.ts";
import { bytesToLatin1, encodeString } from "../wire/payload.ts";
import { XENSTORE_PAYLOAD_MAX, XS_HEADER_SIZE, XsType, xsTypeName } from "../wire/xs-wire.ts";
import { type ConnectionHost, XsConnection } from "./connection.ts";
import { controlCommand } from "./control.ts";
import { DirectClient } from "./direct-client.ts";
import {
  type ExecResult,
  execute,
  executePathRequest,
  type PathRequestType,
  type ServerCore,
} from "./dispatch.ts";
import { Session } from "./session.ts";
import { restoreServer, snapshotServer } from "./snapshot-io.ts";
import { StoreView } from "./store-view.ts";
import type { TraceSink } from "./trace.ts";

/**
 * Fault hooks for simulation (the explorer's fault catalogue): consulted on the paths where the
 * protocol allows the server to behave this way, so a correct client must cope. Null = none.
 */
export interface XenStoreServerFaults {
  /**
   * Called when a transaction is about to commit (after the quota checks, before the conflict
   * check). Returning "EAGAIN" fails the commit as a conflict would (oxenstored's test-eagain,
   * generalised); null commits normally.
   */
  commit?(domid: number, txId: number): "EAGAIN" | null;
  /**
   * Called for each watch event about to be queued; the event is queued this many times
   * (1 = normal, 2+ = duplicates, which the protocol allows; values below 1 count as 1).
   */
  watchEvent?(domid: number, connId: number, path: string, token: string): number;
}

export interface XenStoreServerOptions {
  /** `"cxenstored"` (default) or `"qemu"`, or a full profile object. */
  profile?: ProfileName | Profile;
  /** Quota overrides on top of the profile's (0 disables a check). */
  quotas?: Partial<Quotas>;
  /** Hypervisor-facing effects (page mapping, event channels, domain existence). */
  host?: Partial<DomainHost>;
  /** Structured trace events (frames in/out, watch events fired/dropped, …). */
  trace?: TraceSink;
  /** A second privileged domid besides dom0 (cx --priv-domid). */
  privDomid?: number;
  /**
   * Extra CONTROL commands by name, tried before the built-in ones (the socket daemon's
   * `save FILE`). A handler returns the reply string or throws XsOpError.
   */
  controlCommands?: Readonly<Record<string, (args: readonly string[], domid: number) => string>>;
  /** Fault hooks (see XenStoreServerFaults); also settable later through `faults`. */
  faults?: XenStoreServerFaults;
}

export interface ConnectOptions {
  domid: number;
  label?: string;
  /**
   * Replies that may wait unread before input is held back (cx ACC_OUTST). Default: the
   * `outstanding` quota for unprivileged domains, none (0) for privileged ones. A transport
   * that must bound every client (the socket daemon) sets it for dom0 too.
   */
  outstandingLimit?: number;
  /** Queued watch events cap; default as `outstandingLimit` with the `queuedEvents` quota. */
  queuedEventLimit?: number;
}

interface Attached {
  session: Session;
  conn: XsConnection | null;
}

/** Per-domain record of refused operations, for `CONTROL quota`. */
export interface QuotaHit {
  quota: string;
  errno: string;
  count: number;
}

export class XenStoreServer implements ServerCore, ConnectionHost {
  readonly profile: Profile;
  readonly quotas: Quotas;
  readonly privDomid: number | undefined;
  /** @internal */ readonly db: XsStore;
  /** @internal */ readonly watchTable = new WatchTable();
  /** @internal */ readonly domainTable = new DomainTable();
  /** Typed, wire-free accessors for tests and invariant checks. */
  readonly store: StoreView;
  private readonly host: DomainHost;
  private readonly controlCommands: Readonly<
    Record<string, (args: readonly string[], domid: number) => string>
  >;
  private readonly trace: TraceSink | undefined;
  private readonly sessions = new Map<number, Attached>();
  private nextConnId = 1;
  private nextSeq = 1;
  /** qemu-style global transaction id counter */
  private nextGlobalTx = 1;
  /** @internal */ readonly quotaHits = new Map<number, Map<string, QuotaHit>>();
  private depth = 0;
  /**
   * Connections with new output since the outermost call began, in marking order (each once:
   * XsConnection.outputMarked), notified when it ends. Two arrays swapped per round and
   * emptied slot by slot: nothing is allocated or resized per request.
   */
  private dirty: (XsConnection | undefined)[] = [];
  private dirtyN = 0;
  private dirtySpare: (XsConnection | undefined)[] = [];
  /** Fault hooks in force (null: none). A simulator switches them on and off at will. */
  faults: XenStoreServerFaults | null;

  constructor(options: XenStoreServerOptions = {}, db?: XsStore) {
    this.profile = resolveProfile(options.profile);
    this.quotas = { ...this.profile.quotas, ...options.quotas };
    this.privDomid = options.privDomid;
    this.controlCommands = options.controlCommands ?? {};
    this.host = withDefaults(options.host);
    this.trace = options.trace;
    this.faults = options.faults ?? null;
    this.db = db ?? XsStore.initial();
    this.db.domainExists = (d) => this.host.domainExists(d);
    this.db.privDomid = this.privDomid ?? 0;
    this.db.trackDomains = this.profile.staleDomainEntries;
    this.store = new StoreView(this);
    if (!db) this.domainTable.add({ domid: 0, gfn: "0", port: 0, target: undefined });
  }

  // ---- connections ------------------------------------------------------------------------

  /** Opens a connection acting as `domid` (0 = a privileged tools/socket client). */
  connect(options: ConnectOptions): XsConnection {
    const s = new Session(this.nextConnId++, options.domid, options.label, this.nextSeq++, () => "queued");
    return this.attach(s, options);
  }

  /** @internal */
  attach(s: Session, limits: { outstandingLimit?: number; queuedEventLimit?: number } = {}): XsConnection {
    const privileged = this.isPrivileged(s.domid);
    const conn = new XsConnection(
      this,
      s,
      limits.outstandingLimit ?? (privileged ? 0 : this.quotas.outstanding),
      limits.queuedEventLimit ?? (privileged ? 0 : this.quotas.queuedEvents),
    );
    s.deliverEvent = (path, token) => conn.queueEvent(path, token);
    this.sessions.set(s.id, { session: s, conn });
    this.emit({ kind: "connection-open", connId: s.id, domid: s.domid, label: s.label });
    return conn;
  }

  /**
   * An in-process client acting as `domid` that calls the same handlers without wire framing
   * (benchmarks, tests). Watch events go to `onEvent`.
   */
  direct(domid = 0, onEvent: (path: string, token: string) => void = () => {}): DirectClient {
    const s = new Session(this.nextConnId++, domid, "direct", this.nextSeq++, (path, token) => {
      onEvent(path, token);
      return "queued";
    });
    this.sessions.set(s.id, { session: s, conn: null });
    return new DirectClient(this, s);
  }

  /** The connection with this stable id (e.g. to re-attach a transport after restore). */
  connection(id: number): XsConnection | undefined {
    return this.sessions.get(id)?.conn ?? undefined;
  }

  /** All open connections in creation order. */
  connections(): XsConnection[] {
    const out: XsConnection[] = [];
    for (const a of this.sessions.values()) if (a.conn && !a.conn.closed) out.push(a.conn);
    return out;
  }

  /** @internal */
  allSessions(): Session[] {
    return [...this.sessions.values()].map((a) => a.session).sort((a, b) => a.seq - b.seq);
  }

  /** @internal */
  attachedConnection(id: number): XsConnection | null {
    return this.sessions.get(id)?.conn ?? null;
  }

  // ---- ConnectionHost -----------------------------------------------------------------------

  /** @internal */
  enter(): void {
    this.depth++;
  }

  /** @internal */
  leave(): void {
    if (--this.depth > 0) return;
    while (this.dirtyN > 0) {
      const list = this.dirty;
      const n = this.dirtyN;
      this.dirty = this.dirtySpare;
      this.dirtyN = 0;
      this.dirtySpare = list;
      for (let i = 0; i < n; i++) {
        const c = list[i]!;
        list[i] = undefined;
        c.outputMarked = false;
        if (!c.closed && c.outputBytes > 0) c.notifyOutput();
      }
    }
  }

  /** @internal */
  markOutput(conn: XsConnection): void {
    if (conn.outputMarked) return;
    conn.outputMarked = true;
    this.dirty[this.dirtyN++] = conn;
  }

  /** @internal */
  processFrame(conn: XsConnection, f: XsFrame): void {
    const s = conn.session;
    if (this.trace !== undefined)
      this.emit({
        kind: "frame-in",
        connId: s.id,
        domid: s.domid,
        type: f.type,
        typeName: xsTypeName(f.type),
        reqId: f.reqId,
        txId: f.txId,
        payload: f.payload,
      });
    this.answer(conn, f.type, f.reqId, f.txId, this.run(s, f.type, f.txId, f.payload));
  }

  /**
   * @internal processFrame() of the whole frame bytes[off, end) (its header's len fits), in
   * place. A one-path request whose payload is well formed — READ, DIRECTORY, GET_PERMS, MKDIR,
   * RM: one string ending at the only NUL (cx onearg()); WRITE: a NUL after the path — runs on
   * its decoded strings (runPath, the DirectClient's way: the same checks and handler), with
   * no payload view or frame object made; anything else, and everything while a trace
   * listener wants the payloads, goes through processFrame().
   */
  processWholeFrame(conn: XsConnection, bytes: Uint8Array, off: number, end: number): void {
    const type = readU32LE(bytes, off);
    const p = off + XS_HEADER_SIZE;
    if (this.trace === undefined && type < PATH_TYPES.length && PATH_TYPES[type] === 1) {
      let nul = p;
      while (nul < end && bytes[nul] !== 0) nul++;
      const write = type === XsType.WRITE;
      if (nul < end && (write || nul === end - 1)) {
        const reqId = readU32LE(bytes, off + 4);
        const txId = readU32LE(bytes, off + 8);
        const path = bytesToLatin1(bytes, p, nul);
        const value = write ? bytesToLatin1(bytes, nul + 1, end) : "";
        const r = this.runPath(conn.session, type as PathRequestType, txId, path, value);
        this.answer(conn, type, reqId, txId, r);
        return;
      }
    }
    this.processFrame(conn, {
      type,
      reqId: readU32LE(bytes, off + 4),
      txId: readU32LE(bytes, off + 8),
      payload: bytes.subarray(p, end),
    });
  }

  /** Queues a request's reply (ERROR with the errno, E2BIG past the payload limit). */
  private answer(conn: XsConnection, reqType: number, reqId: number, txId: number, r: ExecResult): void {
    const s = conn.session;
    let type = reqType;
    let payload: Uint8Array;
    if (r.ok) {
      payload = r.payload;
      if (payload.length > XENSTORE_PAYLOAD_MAX) {
        type = XsType.ERROR;
        payload = encodeString("E2BIG");
      }
    } else {
      type = XsType.ERROR;
      payload = encodeString(r.errno);
    }
    conn.queueReply(type, reqId, txId, payload);
    if (this.trace !== undefined)
      this.emit({
        kind: "frame-out",
        connId: s.id,
        domid: s.domid,
        type,
        typeName: xsTypeName(type),
        reqId,
        txId,
        payload,
      });
    if (r.ok && r.after) r.after();
  }

  /** @internal runs a request; internal failures are reported, answered EIO, never thrown. */
  run(s: Session, type: number, txId: number, payload: Uint8Array): ExecResult {
    try {
      return execute(this, s, type, txId, payload);
    } catch (e) {
      return this.internalError(s, e);
    }
  }

  /** A bug in a handler: reported, and answered EIO so the daemon keeps serving. */
  private internalError(s: Session, e: unknown): ExecResult {
    this.emit({
      kind: "internal-error",
      connId: s.id,
      message: e instanceof Error ? (e.stack ?? e.message) : String(e),
    });
    return { ok: false, errno: "EIO" };
  }

  /** @internal `run` of a one-path request on its strings (see dispatch executePathRequest). */
  runPath(s: Session, type: PathRequestType, txId: number, path: string, value: string): ExecResult {
    try {
      return executePathRequest(this, s, type, txId, path, value);
    } catch (e) {
      return this.internalError(s, e);
    }
  }

  /** @internal */
  connectionClosed(conn: XsConnection, reason: string): void {
    const s = conn.session;
    this.watchTable.removeConnection(s.id);
    s.txs.clear();
    this.sessions.delete(s.id);
    this.emit({ kind: "connection-close", connId: s.id, domid: s.domid, reason });
  }

  /** @internal */
  protocolError(conn: XsConnection, error: { kind: "oversized" | "truncated"; message: string }): void {
    this.emit({
      kind: "protocol-error",
      connId: conn.id,
      domid: conn.domid,
      error: error.kind,
      message: error.message,
    });
  }

  /** @internal closes a direct client's session */
  closeSession(s: Session): void {
    this.watchTable.removeConnection(s.id);
    s.txs.clear();
    this.sessions.delete(s.id);
  }

  // ---- ServerCore ---------------------------------------------------------------------------

  isPrivileged(domid: number): boolean {
    return domid === 0 || (this.privDomid !== undefined && domid === this.privDomid);
  }

  /** Bumped when callers' targets change (SET_TARGET, RELEASE): invalidates caller/env caches. */
  private cacheEpoch = 0;

  /** @internal */
  callerOf(s: Session): Caller {
    if (s.cacheEpoch === this.cacheEpoch && s.cachedCaller !== null) return s.cachedCaller;
    const c: Caller = {
      domid: s.domid,
      privileged: this.isPrivileged(s.domid),
      target: this.domainTable.get(s.domid)?.target,
    };
    if (s.cacheEpoch !== this.cacheEpoch) {
      s.cachedEnv = null;
      s.cacheEpoch = this.cacheEpoch;
    }
    s.cachedCaller = c;
    return c;
  }

  /** env objects per transaction, rebuilt when targets change (a session's own is cached on it) */
  private envCache = new WeakMap<object, ops.OpEnv>();

  private invalidateCallers(): void {
    this.cacheEpoch++;
    this.envCache = new WeakMap();
  }

  /** @internal */
  env(s: Session, tx: Transaction | null): ops.OpEnv {
    if (tx === null) {
      if (s.cacheEpoch === this.cacheEpoch && s.cachedEnv !== null) return s.cachedEnv;
    } else {
      const cached = this.envCache.get(tx);
      if (cached) return cached;
    }
    const env: ops.OpEnv = {
      profile: this.profile,
      quotas: this.quotas,
      caller: this.callerOf(s),
      access: tx ?? this.db,
      tx,
      changed: (path, exact, nodePerms, oldPerms) => {
        if (tx) tx.queueWatch(path, exact);
        else if (this.watchTable.size > 0) this.fireLive(env, path, exact, nodePerms, oldPerms);
      },
      domainExists: (d) => this.host.domainExists(d),
    };
    if (tx === null) s.cachedEnv = env;
    else this.envCache.set(tx, env);
    return env;
  }

  /**
   * fire() for a change of the live tree with `ops.liveFilter` semantics: a privileged watcher
   * passes whenever the node has perms (old or new); the filter, which may look the parent up,
   * is only built when an unprivileged watcher matches (before any delivery, as fire()).
   */
  private fireLive(
    env: ops.OpEnv,
    path: string,
    exact: boolean,
    nodePerms: Perms | null,
    oldPerms: Perms | null,
  ): void {
    if (path.charCodeAt(0) === 64) {
      this.fire(path, exact, () => () => true);
      return;
    }
    const matches = this.watchTable.match(path, exact);
    if (matches.length === 0) return;
    // with node perms a privileged watcher passes (perm = everything); without, ask the filter
    const privPass = nodePerms !== null || oldPerms !== null;
    let filter: ops.EventFilter | null = privPass ? null : ops.liveFilter(env, path, nodePerms, oldPerms);
    const single = matches.length === 1 ? this.sessions.get(matches[0]!.connId) : undefined;
    if (filter === null) {
      for (const w of matches) {
        const a = single ?? this.sessions.get(w.connId);
        if (a !== undefined && !this.callerOf(a.session).privileged) {
          filter = ops.liveFilter(env, path, nodePerms, oldPerms);
          break;
        }
      }
    }
    for (const w of matches) {
      const a = single ?? this.sessions.get(w.connId);
      if (!a) continue;
      const caller = this.callerOf(a.session);
      // (filter is null only when privPass holds and every watcher is privileged)
      if (!(caller.privileged && privPass) && !filter!(caller)) continue;
      this.deliver(a.session, w.prefixLen === 0 ? path : path.slice(w.prefixLen), w.token);
    }
  }

  /** cx fire_watches(): deliver an event for `path` to every matching, permitted watch. */
  private fire(path: string, exact: boolean, makeFilter: () => ops.EventFilter): void {
    const matches = this.watchTable.match(path, exact);
    if (matches.length === 0) return;
    const special = path.charCodeAt(0) === 64;
    const filter = special ? null : makeFilter();
    for (const w of matches) {
      const a = this.sessions.get(w.connId);
      if (!a) continue;
      const caller = this.callerOf(a.session);
      if (filter === null) {
        const perms = this.db.special.get(path) ?? [];
        if (!caller.privileged && (permForCaller(caller, perms) & PERM_READ) === 0) continue;
      } else if (!filter(caller)) continue;
      const epath = w.prefixLen === 0 ? path : path.slice(w.prefixLen);
      this.deliver(a.session, epath, w.token);
    }
  }

  private deliver(s: Session, path: string, token: string): void {
    if (path.length + token.length + 2 > XENSTORE_PAYLOAD_MAX) {
      this.emit({
        kind: "watch-event-dropped",
        connId: s.id,
        domid: s.domid,
        path,
        token,
        reason: "too-long",
      });
      return;
    }
    let r = s.deliverEvent(path, token);
    const copies = this.faults?.watchEvent?.(s.domid, s.id, path, token) ?? 1;
    for (let i = 1; i < copies; i++) {
      const again = s.deliverEvent(path, token);
      this.emit({ kind: "fault", fault: "watch-duplicate", connId: s.id, domid: s.domid, path, token });
      if (r !== "queued") r = again;
    }
    if (this.trace === undefined) return;
    if (r === "queued") this.emit({ kind: "watch-event", connId: s.id, domid: s.domid, path, token });
    else this.emit({ kind: "watch-event-dropped", connId: s.id, domid: s.domid, path, token, reason: r });
  }

  /** @internal */
  startTransaction(s: Session): number {
    let id: number;
    if (this.profile.txIds === "global") {
      id = ++this.nextGlobalTx;
    } else {
      do {
        id = s.nextTxId;
        s.nextTxId = (s.nextTxId + 1) >>> 0;
      } while (id === 0 || s.txs.has(id));
    }
    const unpriv = !this.isPrivileged(s.domid);
    const tx = new Transaction(
      this.db,
      id,
      s.id,
      s.domid,
      this.profile.conflictPolicy,
      unpriv ? this.quotas.transactionNodes : 0,
    );
    s.txs.set(id, tx);
    return id;
  }

  /** @internal cx do_transaction_end() after the argument checks. */
  endTransaction(s: Session, tx: Transaction, commit: boolean): XsErrno | null {
    s.txs.delete(tx.id);
    if (!commit) return null;
    if (tx.failed) return "ENOMEM";
    if (tx.nodeCreated && !this.isPrivileged(s.domid) && this.quotas.nodes > 0) {
      for (const [owner, d] of tx.deltas) {
        if (d > 0 && !this.isPrivileged(owner) && this.db.ownedCount(owner) + d >= this.quotas.nodes) {
          this.noteQuota(s.domid, "nodes", "ENOSPC");
          return "ENOSPC";
        }
      }
    }
    if (this.faults?.commit?.(s.domid, tx.id) === "EAGAIN") {
      this.emit({ kind: "fault", fault: "commit-eagain", connId: s.id, domid: s.domid, txId: tx.id });
      return "EAGAIN";
    }
    if (tx.conflicts()) return "EAGAIN";
    const fired = tx.apply();
    if (this.watchTable.size === 0) return null;
    const env = this.env(s, null);
    for (const e of fired) {
      const old = e.origPerms;
      // node and parent as committed (looked up when a watch matches, before any delivery)
      this.fire(e.path, e.exact, () => {
        const node = this.db.get(e.path);
        const parent = e.path === "/" ? undefined : this.db.get(parentPath(e.path));
        return (w) => {
          if (old && (ops.perm(env, old, w) & PERM_READ) !== 0) return true;
          if (!node) return false;
          if ((ops.perm(env, this.db.effectivePerms(node), w) & PERM_READ) !== 0) return true;
          return parent !== undefined && (ops.perm(env, this.db.effectivePerms(parent), w) & PERM_READ) !== 0;
        };
      });
    }
    return null;
  }

  /** @internal */
  domainWatchCount(domid: number): number {
    let n = 0;
    for (const a of this.sessions.values())
      if (a.session.domid === domid) n += this.watchTable.forConnection(a.session.id).length;
    return n;
  }

  /** @internal */
  domainTransactionCount(s: Session): number {
    let n = 0;
    for (const a of this.sessions.values()) if (a.session.domid === s.domid) n += a.session.txs.size;
    return n;
  }

  /** @internal */
  addWatch(s: Session, path: string, token: string, relative: boolean): void {
    this.watchTable.add({
      connId: s.id,
      connSeq: s.seq,
      path,
      token,
      prefixLen: relative ? domainPath(s.domid).length + 1 : 0,
    });
  }

  /** @internal */
  removeWatch(s: Session, path: string, token: string): boolean {
    const w = this.watchTable.find(s.id, path, token);
    if (!w) return false;
    this.watchTable.remove(w);
    return true;
  }

  /** @internal */
  resetWatches(s: Session): void {
    this.watchTable.removeConnection(s.id);
    if (this.profile.resetDropsTransactions) s.txs.clear();
  }

  // ---- domains ------------------------------------------------------------------------------

  /** Same path as an INTRODUCE frame from dom0. */
  introduceDomain(domid: number, gfn: string | number | bigint = 0, port = 1): "OK" | XsErrno {
    return this.adminCall(XsType.INTRODUCE, [String(domid), String(gfn), String(port)]);
  }

  /** Same path as a RELEASE frame from dom0. */
  releaseDomain(domid: number): "OK" | XsErrno {
    return this.adminCall(XsType.RELEASE, [String(domid)]);
  }

  private adminCall(type: number, args: string[]): "OK" | XsErrno {
    this.enter();
    try {
      const s = new Session(0, 0, "admin", 0, () => "queued");
      const r = this.run(
        s,
        type,
        0,
        new Uint8Array(args.flatMap((a) => [...a].map((c) => c.charCodeAt(0) & 0xff).concat(0))),
      );
      return r.ok ? "OK" : r.errno;
    } finally {
      this.leave();
    }
  }

  /** @internal cx do_introduce() after argument checks. */
  introduce(domid: number, gfn: string, port: number): XsErrno | null {
    if (!this.host.domainExists(domid)) return "EINVAL";
    const existing = this.domainTable.get(domid);
    const r = this.host.introduce(domid, gfn, port);
    if (r !== "ok") return r;
    if (existing) {
      existing.gfn = gfn;
      existing.port = port;
      // cx domain_conn_reset(): watches, transactions and buffers of the domain's connection
      for (const a of this.sessions.values()) {
        if (a.session.domid !== domid || this.isPrivileged(domid)) continue;
        this.watchTable.removeConnection(a.session.id);
        a.session.txs.clear();
        a.conn?.resetBuffers();
      }
      this.emit({ kind: "domain-introduced", domid, reintroduced: true });
      return null;
    }
    this.domainTable.add({ domid, gfn, port, target: undefined });
    this.db.allocDomain(domid);
    this.emit({ kind: "domain-introduced", domid, reintroduced: false });
    if (!this.isPrivileged(domid)) this.fire(SPECIAL_INTRODUCE, true, () => () => true);
    return null;
  }

  /** @internal cx do_release() / destroy_domain(). */
  release(domid: number): XsErrno | null {
    if (this.isPrivileged(domid)) return "EINVAL";
    for (const a of [...this.sessions.values()]) {
      if (a.session.domid !== domid) continue;
      if (a.conn) a.conn.shutdown("released");
      else this.closeSession(a.session);
    }
    this.removeOwnedNodes(domid);
    this.db.freeDomain(domid);
    this.domainTable.remove(domid);
    this.invalidateCallers();
    this.host.release(domid);
    this.emit({ kind: "domain-released", domid });
    this.fire(SPECIAL_RELEASE, true, () => () => true);
    return null;
  }

  /** cx domain_tree_remove() (XSA-322): delete every node the domain owns, with its subtree. */
  private removeOwnedNodes(domid: number): void {
    const victims: string[] = [];
    const visit = (path: string) => {
      const node = this.db.get(path);
      if (!node) return;
      if (path !== "/" && node.perms[0]?.id === domid) {
        victims.push(path);
        return;
      }
      for (const name of this.store.list(path) ?? []) visit(childPath(path, name));
    };
    visit("/");
    const admin = new Session(0, 0, "admin", 0, () => "queued");
    const env = this.env(admin, null);
    for (const p of victims) {
      try {
        ops.rm(env, p);
      } catch (e) {
        if (!(e instanceof XsOpError)) throw e;
      }
    }
  }

  /** @internal */
  resume(_domid: number): void {}

  /** @internal cx do_set_target(). */
  setTarget(domid: number, target: number): XsErrno | null {
    const d = this.domainTable.get(domid);
    if (!d) return "ENOENT";
    if (!this.domainTable.get(target)) return "ENOENT";
    d.target = target;
    this.invalidateCallers();
    return null;
  }

  /** @internal */
  control(s: Session, args: string[]): Uint8Array {
    const extra = args[0] === undefined ? undefined : this.controlCommands[args[0]];
    if (extra && Object.hasOwn(this.controlCommands, args[0]!))
      return encodeString(extra(args.slice(1), s.domid));
    return controlCommand(this, s, args);
  }

  /** @internal */
  noteQuota(domid: number, quota: string, errno: XsErrno): void {
    let m = this.quotaHits.get(domid);
    if (!m) {
      m = new Map();
      this.quotaHits.set(domid, m);
    }
    const h = m.get(quota);
    if (h) {
      h.count++;
      h.errno = errno;
    } else m.set(quota, { quota, errno, count: 1 });
    this.emit({ kind: "quota-refused", domid, quota, errno });
  }

  /** Quotas a domain ran into so far (name → count), for debugging E2BIG/ENOSPC. */
  quotaRefusals(domid: number): QuotaHit[] {
    return [...(this.quotaHits.get(domid)?.values() ?? [])].map((h) => ({ ...h }));
  }

  /** Introduced domains. */
  domains(): DomainInfo[] {
    return this.domainTable.all().map((d) => ({ ...d }));
  }

  // ---- snapshot -----------------------------------------------------------------------------

  /** The whole server (store, domains, connections' watches/transactions/buffers) as bytes. */
  snapshot(): Uint8Array {
    return snapshotServer(this);
  }

  /** Rebuilds a server from `snapshot()` bytes; throws XsSnapshotError on a corrupt stream. */
  static restore(bytes: Uint8Array, options: XenStoreServerOptions = {}): XenStoreServer {
    return restoreServer(bytes, options);
  }

  /** @internal */
  counters(): { nextConnId: number; nextSeq: number; nextGlobalTx: number } {
    return { nextConnId: this.nextConnId, nextSeq: this.nextSeq, nextGlobalTx: this.nextGlobalTx };
  }

  /** @internal */
  setCounters(c: { nextConnId: number; nextSeq: number; nextGlobalTx: number }): void {
    this.nextConnId = c.nextConnId;
    this.nextSeq = c.nextSeq;
    this.nextGlobalTx = c.nextGlobalTx;
  }

  /** @internal */
  emit(e: Parameters<TraceSink>[0]): void {
    this.trace?.(e);
  }

  /** @internal used by StoreView */
  quotaName(q: QuotaName): number {
    return this.quotas[q];
  }
}

/**
 * The host's hooks, each falling back to DEFAULT_HOST's. Methods are looked up on the object and
 * called on it, so a class instance (e.g. the ring transport's XenstoreRingHost) works as a host —
 * spreading it would lose its prototype methods.
 */
function withDefaults(h: Partial<DomainHost> | undefined): DomainHost {
  if (h === undefined) return DEFAULT_HOST;
  return {
    domainExists: (domid) => (h.domainExists ? h.domainExists(domid) : DEFAULT_HOST.domainExists(domid)),
    introduce: (domid, gfn, port) =>
      h.introduce ? h.introduce(domid, gfn, port) : DEFAULT_HOST.introduce(domid, gfn, port),
    release: (domid) => (h.release ? h.release(domid) : DEFAULT_HOST.release(domid)),
  };
}

/** Request types processWholeFrame() runs on their strings (1), indexed by xs_wire.h type. */
const PATH_TYPES: readonly number[] = (() => {
  const t: number[] = [];
  for (const type of [XsType.READ, XsType.DIRECTORY, XsType.GET_PERMS, XsType.MKDIR, XsType.RM, XsType.WRITE])
    t[type] = 1;
  for (let i = 0; i < t.length; i++) t[i] ??= 0;
  return t;
})();
