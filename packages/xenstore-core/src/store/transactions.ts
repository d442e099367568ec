// Transactions as cx implements them (xenstored_transaction.c): every node a transaction
// touches gets an "accessed node" entry holding its private copy; reads record the node's
// generation (check_gen); commit checks those generations against the live store (EAGAIN on any
// difference), then installs the modified entries and fires the queued watches in access order.
// The qemu policy ("global") instead fails the commit if anything was committed since start,
// and reads the tree as it was at start.
import { newEdit } from "../pds/edit.ts";
import { omDelete, omGet, omSet } from "../pds/ordered-map.ts";
import { type NodeAccess, XsOpError } from "./access.ts";
import { baseName, parentPath, splitPath } from "./paths.ts";
import type { Perms } from "./permissions.ts";
import type { ConflictPolicy } from "./profiles.ts";
import type { XsStore } from "./store.ts";
import { EMPTY_VALUE, lookupPath, newNode, own, type XsNode } from "./tree.ts";

/** cx `struct accessed_node`. */
export interface TxEntry {
  readonly path: string;
  /** the transaction's view of the node (null: absent / deleted) */
  rec: XsNode | null;
  /** generation when first read (-1: did not exist) */
  gen0: number;
  /** cx check_gen: first access was a read */
  checkGen: boolean;
  modified: boolean;
  /** perms when first accessed (cx i->perms), for watch permission checks at commit */
  origPerms: Perms | null;
  fire: boolean;
  exact: boolean;
  /** child list edits to replay on the live node at commit: [added?, name] */
  childOps: [boolean, string][];
}

const PLACEHOLDER: XsNode = newNode(null, EMPTY_VALUE, [], 0);

export class Transaction implements NodeAccess {
  readonly entries = new Map<string, TxEntry>();
  /** entries in first-access order (cx trans->accessed) */
  readonly order: TxEntry[] = [];
  /** node count changes per owner (cx trans->changed_domains) */
  readonly deltas = new Map<number, number>();
  /** cx trans->fail: an operation failed half-way; commit answers ENOMEM */
  failed = false;
  /** cx trans->node_created */
  nodeCreated = false;
  private readonly edit = newEdit();
  readonly startSerial: number;
  private readonly snapshot: XsNode | null;

  constructor(
    private readonly store: XsStore,
    readonly id: number,
    readonly connId: number,
    readonly domid: number,
    readonly policy: ConflictPolicy,
    /** nodes-touched limit (0 = none), cx ACC_TRANSNODES for unprivileged callers */
    readonly maxNodes: number,
    restored?: { startSerial: number; snapshot: XsNode | null },
  ) {
    if (restored) {
      this.startSerial = restored.startSerial;
      this.snapshot = restored.snapshot;
    } else {
      store.nextGen();
      this.startSerial = store.serial;
      this.snapshot = policy === "global" ? store.freeze() : null;
    }
  }

  /** The tree a global-policy transaction reads (null under read-set). */
  get snapshotRoot(): XsNode | null {
    return this.snapshot;
  }

  /** @internal snapshot restore: appends an entry as it was. */
  restoreEntry(e: TxEntry): void {
    this.entries.set(e.path, e);
    this.order.push(e);
  }

  /** The transaction's private edit token (restored records are owned by it). */
  get editToken() {
    return this.edit;
  }

  private base(): XsNode {
    return this.snapshot ?? this.store.freeze();
  }

  private newEntry(path: string, checkGen: boolean): TxEntry {
    if (this.maxNodes > 0 && this.order.length + 1 > this.maxNodes) {
      this.failed = true;
      throw new XsOpError("ENOSPC", "transactionNodes");
    }
    const node = lookupPath(this.base(), path);
    const e: TxEntry = {
      path,
      rec: node ?? null,
      gen0: node ? node.gen : -1,
      checkGen,
      modified: false,
      origPerms: node ? node.perms : null,
      fire: false,
      exact: false,
      childOps: [],
    };
    this.entries.set(path, e);
    this.order.push(e);
    return e;
  }

  private entry(path: string): TxEntry {
    return this.entries.get(path) ?? this.newEntry(path, false);
  }

  get(path: string): XsNode | undefined {
    const e = this.entries.get(path) ?? this.newEntry(path, true);
    return e.rec ?? undefined;
  }

  setNode(path: string, value: string, perms: Perms): void {
    const e = this.entry(path);
    if (!e.rec) throw new Error(`tx setNode: missing ${path}`);
    const oldOwner = e.rec.perms[0]?.id ?? 0;
    const m = own(e.rec, this.edit);
    m.value = value;
    m.perms = perms;
    m.gen = this.store.nextGen();
    e.rec = m;
    e.modified = true;
    const newOwner = perms[0]?.id ?? 0;
    if (oldOwner !== newOwner) {
      this.delta(oldOwner, -1);
      this.delta(newOwner, 1);
    }
  }

