// Request dispatch (cx process_message() + wire_funcs[] + the do_* handlers' payload parsing).
// Order of checks as cx: unknown type → ENOSYS; privileged-only → EACCES; transaction id
// lookup → ENOENT; then the handler parses its payload (xensim: EINVAL for every malformed
// payload where cx answers a stale errno).
import { XsOpError } from "../store/access.ts";
import type { DomainTable } from "../store/domains.ts";
import * as ops from "../store/operations.ts";
import { canonicalize, checkNodePath, domainPath, isRelative } from "../store/paths.ts";
import type { Caller, Perms } from "../store/permissions.ts";
import {
  formatPerms,
  PERM_OWNER,
  PERM_READ,
  PERM_WRITE,
  parsePerms,
  permForCaller,
} from "../store/permissions.ts";
import type { Profile } from "../store/profiles.ts";
import type { Quotas } from "../store/quotas.ts";
import type { XsStore } from "../store/store.ts";
import type { Transaction } from "../store/transactions.ts";
import type { WatchTable } from "../store/watches.ts";
import type { XsErrno } from "../wire/errors.ts";
import {
  bytesToLatin1,
  countNuls,
  encodeString,
  encodeStrings,
  latin1ToBytes,
  splitStrings,
} from "../wire/payload.ts";
import { DOMID_FIRST_RESERVED, DOMID_SELF, XENSTORE_REL_PATH_MAX, XsType } from "../wire/xs-wire.ts";
import type { Session } from "./session.ts";

/** What handlers need from the server (implemented by XenStoreServer). */
export interface ServerCore {
  readonly profile: Profile;
  readonly quotas: Quotas;
  readonly db: XsStore;
  readonly watchTable: WatchTable;
  readonly domainTable: DomainTable;
  callerOf(s: Session): Caller;
  env(s: Session, tx: Transaction | null): ops.OpEnv;
  startTransaction(s: Session): number;
  endTransaction(s: Session, tx: Transaction, commit: boolean): XsErrno | null;
  domainWatchCount(domid: number): number;
  domainTransactionCount(s: Session): number;
  addWatch(s: Session, path: string, token: string, relative: boolean): void;
  removeWatch(s: Session, path: string, token: string): boolean;
  resetWatches(s: Session): void;
  introduce(domid: number, gfn: string, port: number): XsErrno | null;
  release(domid: number): XsErrno | null;
  resume(domid: number): void;
  setTarget(domid: number, target: number): XsErrno | null;
  control(s: Session, args: string[]): Uint8Array;
  noteQuota(domid: number, quota: string, errno: XsErrno): void;
}

export interface HandlerResult {
  ok: true;
  payload: Uint8Array;
  /** runs after the reply is queued (WATCH's initial event) */
  after?: () => void;
}

type Handler = (
  core: ServerCore,
  s: Session,
  tx: Transaction | null,
  payload: Uint8Array,
  txId: number,
) => HandlerResult;

/**
 * The handler of a one-path request (READ, DIRECTORY, GET_PERMS, MKDIR, RM; WRITE with its
 * value) on its decoded strings, as latin1 (one char per payload byte).
 */
type PathHandler = (
  core: ServerCore,
  s: Session,
  tx: Transaction | null,
  path: string,
  value: string,
) => HandlerResult;

interface Spec {
  fn: Handler;
  /** one-path requests: `fn` decodes the payload and runs this (see executePathRequest) */
  path?: PathHandler;
  /** cx XS_FLAG_PRIV */
  priv?: boolean;
  /** cx XS_FLAG_NOTID */
  notid?: boolean;
}

export const OK = encodeString("OK");
/** The reply of every request answering "OK" (shared: never mutated). */
const OK_RESULT: HandlerResult = Object.freeze({ ok: true, payload: OK }) as HandlerResult;

function fail(errno: XsErrno): never {
  throw new XsOpError(errno);
}

/** cx onearg(): the payload must be one string with exactly one NUL, at the end. */
function onearg(p: Uint8Array): string {
  if (p.length === 0 || p.indexOf(0) !== p.length - 1) fail("EINVAL");
  return bytesToLatin1(p, 0, p.length - 1);
}

/** cx get_strings(): the NUL-terminated strings (trailing bytes without NUL ignored). */
function strings(p: Uint8Array): string[] {
  return splitStrings(p).strings;
}

