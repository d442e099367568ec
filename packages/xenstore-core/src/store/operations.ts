// Node operations with cx semantics (xenstored_core.c), independent of the wire: each takes
// a canonical path and typed arguments, works through a NodeAccess (live store or
// transaction) and throws XsOpError with the errno cx replies.
import { omForEach, omGet, omKeys, omNames } from "../pds/ordered-map.ts";
import { encodeStrings, latin1ToBytes } from "../wire/payload.ts";
import { type NodeAccess, XsOpError } from "./access.ts";
import { baseName, checkNodePath, childPath, parentPath } from "./paths.ts";
import {
  type Caller,
  PERM_OWNER,
  PERM_READ,
  PERM_WRITE,
  type PermEntry,
  type Perms,
  permForCaller,
} from "./permissions.ts";
import type { Profile } from "./profiles.ts";
import { nodeRecordSize, type Quotas } from "./quotas.ts";
import type { Transaction } from "./transactions.ts";
import { EMPTY_VALUE, type XsNode } from "./tree.ts";

/** Decides whether a watcher may see an event (cx watch_permitted()). */
export type EventFilter = (watcher: Caller) => boolean;

export interface OpEnv {
  readonly profile: Profile;
  readonly quotas: Quotas;
  readonly caller: Caller;
  readonly access: NodeAccess;
  readonly tx: Transaction | null;
  /**
   * cx fire_watches(): fire now, or queue in the transaction. `nodePerms` are the node's perms
   * after the change (or of the removed node), `oldPerms` its perms before a SET_PERMS; the
   * watch filter (see `liveFilter`) is only built when a watch matches, outside transactions
   * (so a transaction records no extra node accesses).
   */
  changed(path: string, exact: boolean, nodePerms: Perms | null, oldPerms: Perms | null): void;
  /** cx: does the domain exist (SET_PERMS owner check). */
  domainExists(domid: number): boolean;
}

export function perm(env: OpEnv, perms: Perms, who: Caller = env.caller): number {
  return permForCaller(who, perms, env.profile.aclMatch === "last");
}

function unprivileged(env: OpEnv): boolean {
  return !env.caller.privileged;
}

/** cx ask_parents(): perms of the nearest existing strict ancestor. */
function askParents(env: OpEnv, path: string): number {
  let p = path;
  do {
    p = parentPath(p);
    const n = env.access.get(p);
    if (n) return perm(env, env.access.perms(n));
  } while (p !== "/");
  return 0;
}

/** cx get_node() without throwing: the node, or the errno cx answers (ENOENT vs EACCES hidden as cx). */
export function findNode(
  env: OpEnv,
  path: string,
  want: number,
): XsNode | "ENOENT" | "EACCES" | "EINVAL" | "E2BIG" {
  const v = checkNodePath(path, env.profile.paths);
  if (v !== "ok") return v;
  const node = env.access.get(path);
  let errno: "ENOENT" | "EACCES";
  if (node) {
    if ((perm(env, env.access.perms(node)) & want) === want) return node;
    errno = "EACCES";
  } else errno = "ENOENT";
  // cx errno_from_parents(). A privileged caller may do everything on any ancestor (root always
  // exists), so the answer is known; outside a transaction its reads are not recorded either.
  if (env.profile.hideExistence && (env.tx !== null || !env.caller.privileged)) {
    if ((askParents(env, path) & want) === 0) errno = "EACCES";
  }
  return errno;
}

/** cx get_node(): validates, reads and checks `want`; throws the errno cx answers. */
export function getNode(env: OpEnv, path: string, want: number): XsNode {
  const r = findNode(env, path, want);
  if (typeof r === "string") throw new XsOpError(r);
  return r;
}

/** Like getNode but answers `undefined` for ENOENT. */
function getNodeOrMissing(env: OpEnv, path: string, want: number): XsNode | undefined {
  const r = findNode(env, path, want);
  if (r === "ENOENT") return undefined;
  if (typeof r === "string") throw new XsOpError(r);
  return r;
}

function checkSize(env: OpEnv, nperms: number, valueLen: number, childLen: number): void {
  if (!unprivileged(env) || env.quotas.nodeSize <= 0) return;
  if (nodeRecordSize(nperms, valueLen, childLen) >= env.quotas.nodeSize) {
    if (env.tx) env.tx.failed = true;
    throw new XsOpError("ENOSPC", "nodeSize");
  }
}