  addChild(parent: string, name: string, value: string, perms: Perms): void {
    const pe = this.entry(parent);
    if (!pe.rec) throw new Error(`tx addChild: missing ${parent}`);
    const childPath = parent === "/" ? `/${name}` : `${parent}/${name}`;
    const ce = this.entry(childPath);
    ce.rec = newNode(this.edit, value, perms, this.store.nextGen());
    ce.modified = true;
    const m = own(pe.rec, this.edit);
    this.keepEffectivePerms(pe.rec, m);
    m.children = omSet(m.children, this.edit, name, PLACEHOLDER);
    m.childLen += name.length + 1;
    m.gen = this.store.nextGen();
    pe.rec = m;
    pe.modified = true;
    pe.childOps.push([true, name]);
    this.nodeCreated = true;
    this.delta(perms[0]?.id ?? 0, 1);
  }

  removeChild(parent: string, name: string): void {
    const pe = this.entry(parent);
    const childPath = parent === "/" ? `/${name}` : `${parent}/${name}`;
    const ce = this.entry(childPath);
    if (ce.rec) this.delta(ce.rec.perms[0]?.id ?? 0, -1);
    ce.rec = null;
    ce.modified = true;
    if (pe.rec && omGet(pe.rec.children, name) === undefined) {
      // The node was created (outside) after this transaction copied its parent: cx's
      // delete_child() does not find it in the parent's copy, calls corrupt() and RM answers
      // EIO, the deletions so far staying in the transaction (found by the guest differential).
      throw new XsOpError("EIO");
    }
    if (pe.rec) {
      const m = own(pe.rec, this.edit);
      this.keepEffectivePerms(pe.rec, m);
      m.children = omDelete(m.children, this.edit, name);
      m.childLen -= name.length + 1;
      m.gen = this.store.nextGen();
      pe.rec = m;
      pe.modified = true;
      pe.childOps.push([false, name]);
    }
  }

  ownedCount(domid: number): number {
    return this.store.ownedCount(domid) + (this.deltas.get(domid) ?? 0);
  }

  perms(node: XsNode): Perms {
    return this.store.effectivePerms(node);
  }

  permRefs(perms: Perms): Perms {
    return this.store.permRefs(perms);
  }

  /** XsStore.keepEffectivePerms for the transaction's copy of a parent, accounted here. */
  private keepEffectivePerms(old: XsNode, m: XsNode): void {
    const was = this.store.keepEffectivePerms(old, m);
    if (was < 0) return;
    this.delta(was, -1);
    this.delta(m.perms[0]?.id ?? 0, 1);
  }

  private delta(owner: number, d: number): void {
    const v = (this.deltas.get(owner) ?? 0) + d;
    if (v === 0) this.deltas.delete(owner);
    else this.deltas.set(owner, v);
  }

  /** cx queue_watches(): one event per node; a subtree event replaces an exact one. */
  queueWatch(path: string, exact: boolean): void {
    const e = this.entries.get(path);
    if (!e) {
      this.failed = true;
      return;
    }
    if (!e.fire) {
      e.fire = true;
      e.exact = exact;
    } else if (!exact) e.exact = false;
  }

  /** Whether committing now would conflict (EAGAIN). */
  conflicts(): boolean {
    if (this.policy === "global") return this.store.serial !== this.startSerial;
    for (const e of this.order) {
      if (!e.checkGen) continue;
      const cur = this.store.get(e.path);
      if ((cur ? cur.gen : -1) !== e.gen0) return true;
    }
    return false;
  }

  /**
   * cx finalize_transaction() after the checks: installs the modified entries in the live
   * store (shallow paths first, so parents' child lists are in place), returns the entries
   * whose watches must fire, in access order.
   */
  apply(): TxEntry[] {
    const store = this.store;
    const modified = this.order.filter((e) => e.modified);
    const depth = (p: string) => (p === "/" ? 0 : splitPath(p).length);
    const sorted = modified
      .map((e, i) => ({ e, i, d: depth(e.path) }))
      .sort((a, b) => a.d - b.d || a.i - b.i)
      .map((x) => x.e);
    for (const e of sorted) {
      if (e.rec === null) {
        if (e.path === "/") continue;
        const parent = parentPath(e.path);
        const p = store.get(parent);
        if (p && omGet(p.children, baseName(e.path)) !== undefined)
          store.removeChild(parent, baseName(e.path), false);
        continue;
      }
      const rec = e.rec;
      if (!store.get(e.path)) {
        const parent = parentPath(e.path);
        if (!store.get(parent)) continue;
        store.linkChild(parent, baseName(e.path), PLACEHOLDER);
      }
      const gen = store.nextGen();
      store.replaceNode(e.path, (n, edit) => {
        const m = own(n, edit);
        m.value = rec.value;
        m.perms = rec.perms;
        m.gen = gen;
        for (const [add, name] of e.childOps) {
          const has = omGet(m.children, name) !== undefined;
          if (add && !has) {
            m.children = omSet(m.children, edit, name, PLACEHOLDER);
            m.childLen += name.length + 1;
          } else if (!add && has) {
            m.children = omDelete(m.children, edit, name);
            m.childLen -= name.length + 1;
          }
        }
        return m;
      });
    }
    for (const [owner, d] of this.deltas) store.countDelta(owner, d);
    store.serial++;
    return this.order.filter((e) => e.fire);
  }
}
