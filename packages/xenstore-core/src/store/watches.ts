// Watches (cx xenstored_watch.c): registration per connection, matching by walking the
// changed path's ancestors in a map path → watches (never scanning all watches). The ancestors
// are found by the hash of each prefix, computed in one pass over the changed path, so matching
// makes no substrings.
import { hashRange } from "../pds/hamt.ts";
import { isChildOrSelf } from "./paths.ts";

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
  private seq = 0;
  private count = 0;

  add(w: Omit<Watch, "seq">): Watch {
    const watch: Watch = { ...w, seq: ++this.seq };
    this.count++;
    push(this.byPath, watch.path, watch);
    push(this.byHash, hashRange(watch.path, 0, watch.path.length), watch);
    push(this.byConn, watch.connId, watch);
    return watch;
  }

  /** Restores a watch with a known sequence number (snapshots). */
  restore(w: Watch): void {
    this.seq = Math.max(this.seq, w.seq);
    this.count++;
    push(this.byPath, w.path, w);
    push(this.byHash, hashRange(w.path, 0, w.path.length), w);
    push(this.byConn, w.connId, w);
  }

  find(connId: number, path: string, token: string): Watch | undefined {
    return this.byConn.get(connId)?.find((w) => w.path === path && w.token === token);
  }

  remove(w: Watch): void {
    this.count--;
    pull(this.byPath, w.path, w);
    pull(this.byHash, hashRange(w.path, 0, w.path.length), w);
    pull(this.byConn, w.connId, w);
  }

  /** Drops every watch of a connection; returns how many. */
  removeConnection(connId: number): number {
    const ws = this.byConn.get(connId) ?? [];
    for (const w of ws) {
      pull(this.byPath, w.path, w);
      pull(this.byHash, hashRange(w.path, 0, w.path.length), w);
    }
    this.count -= ws.length;
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
    const out: Watch[] = [];
    if (this.count === 0) return out;
    // ancestors: `/` and every prefix ending before a `/` (what repeated parentPath() yields)
    const ancestors = !exact && path.charCodeAt(0) !== 64 && path !== "/";
    if (ancestors) {
      const root = this.byPath.get("/");
      if (root) for (const w of root) out.push(w);
    }
    const byHash = this.byHash;
    let h = 0x811c9dc5;
    for (let i = 0; i < path.length; i++) {
      const c = path.charCodeAt(i);
      if (ancestors && c === 47 && i > 0) {
        const ws = byHash.get(h >>> 0);
        if (ws !== undefined) {
          for (const w of ws) {
            if (w.path.length === i && path.startsWith(w.path) && isChildOrSelf(path, w.path)) out.push(w);
          }
        }
      }
      h = Math.imul(h ^ c, 0x01000193);
    }
    // the path itself (by the hash just computed: no hashing of the string by the Map)
    const direct = byHash.get(h >>> 0);
    if (direct !== undefined) for (const w of direct) if (w.path === path) out.push(w);
    if (out.length > 1) out.sort((a, b) => a.connSeq - b.connSeq || a.seq - b.seq);
    return out;
  }

  all(): Watch[] {
    const out: Watch[] = [];
    for (const ws of this.byConn.values()) out.push(...ws);
    return out.sort((a, b) => a.seq - b.seq);
  }
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
