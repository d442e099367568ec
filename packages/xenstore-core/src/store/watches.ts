// Watches (cx xenstored_watch.c): registration per connection, matching by walking the
// changed path's ancestors in a map path → watches (never scanning all watches). The ancestors
// are found by the hash of each prefix, computed in one pass over the changed path, so matching
// makes no substrings. Only prefixes as long as some watched path are looked up (`byLength`),
// and the hash keys are kept in V8's small-integer range (no heap number per lookup).
import { hashRange } from "../pds/hamt.ts";

export interface Watch {
  /** owning connection id */
  readonly connId: number;
  /** connection creation order (cx walks connections in list order) */
  readonly connSeq: number;
  /** canonical path (absolute, or `@…`) */
  readonly path: string;
  readonly token: string;
  /** chars to strip from event paths (relative watches: `/local/domain/<id>/`) */
  readonly prefixLen: number;
  /** registration order */
  readonly seq: number;
}

export class WatchTable {
  private readonly byPath = new Map<string, Watch[]>();
  /** watches by the FNV-1a hash of their path (collisions share a list) */
  private readonly byHash = new Map<number, Watch[]>();
  private readonly byConn = new Map<number, Watch[]>();
  /** number of watches per path length: prefixes of other lengths cannot match */
  private readonly byLength: number[] = [];
  private seq = 0;
  private count = 0;

  add(w: Omit<Watch, "seq">): Watch {
    const watch: Watch = { ...w, seq: ++this.seq };
    this.index(watch);
    return watch;
  }

  /** Restores a watch with a known sequence number (snapshots). */
  restore(w: Watch): void {
    this.seq = Math.max(this.seq, w.seq);
    this.index(w);
  }

  private index(w: Watch): void {
    this.count++;
    push(this.byPath, w.path, w);
    push(this.byHash, hashKey(hashRange(w.path, 0, w.path.length)), w);
    push(this.byConn, w.connId, w);
    const n = w.path.length;
    const byLength = this.byLength;
    while (byLength.length <= n) byLength.push(0);
    byLength[n]!++;
  }

  private unindex(w: Watch, conn: boolean): void {
    this.count--;
    pull(this.byPath, w.path, w);
    pull(this.byHash, hashKey(hashRange(w.path, 0, w.path.length)), w);
    if (conn) pull(this.byConn, w.connId, w);
    this.byLength[w.path.length]!--;
  }

  find(connId: number, path: string, token: string): Watch | undefined {
    return this.byConn.get(connId)?.find((w) => w.path === path && w.token === token);
  }

  remove(w: Watch): void {
    this.unindex(w, true);
  }

  /** Drops every watch of a connection; returns how many. */
  removeConnection(connId: number): number {
    const ws = this.byConn.get(connId) ?? [];
    for (const w of ws) this.unindex(w, false);
    this.byConn.delete(connId);
    return ws.length;
  }

  forConnection(connId: number): readonly Watch[] {
    return this.byConn.get(connId) ?? [];
  }

  get size(): number {
    return this.count;
  }

  /**
   * Watches an event on `path` reaches, in cx order (connections, then registration):
   * exact → watches on `path` only; otherwise watches on `path` or any ancestor.
   */
  match(path: string, exact: boolean): Watch[] {
    if (this.count === 0) return NONE;
    let out: Watch[] | null = null;
    // ancestors: `/` and every prefix ending before a `/` (what repeated parentPath() yields)
    const ancestors = !exact && path.charCodeAt(0) !== 64 && path !== "/";
    if (ancestors) {
      const root = this.byPath.get("/");
      if (root) out = root.slice();
    }
    const byHash = this.byHash;
    const byLength = this.byLength;
    // the longest watched path bounds the prefixes worth hashing
    const len = path.length;
    const last = ancestors ? Math.min(len, byLength.length) : 0;
    let h = 0x811c9dc5;
    let i = 0;
    for (; i < last; i++) {
      const c = path.charCodeAt(i);
      if (c === 47 && i > 0 && byLength[i] !== 0) {
        const ws = byHash.get(hashKey(h >>> 0));
        if (ws !== undefined) {
          for (const w of ws) {
            // (path[i] is a `/`, so an equal prefix is an ancestor: cx is_child())
            if (w.path.length === i && path.startsWith(w.path)) {
              if (out === null) out = [];
              out.push(w);
            }
          }
        }
      }
      h = Math.imul(h ^ c, 0x01000193);
    }
    // the path itself (by its hash: no hashing of the string by the Map)
    if (len < byLength.length && byLength[len] !== 0) {
      for (; i < len; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
      const direct = byHash.get(hashKey(h >>> 0));
      if (direct !== undefined) {
        for (const w of direct) {
          if (w.path === path) {
            if (out === null) out = [];
            out.push(w);
          }
        }
      }
    }
    if (out === null) return NONE;
    if (out.length > 1) out.sort((a, b) => a.connSeq - b.connSeq || a.seq - b.seq);
    return out;
  }

  all(): Watch[] {
    const out: Watch[] = [];
    for (const ws of this.byConn.values()) out.push(...ws);
    return out.sort((a, b) => a.seq - b.seq);
  }
}

/** The result of a match without watches (shared: frozen). */
const NONE: Watch[] = Object.freeze([]) as unknown as Watch[];

/** A path hash as a map key in V8's small-integer range (equal hashes, equal keys). */
function hashKey(h: number): number {
  return h & 0x3fffffff;
}

function push<K>(m: Map<K, Watch[]>, k: K, w: Watch): void {
  const a = m.get(k);
  if (a) a.push(w);
  else m.set(k, [w]);
}

function pull<K>(m: Map<K, Watch[]>, k: K, w: Watch): void {
  const a = m.get(k);
  if (!a) return;
  const i = a.indexOf(w);
  if (i >= 0) a.splice(i, 1);
  if (a.length === 0) m.delete(k);
}
