// Typed, wire-free read accessors over a server's state (tests, invariant checks, tools).
import { omForEach, omKeys } from "../pds/ordered-map.ts";
import { childPath } from "../store/paths.ts";
import { formatPerms, type Perms } from "../store/permissions.ts";
import { lookupPath, type XsNode } from "../store/tree.ts";
import { bytesToLatin1, latin1ToBytes } from "../wire/payload.ts";
import type { XenStoreServer } from "./xenstore-server.ts";

export interface WatchInfo {
  connId: number;
  domid: number;
  path: string;
  token: string;
}

export class StoreView {
  /** @internal */
  constructor(private readonly server: XenStoreServer) {}

  private node(path: string) {
    if (!path.startsWith("/")) return undefined;
    // Walks the path's components in place (no array of them): the explorer reads state nodes
    // through here after every scheduler step.
    return lookupPath(this.server.db.root, path);
  }

  /** Value bytes of a node of the live store (no permission checks), or undefined. */
  read(path: string): Uint8Array | undefined {
    const n = this.node(path);
    return n === undefined ? undefined : latin1ToBytes(n.value);
  }

  /** Value as a latin1 string, or undefined. */
  readString(path: string): string | undefined {
    return this.node(path)?.value;
  }

  exists(path: string): boolean {
    return this.node(path) !== undefined;
  }

  /** Child names in creation order, or undefined when the node is missing. */
  list(path: string): string[] | undefined {
    const n = this.node(path);
    return n ? omKeys(n.children) : undefined;
  }

  /** Permission strings (`["n0", "r1"]`), or undefined. */
  getPerms(path: string): string[] | undefined {
    const n = this.node(path);
    return n ? formatPerms(n.perms) : undefined;
  }

  /** cx generation count of a node, or undefined. */
  generation(path: string): number | undefined {
    return this.node(path)?.gen;
  }

  /** Nodes owned by `domid` (what the node quota counts). */
  nodeCount(domid: number): number {
    return this.server.db.ownedCount(domid);
  }

  /** Node counts per owner. */
  nodeCounts(): Map<number, number> {
    return new Map(this.server.db.counts);
  }

  /** Total number of nodes, root included. */
  totalNodes(): number {
    let n = 0;
    this.walk(() => {
      n++;
    });
    return n;
  }

  watchCount(domid: number): number {
    return this.server.domainWatchCount(domid);
  }

  transactionCount(domid: number): number {
    let n = 0;
    for (const s of this.server.allSessions()) if (s.domid === domid) n += s.txs.size;
    return n;
  }

  watches(): WatchInfo[] {
    const dom = new Map(this.server.allSessions().map((s) => [s.id, s.domid]));
    return this.server.watchTable
      .all()
      .map((w) => ({ connId: w.connId, domid: dom.get(w.connId) ?? -1, path: w.path, token: w.token }));
  }

  /** Permissions of a special node (`@introduceDomain`, `@releaseDomain`). */
  specialPerms(name: string): string[] | undefined {
    const p = this.server.db.special.get(name);
    return p ? formatPerms(p) : undefined;
  }

  /** Visits every node of the live store, parents before children, children in creation order. */
  walk(f: (path: string, value: Uint8Array, perms: Perms) => void): void {
    const rec = (path: string, n: XsNode | undefined) => {
      if (!n) return;
      f(path, latin1ToBytes(n.value), n.perms);
      omForEach(n.children, (name, c) => rec(childPath(path, name), c));
    };
    rec("/", this.server.db.root);
  }

  /** Map path → {value, perms} of the whole live store. */
  dump(): Map<string, { value: string; perms: string[] }> {
    const m = new Map<string, { value: string; perms: string[] }>();
    this.walk((p, v, perms) => m.set(p, { value: bytesToLatin1(v), perms: formatPerms(perms) }));
    return m;
  }
}