/**
 * Watch filter for a live node: readable old perms, node or parent (cx watch_permitted()). The
 * parent is looked up at most once, and only for a watcher the node's perms do not admit.
 */
export function liveFilter(
  env: OpEnv,
  path: string,
  nodePerms: Perms | null,
  oldPerms: Perms | null,
): EventFilter {
  let parentPerms: Perms | null | undefined;
  return (w) => {
    if (oldPerms !== null && (perm(env, oldPerms, w) & PERM_READ) !== 0) return true;
    if (nodePerms !== null && (perm(env, nodePerms, w) & PERM_READ) !== 0) return true;
    if (parentPerms === undefined) {
      const parent = path === "/" ? undefined : env.access.get(parentPath(path));
      parentPerms = parent === undefined ? null : env.access.perms(parent);
    }
    return parentPerms !== null && (perm(env, parentPerms, w) & PERM_READ) !== 0;
  };
}

export function read(env: OpEnv, path: string): Uint8Array {
  return latin1ToBytes(getNode(env, path, PERM_READ).value);
}

export function directory(env: OpEnv, path: string): string[] {
  const node = getNode(env, path, PERM_READ);
  const names = omKeys(node.children);
  if (env.profile.directoryOrder === "sorted") names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names;
}

/**
 * DIRECTORY reply bytes: the child names, each NUL-terminated. In creation order this is the
 * node's cached name buffer itself (read-only: replies are copied into frames, and DirectClient
 * callers must not modify reply payloads).
 */
export function directoryBytes(env: OpEnv, path: string): Uint8Array {
  const node = getNode(env, path, PERM_READ);
  if (env.profile.directoryOrder === "sorted") return encodeStrings(directory(env, path));
  return omNames(node.children);
}

/** cx send_directory_part() as bytes: the node's generation and its children's names. */
export function directoryPartBytes(env: OpEnv, path: string): { gen: number; names: Uint8Array } {
  const node = getNode(env, path, PERM_READ);
  if (env.profile.directoryOrder === "sorted")
    return { gen: node.gen, names: encodeStrings(directory(env, path)) };
  return { gen: node.gen, names: omNames(node.children) };
}

/** cx send_directory_part(): the node's generation and its children (the caller pages them). */
export function directoryPart(env: OpEnv, path: string): { gen: number; names: string[] } {
  const node = getNode(env, path, PERM_READ);
  return { gen: node.gen, names: directory(env, path) };
}

export function getPerms(env: OpEnv, path: string): Perms {
  return env.access.perms(getNode(env, path, PERM_READ));
}

/** Permissions a node created by the caller below `parent` gets (cx construct_node()). */
function inheritedPerms(env: OpEnv, parent: Perms): Perms {
  if (env.profile.newNodeOwner === "creator" && unprivileged(env)) {
    const owner = parent[0] ?? { id: 0, perm: 0 };
    return [{ id: env.caller.domid, perm: owner.perm }, ...parent.slice(1)];
  }
  return parent;
}

/** cx create_node(): creates `path` and its missing ancestors; all or nothing. Returns its perms. */
function createNode(env: OpEnv, path: string, value: string): Perms {
  const parentOfPath = parentPath(path);
  const pn = env.access.get(parentOfPath);
  if (pn) {
    // The common case, one new node below an existing parent: the general code below, unrolled.
    const pp = env.access.perms(pn);
    if ((perm(env, pp) & PERM_WRITE) === 0) throw new XsOpError("EACCES");
    if (unprivileged(env) && !env.tx && env.quotas.nodes > 0) {
      if (env.access.ownedCount(env.caller.domid) + 1 > env.quotas.nodes)
        throw new XsOpError("ENOSPC", "nodes");
    }
    const np = inheritedPerms(env, pp);
    const name = baseName(path);
    checkSize(env, pp.length, pn.value.length, pn.childLen + name.length + 1);
    checkSize(env, np.length, value.length, 0);
    env.access.addChild(parentOfPath, name, value, np);
    return np;
  }
  // Walk up to the deepest existing ancestor (cx construct_node reads each).
  const missing: string[] = [path];
  let parent = parentPath(path);
  let pnode = env.access.get(parent);
  while (!pnode) {
    if (parent === "/") throw new XsOpError("ENOENT");
    missing.push(parent);
    parent = parentPath(parent);
    pnode = env.access.get(parent);
  }
  // Creating needs write on the deepest existing ancestor (cx gets this via errno_from_parents).
  const pp = env.access.perms(pnode);
  if ((perm(env, pp) & PERM_WRITE) === 0) throw new XsOpError("EACCES");
  // Checks first (cx writes bottom-up and undoes on error: same outcome).
  if (unprivileged(env) && !env.tx && env.quotas.nodes > 0) {
    if (env.access.ownedCount(env.caller.domid) + missing.length > env.quotas.nodes) {
      throw new XsOpError("ENOSPC", "nodes");
    }
  }
  const perms: Perms[] = [];
  let p = pp;
  for (let i = missing.length - 1; i >= 0; i--) {
    p = inheritedPerms(env, p);
    perms.push(p);
  }
  // sizes: the existing ancestor gains a child; each new node holds one child except the last
  checkSize(env, pp.length, pnode.value.length, pnode.childLen + baseName(missing.at(-1)!).length + 1);
  for (let i = missing.length - 1; i >= 0; i--) {
    const np = perms[missing.length - 1 - i]!;
    const childLen = i > 0 ? baseName(missing[i - 1]!).length + 1 : 0;
    checkSize(env, np.length, i === 0 ? value.length : 0, childLen);
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    const np = perms[missing.length - 1 - i]!;
    env.access.addChild(parentPath(missing[i]!), baseName(missing[i]!), i === 0 ? value : EMPTY_VALUE, np);
  }
  return perms[perms.length - 1]!;
}

