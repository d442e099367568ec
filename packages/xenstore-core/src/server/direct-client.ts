// DirectClient: an in-process client running the same handlers as wire frames, without
// framing (benchmarks, tests). Results are typed; errors are errno names. One-path requests
// whose strings a payload could carry as they are (latin1, no NUL in the path) skip the payload:
// the server runs them on the strings (executePathRequest), exactly as it runs the decoded frame;
// anything else is encoded and decoded as on the wire (chars above 0xff lose their high byte).
import type { XsErrno } from "../wire/errors.ts";
import { bytesToLatin1, encodeString, encodeStrings, encodeWrite, splitStrings } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import type { ExecResult, PathRequestType } from "./dispatch.ts";
import type { Session } from "./session.ts";
import type { XenStoreServer } from "./xenstore-server.ts";

export type Result<T> = { ok: true; value: T } | { ok: false; errno: XsErrno };

export class DirectClient {
  /** @internal */
  constructor(
    private readonly server: XenStoreServer,
    private readonly session: Session,
  ) {}

  get domid(): number {
    return this.session.domid;
  }

  /**
   * Raw call: type, tx id, payload → reply payload or errno. The reply payload may be shared
   * with the server (e.g. a DIRECTORY listing is a node's cached name buffer): read-only.
   */
  call(type: number, payload: Uint8Array, txId = 0): Result<Uint8Array> {
    const server = this.server;
    server.enter();
    try {
      const r = server.run(this.session, type, txId, payload);
      if (!r.ok) return r;
      if (r.after) r.after();
      return { ok: true, value: r.payload };
    } finally {
      server.leave();
    }
  }

  /** A call whose reply payload is not needed (OK replies). */
  private callVoid(type: number, payload: Uint8Array, txId: number): Result<void> {
    const server = this.server;
    server.enter();
    try {
      const r = server.run(this.session, type, txId, payload);
      if (!r.ok) return r;
      if (r.after) r.after();
      return VOID_OK;
    } finally {
      server.leave();
    }
  }

  /** A one-path request on its strings (see the top of the file); null = send it encoded. */
  private pathCall(type: PathRequestType, path: string, value: string, txId: number): ExecResult | null {
    if (!payloadString(path, 1) || !payloadString(value, 0)) return null;
    const server = this.server;
    server.enter();
    try {
      return server.runPath(this.session, type, txId, path, value);
    } finally {
      server.leave();
    }
  }

  private strs(type: number, args: string[], txId: number): Result<Uint8Array> {
    return this.call(type, encodeStrings(args), txId);
  }

  read(path: string, txId = 0): Result<Uint8Array> {
    const r = this.pathCall(XsType.READ, path, "", txId);
    if (r === null) return this.call(XsType.READ, encodeString(path), txId);
    return r.ok ? { ok: true, value: r.payload } : r;
  }

  readString(path: string, txId = 0): Result<string> {
    return mapR(this.read(path, txId), (v) => bytesToLatin1(v));
  }

  write(path: string, value: string | Uint8Array, txId = 0): Result<void> {
    const r = typeof value === "string" ? this.pathCall(XsType.WRITE, path, value, txId) : null;
    if (r === null) return this.callVoid(XsType.WRITE, encodeWrite(path, value), txId);
    return r.ok ? VOID_OK : r;
  }

  mkdir(path: string, txId = 0): Result<void> {
    return this.pathVoid(XsType.MKDIR, path, txId);
  }

  rm(path: string, txId = 0): Result<void> {
    return this.pathVoid(XsType.RM, path, txId);
  }

  private pathVoid(type: typeof XsType.MKDIR | typeof XsType.RM, path: string, txId: number): Result<void> {
    const r = this.pathCall(type, path, "", txId);
    if (r === null) return this.callVoid(type, encodeString(path), txId);
    return r.ok ? VOID_OK : r;
  }

  directory(path: string, txId = 0): Result<string[]> {
    const r = this.pathCall(XsType.DIRECTORY, path, "", txId);
    if (r === null)
      return mapR(this.call(XsType.DIRECTORY, encodeString(path), txId), (v) => splitStrings(v).strings);
    return r.ok ? { ok: true, value: splitStrings(r.payload).strings } : r;
  }

  getPerms(path: string, txId = 0): Result<string[]> {
    return mapR(this.strs(XsType.GET_PERMS, [path], txId), (v) => splitStrings(v).strings);
  }

  setPerms(path: string, perms: string[], txId = 0): Result<void> {
    return mapR(this.strs(XsType.SET_PERMS, [path, ...perms], txId), () => undefined);
  }

  watch(path: string, token: string): Result<void> {
    return mapR(this.strs(XsType.WATCH, [path, token], 0), () => undefined);
  }

  unwatch(path: string, token: string): Result<void> {
    return mapR(this.strs(XsType.UNWATCH, [path, token], 0), () => undefined);
  }

  transactionStart(): Result<number> {
    return mapR(this.strs(XsType.TRANSACTION_START, [""], 0), (v) => Number(splitStrings(v).strings[0]));
  }

  transactionEnd(txId: number, commit: boolean): Result<void> {
    return this.callVoid(XsType.TRANSACTION_END, commit ? COMMIT : ABORT, txId);
  }

  /** Drops this client's watches and transactions. */
  close(): void {
    this.server.closeSession(this.session);
  }
}

/** The result of every successful void call (shared, frozen). */
const VOID_OK: Result<void> = Object.freeze({ ok: true, value: undefined }) as Result<void>;
const COMMIT = encodeString("T");
const ABORT = encodeString("F");

/** Whether a payload carries `s` unchanged: no char above 0xff, and none below `min` (1: no NUL). */
function payloadString(s: string, min: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < min || c > 0xff) return false;
  }
  return true;
}

function mapR<A, B>(r: Result<A>, f: (a: A) => B): Result<B> {
  return r.ok ? { ok: true, value: f(r.value) } : r;
}