/** C atoi() (as glibc: strtol base 10, clamped, truncated to int). */
export function atoi(s: string): number {
  let i = 0;
  while (i < s.length && " \t\n\v\f\r".includes(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  let v = 0n;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10n + BigInt(c - 48);
    if (v > 0x8000000000000000n) v = 0x8000000000000000n;
  }
  if (neg) v = -v;
  if (v > 0x7fffffffffffffffn) v = 0x7fffffffffffffffn;
  return Number(BigInt.asIntN(32, v));
}

function nodePath(s: Session, p: string): string {
  return canonicalize(s.domid, p);
}

/** A one-path request's spec: the payload must be one NUL-terminated path (cx onearg()). */
function onePath(path: PathHandler): Spec {
  return { path, fn: (core, s, tx, p) => path(core, s, tx, onearg(p), "") };
}

const readLike = (f: (env: ops.OpEnv, path: string) => Uint8Array): Spec =>
  onePath((core, s, tx, path) => ({ ok: true, payload: f(core.env(s, tx), nodePath(s, path)) }));

const HANDLERS: Map<number, Spec> = new Map<number, Spec>([
  [
    XsType.CONTROL,
    { priv: true, fn: (core, s, _tx, p) => ({ ok: true, payload: core.control(s, strings(p)) }) },
  ],
  [XsType.DIRECTORY, readLike(ops.directoryBytes)],
  [XsType.READ, readLike((env, path) => ops.read(env, path))],
  [XsType.GET_PERMS, readLike((env, path) => encodeStrings(formatPerms(ops.getPerms(env, path))))],
  [XsType.WATCH, { notid: true, fn: doWatch }],
  [XsType.UNWATCH, { notid: true, fn: doUnwatch }],
  [XsType.TRANSACTION_START, { fn: doTransactionStart }],
  [XsType.TRANSACTION_END, { fn: doTransactionEnd }],
  [XsType.INTRODUCE, { priv: true, fn: doIntroduce }],
  [XsType.RELEASE, { priv: true, fn: doRelease }],
  [XsType.GET_DOMAIN_PATH, { fn: doGetDomainPath }],
  [
    XsType.WRITE,
    {
      path: doWrite,
      fn: (core, s, tx, p) => {
        // cx do_write(): the path up to the first NUL, the value all the rest
        const nul = p.indexOf(0);
        if (nul < 0) fail("EINVAL");
        return doWrite(core, s, tx, bytesToLatin1(p, 0, nul), bytesToLatin1(p, nul + 1));
      },
    },
  ],
  [
    XsType.MKDIR,
    onePath((core, s, tx, path) => {
      ops.mkdir(core.env(s, tx), nodePath(s, path));
      return OK_RESULT;
    }),
  ],
  [
    XsType.RM,
    onePath((core, s, tx, path) => {
      ops.rm(core.env(s, tx), nodePath(s, path));
      return OK_RESULT;
    }),
  ],
  [XsType.SET_PERMS, { fn: doSetPerms }],
  [XsType.IS_DOMAIN_INTRODUCED, { priv: true, fn: doIsIntroduced }],
  [XsType.RESUME, { priv: true, fn: doResume }],
  [XsType.SET_TARGET, { priv: true, fn: doSetTarget }],
  [
    XsType.RESET_WATCHES,
    {
      fn: (core, s) => {
        core.resetWatches(s);
        return OK_RESULT;
      },
    },
  ],
  [XsType.DIRECTORY_PART, { fn: doDirectoryPart }],
]);

const SPECS: (Spec | undefined)[] = [];
for (const [type, spec] of HANDLERS) SPECS[type] = spec;

function specFor(profile: Profile, type: number): Spec | undefined {
  if (type === XsType.GET_DOMAIN_PATH && !profile.getDomainPath) return undefined;
  if (type === XsType.DIRECTORY_PART && !profile.directoryPart) return undefined;
  return type >= 0 && type < SPECS.length ? SPECS[type] : undefined;
}

export type ExecResult =
  | { ok: true; payload: Uint8Array; after?: () => void }
  | { ok: false; errno: XsErrno };

type Refused = { readonly ok: false; readonly errno: XsErrno };
const ENOSYS: Refused = Object.freeze({ ok: false, errno: "ENOSYS" });
const EACCES: Refused = Object.freeze({ ok: false, errno: "EACCES" });
const ENOENT: Refused = Object.freeze({ ok: false, errno: "ENOENT" });

function refused(tx: Transaction | null | Refused): tx is Refused {
  return tx === EACCES || tx === ENOENT;
}

/** The checks before a handler runs (cx process_message()): the transaction, or a refusal. */
function prelude(core: ServerCore, s: Session, spec: Spec, txId: number): Transaction | null | Refused {
  if (spec.priv && !core.callerOf(s).privileged) return EACCES;
  if (spec.notid || txId === 0) return null;
  return s.txs.get(txId) ?? ENOENT;
}

/** A handler's XsOpError as its reply (quota refusals noted); anything else is a bug: rethrown. */
function refusal(core: ServerCore, s: Session, e: unknown): ExecResult {
  if (!(e instanceof XsOpError)) throw e;
  if (e.quota) core.noteQuota(s.domid, e.quota, e.errno);
  return { ok: false, errno: e.errno };
}

/** Runs one request for a session. Never throws for protocol-level problems. */
export function execute(
  core: ServerCore,
  s: Session,
  type: number,
  txId: number,
  payload: Uint8Array,
): ExecResult {
  const spec = specFor(core.profile, type);
  if (!spec) return ENOSYS;
  const tx = prelude(core, s, spec, txId);
  if (refused(tx)) return tx;
  try {
    return spec.fn(core, s, tx, payload, txId);
  } catch (e) {
    return refusal(core, s, e);
  }
}

/** The requests `executePathRequest` takes. */
export type PathRequestType =
  | typeof XsType.READ
  | typeof XsType.DIRECTORY
  | typeof XsType.GET_PERMS
  | typeof XsType.WRITE
  | typeof XsType.MKDIR
  | typeof XsType.RM;

/**
 * `execute` of a one-path request given as the strings its payload decodes to — `path\0` (WRITE:
 * `path\0value`) — for an in-process client: the same checks in the same order and the same
 * handler, without encoding the strings only to decode them again. The caller guarantees that
 * they are what a payload decodes to: latin1 (no char above 0xff) and no NUL in `path`.
 */
export function executePathRequest(
  core: ServerCore,
  s: Session,
  type: PathRequestType,
  txId: number,
  path: string,
  value: string,
): ExecResult {
  const spec = specFor(core.profile, type)!;
  const tx = prelude(core, s, spec, txId);
  if (refused(tx)) return tx;
  try {
    return spec.path!(core, s, tx, path, value);
  } catch (e) {
    return refusal(core, s, e);
  }
}

function doWrite(
  core: ServerCore,
  s: Session,
  tx: Transaction | null,
  path: string,
  value: string,
): HandlerResult {
  ops.write(core.env(s, tx), nodePath(s, path), value);
  return OK_RESULT;
}

function doWatch(core: ServerCore, s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  const v = strings(p);
  if (v.length !== 2) fail("EINVAL");
  const [given, token] = v as [string, string];
  const { path, relative } = watchPath(core, s, given);
  if (core.watchTable.find(s.id, path, token)) fail("EEXIST");
  const caller = core.callerOf(s);
  if (!caller.privileged && core.quotas.watches > 0 && core.domainWatchCount(s.domid) > core.quotas.watches) {
    core.noteQuota(s.domid, "watches", core.profile.watchQuotaErrno);
    fail(core.profile.watchQuotaErrno);
  }
  core.addWatch(s, path, token, relative);
  return { ok: true, payload: OK, after: () => s.deliverEvent(given, token) };
}

/** cx do_watch() path handling: `@…` kept as is, others canonicalized and validated. */
function watchPath(core: ServerCore, s: Session, given: string): { path: string; relative: boolean } {
  if (given.startsWith("@")) {
    if (!core.profile.specialWatches || given.length > XENSTORE_REL_PATH_MAX) fail("EINVAL");
    return { path: given, relative: false };
  }
  const path = canonicalize(s.domid, given);
  const v = checkNodePath(path, core.profile.paths);
  if (v !== "ok") fail(v);
  return { path, relative: isRelative(given) };
}

function doUnwatch(core: ServerCore, s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  const v = strings(p);
  if (v.length !== 2) fail("EINVAL");
  const [given, token] = v as [string, string];
  const path = given.startsWith("@") ? given : canonicalize(s.domid, given);
  if (!core.removeWatch(s, path, token)) fail("ENOENT");
  return OK_RESULT;
}

function doTransactionStart(
  core: ServerCore,
  s: Session,
  tx: Transaction | null,
  _p: Uint8Array,
  txId: number,
): HandlerResult {
  if (txId !== 0 && core.profile.startInTxErrno === "EINVAL") fail("EINVAL");
  if (tx) fail("EBUSY");
  const caller = core.callerOf(s);
  if (
    !caller.privileged &&
    core.quotas.transactions > 0 &&
    core.domainTransactionCount(s) > core.quotas.transactions
  ) {
    core.noteQuota(s.domid, "transactions", "ENOSPC");
    fail("ENOSPC");
  }
  return { ok: true, payload: encodeString(String(core.startTransaction(s))) };
}

function doTransactionEnd(
  core: ServerCore,
  s: Session,
  tx: Transaction | null,
  p: Uint8Array,
): HandlerResult {
  let arg: string;
  try {
    arg = onearg(p);
  } catch {
    fail("EINVAL");
  }
  if (arg !== "T" && arg !== "F") fail("EINVAL");
  if (!tx) fail("ENOENT");
  const err = core.endTransaction(s, tx, arg === "T");
  if (err) fail(err);
  return OK_RESULT;
}

function doIntroduce(core: ServerCore, _s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  const v = strings(p);
  if (v.length < 3) fail("EINVAL");
  const domid = atoi(v[0]!);
  const port = atoi(v[2]!);
  if (port <= 0) fail("EINVAL");
  if (domid < 0 || domid >= DOMID_FIRST_RESERVED) fail("EINVAL");
  const err = core.introduce(domid, v[1]!, port);
  if (err) fail(err);
  return OK_RESULT;
}

/** cx onearg_domain(): a non-zero, introduced domid. */
function oneargDomain(core: ServerCore, p: Uint8Array): number {
  const domid = atoi(onearg(p));
  if (domid === 0) fail("EINVAL");
  if (!core.domainTable.isIntroduced(domid)) fail("ENOENT");
  return domid;
}

function doRelease(core: ServerCore, _s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  const err = core.release(oneargDomain(core, p));
  if (err) fail(err);
  return OK_RESULT;
}

function doResume(core: ServerCore, _s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  core.resume(oneargDomain(core, p));
  return OK_RESULT;
}

function doIsIntroduced(
  core: ServerCore,
  _s: Session,
  _tx: Transaction | null,
  p: Uint8Array,
): HandlerResult {
  const domid = atoi(onearg(p));
  const yes = domid === DOMID_SELF || core.domainTable.isIntroduced(domid);
  return { ok: true, payload: encodeString(yes ? "T" : "F") };
}

function doGetDomainPath(
  _core: ServerCore,
  _s: Session,
  _tx: Transaction | null,
  p: Uint8Array,
): HandlerResult {
  return { ok: true, payload: encodeString(domainPath(atoi(onearg(p)) >>> 0)) };
}

function doSetTarget(core: ServerCore, _s: Session, _tx: Transaction | null, p: Uint8Array): HandlerResult {
  const v = strings(p);
  if (v.length < 2) fail("EINVAL");
  const err = core.setTarget(atoi(v[0]!), atoi(v[1]!));
  if (err) fail(err);
  return OK_RESULT;
}

function doSetPerms(core: ServerCore, s: Session, tx: Transaction | null, p: Uint8Array): HandlerResult {
  const n = countNuls(p);
  if (n < 2) fail("EINVAL");
  const v = strings(p);
  const permStrings = v.slice(1, n);
  const caller = core.callerOf(s);
  if (!caller.privileged && core.quotas.permissions > 0 && permStrings.length > core.quotas.permissions) {
    core.noteQuota(s.domid, "permissions", "ENOSPC");
    fail("ENOSPC");
  }
  const perms = parsePerms(permStrings);
  if (!perms) fail("EINVAL");
  const given = v[0]!;
  if (given.startsWith("@")) {
    setPermsSpecial(core, caller, given, perms);
    return OK_RESULT;
  }
  ops.setPerms(core.env(s, tx), nodePath(s, given), perms);
  return OK_RESULT;
}

/** cx set_perms_special(), after do_set_perms()'s domain_alloc_permrefs() and owner check. */
function setPermsSpecial(core: ServerCore, caller: Caller, name: string, given: Perms): void {
  const cur = core.db.special.get(name);
  if (!core.profile.specialWatches) fail("EINVAL");
  if (!core.db.domainExists(given[0]!.id)) fail("ENOENT");
  const perms = core.db.permRefs(given);
  if (cur === undefined) fail("EINVAL");
  const want = PERM_WRITE | PERM_OWNER;
  if (!caller.privileged && (permForCaller(caller, cur) & want) !== want) fail("EACCES");
  core.db.special.set(name, perms);
}

function doDirectoryPart(core: ServerCore, s: Session, tx: Transaction | null, p: Uint8Array): HandlerResult {
  if (countNuls(p) !== 2) fail("EINVAL");
  const v = strings(p);
  const { gen, names: children } = ops.directoryPartBytes(core.env(s, tx), nodePath(s, v[0]!));
  const off = atoi(v[1]!) >>> 0;
  const genBytes = encodeString(String(gen));
  const genlen = genBytes.length;
  if (off >= children.length) return { ok: true, payload: concat(genBytes, new Uint8Array([0])) };
  let len = 0;
  const maxlen = 4096 - genlen - 1;
  let child = off;
  for (;;) {
    const end = children.indexOf(0, child);
    const slen = end - child;
    if (len + slen >= maxlen) break;
    len += slen + 1;
    child += slen + 1;
    if (off + len === children.length) break;
  }
  const tail = off + len === children.length;
  const out = new Uint8Array(genlen + len + (tail ? 1 : 0));
  out.set(genBytes, 0);
  out.set(children.subarray(off, off + len), genlen);
  return { ok: true, payload: out };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o = new Uint8Array(a.length + b.length);
  o.set(a, 0);
  o.set(b, a.length);
  return o;
}

export { latin1ToBytes, PERM_READ };