/** WRITE of `value` (latin1 bytes, see XsNode.value). */
export function write(env: OpEnv, path: string, value: string): void {
  const node = getNodeOrMissing(env, path, PERM_WRITE);
  let perms: Perms;
  if (!node) perms = createNode(env, path, value);
  else {
    // the perms as read, written back (cx write_node() of the node read_node() adjusted)
    perms = env.access.perms(node);
    checkSize(env, perms.length, value.length, node.childLen);
    env.access.setNode(path, value, perms);
  }
  env.changed(path, false, perms, null);
}

export function mkdir(env: OpEnv, path: string): void {
  const node = getNodeOrMissing(env, path, PERM_WRITE);
  if (node) return;
  env.changed(path, false, createNode(env, path, EMPTY_VALUE), null);
}

/**
 * cx delete_node(): children first; an exact event for each removed descendant (the removed
 * node itself gets the subtree event from rm(), observed cx 4.17).
 */
function deleteTree(env: OpEnv, path: string, node: XsNode, top: boolean): void {
  const names = omKeys(node.children);
  for (const name of names) {
    const cp = childPath(path, name);
    const child = env.access.get(cp);
    if (child) deleteTree(env, cp, child, false);
  }
  if (!top) env.changed(path, true, env.access.perms(node), null);
  env.access.removeChild(parentPath(path), baseName(path));
}

export function rm(env: OpEnv, path: string): void {
  const node = getNodeOrMissing(env, path, PERM_WRITE);
  if (!node) {
    if (!env.profile.rmMissingOk) throw new XsOpError("ENOENT");
    if (env.access.get(parentPath(path))) return;
    throw new XsOpError("ENOENT");
  }
  if (path === "/") throw new XsOpError("EINVAL");
  const perms = env.access.perms(node);
  deleteTree(env, path, node, true);
  env.changed(path, false, perms, null);
}

/** cx do_set_perms() for a node path (perms already parsed and counted). */
export function setPerms(env: OpEnv, path: string, given: Perms): void {
  if (given.length === 0) throw new XsOpError("EINVAL");
  if (!env.domainExists(given[0]!.id)) throw new XsOpError("ENOENT");
  // cx domain_alloc_permrefs(): the named domains' structs; entries of absent domains ignored
  const perms = env.access.permRefs(given);
  const node = getNode(env, path, PERM_WRITE | PERM_OWNER);
  const old = env.access.perms(node);
  if (unprivileged(env) && perms[0]!.id !== old[0]!.id) throw new XsOpError(env.profile.ownerChangeErrno);
  checkSize(env, perms.length, node.value.length, node.childLen);
  env.access.setNode(path, node.value, perms);
  env.changed(path, false, perms, old);
}

/** Every node (path, node) below and including `path`, parents before children. */
export function walk(root: XsNode, path: string, f: (path: string, node: XsNode) => void): void {
  f(path, root);
  omForEach(root.children, (name, child) => walk(child, childPath(path, name), f));
}

export type { PermEntry };
export { omGet as childOf };
