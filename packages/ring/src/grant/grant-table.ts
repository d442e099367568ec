// One domain's v1 grant table: the shared frames the granter writes (real 8-byte grant_entry_v1
// records, 512 per frame) and Xen's private active-entry table (pin counts), which only the
// Hypervisor changes. The granter-side methods mirror Linux drivers/xen/grant-table.c.
import type { DomId } from "../domid.ts";
import { AccessLease } from "../memory/access-lease.ts";
import type { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { PAGE_SIZE } from "../memory/page.ts";
import { PageView, type WritablePage } from "../memory/page-view.ts";
import { GRANT_ENTRY_V1 } from "./grant-entry.ts";
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRIES_PER_FRAME,
  type GrantRef,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from "./grant-flags.ts";

export interface GrantTableOptions {
  /** Frames present at creation (Xen INITIAL_NR_GRANT_FRAMES = 1). */
  readonly initialFrames?: number;
  /** Limit the table may grow to (Xen `gnttab_max_frames`, default 64 = 32768 entries). */
  readonly maxFrames?: number;
}

/** One decoded grant_entry_v1. */
export interface GrantEntry {
  readonly flags: number;
  readonly domid: DomId;
  readonly frame: number;
}

/** Ref allocation failed: every entry of a table at its maximum size is allocated (Linux -ENOSPC). */
export interface GrantRefsExhausted {
  readonly kind: "grant-refs-exhausted";
  readonly domid: DomId;
  readonly entries: number;
}

/** Pin counts Xen keeps for one ref (active_grant_entry.pin): host mappings plus in-flight copies. */
export interface GrantPins {
  readonly readers: number; // read-only pins
  readonly writers: number; // writable pins
  /** The domain holding the pins (active_grant_entry.domid), when pinned. */
  readonly grantee: DomId | undefined;
  /** The frame captured at first pin (active_grant_entry.mfn): later entry rewrites do not move it. */
  readonly frame: Gfn | undefined;
}

/** Xen-private shadow of a pinned entry [Xen common/grant_table.c struct active_grant_entry]. */
export interface ActiveGrantEntry {
  readers: number;
  writers: number;
  grantee: DomId;
  frame: Gfn;
  /** The frame's bytes, kept even if the granter releases the GFN (Xen holds a page reference). */
  buffer: ArrayBuffer;
}

/** A revocation Linux would retry later (gnttab_end_foreign_access's deferred list). */
interface DeferredRevocation {
  readonly ref: GrantRef;
  readonly gfn: Gfn | undefined;
}

export class GrantTable {
  readonly maxFrames: number;
  readonly #frames: ArrayBuffer[] = [];
  readonly #views: DataView[] = [];
  readonly #lease: AccessLease;
  readonly #free: GrantRef[] = []; // LIFO like Linux's gnttab_free_head list
  readonly #allocated = new Set<GrantRef>();
  readonly #active = new Map<GrantRef, ActiveGrantEntry>();
  readonly #deferred: DeferredRevocation[] = [];

  constructor(
    readonly domid: DomId,
    readonly memory: GuestMemory,
    options: GrantTableOptions = {},
  ) {
    this.maxFrames = options.maxFrames ?? 64;
    this.#lease = new AccessLease(`d${domid} grant table`);
    const initial = Math.min(options.initialFrames ?? 1, this.maxFrames);
    if (initial < 1) throw new RangeError("a grant table has at least one frame");
    this.#grow(initial);
  }

  /** Frames currently in the table (Xen nr_grant_frames). */
  get nrFrames(): number {
    return this.#frames.length;
  }

  /** Entries currently addressable; a ref at or beyond this is GNTST_bad_gntref for a grantee. */
  get nrEntries(): number {
    return this.#frames.length * GRANT_ENTRIES_PER_FRAME;
  }

  /** The granter's own writable view of grant-table frame `index` (as mapped into its physmap). */
  frame(index: number): WritablePage {
    const buf = this.#frames[index];
    if (buf === undefined) throw new RangeError(`d${this.domid}: no grant frame ${index}`);
    return new PageView(buf, this.#lease, true);
  }

  // ---- raw entry access: what any code in the granting domain can do to its shared frames ----

  readEntry(ref: GrantRef): GrantEntry {
    const [dv, at] = this.#locate(ref);
    return {
      flags: dv.getUint16(at + GRANT_ENTRY_V1.fields.flags.offset, true),
      domid: dv.getUint16(at + GRANT_ENTRY_V1.fields.domid.offset, true),
      frame: dv.getUint32(at + GRANT_ENTRY_V1.fields.frame.offset, true),
    };
  }

  /** Writes entry fields directly (no checks) — a well-behaved or a misbehaving granter alike. */
  writeEntry(ref: GrantRef, entry: Partial<GrantEntry>): void {
    const [dv, at] = this.#locate(ref);
    // Linux gnttab_update_entry_v1 order: domid, frame, wmb, then flags.
    if (entry.domid !== undefined) dv.setUint16(at + GRANT_ENTRY_V1.fields.domid.offset, entry.domid, true);
    if (entry.frame !== undefined) dv.setUint32(at + GRANT_ENTRY_V1.fields.frame.offset, entry.frame, true);
    if (entry.flags !== undefined) dv.setUint16(at + GRANT_ENTRY_V1.fields.flags.offset, entry.flags, true);
  }

  // ---- granter operations (Linux drivers/xen/grant-table.c) ----

  /** Allocates an unused ref ≥ 8, growing the table up to maxFrames (Linux get_free_entries + gnttab_expand). */
  allocRef(): GrantRef | GrantRefsExhausted {
    if (this.#free.length === 0 && this.#frames.length < this.maxFrames) this.#grow(this.#frames.length + 1);
    const ref = this.#free.pop();
    if (ref === undefined)
      return { kind: "grant-refs-exhausted", domid: this.domid, entries: this.nrEntries };
    this.#allocated.add(ref);
    return ref;
  }

  /** Returns a ref to the free list (Linux gnttab_free_grant_reference). Throws if it was not allocated. */
  freeRef(ref: GrantRef): void {
    if (!this.#allocated.delete(ref))
      throw new RangeError(`d${this.domid}: grant ref ${ref} is not allocated`);
    this.#free.push(ref);
  }

  isAllocated(ref: GrantRef): boolean {
    return this.#allocated.has(ref);
  }

  /** Refs handed out by allocRef and not yet freed, ascending. */
  allocatedRefs(): GrantRef[] {
    return [...this.#allocated].sort((a, b) => a - b);
  }

  /** Fills an allocated ref so that `grantee` may access `gfn` (Linux gnttab_grant_foreign_access_ref). */
  grantForeignAccessRef(ref: GrantRef, grantee: DomId, gfn: Gfn, readonly: boolean): void {
    if (!this.#allocated.has(ref)) throw new RangeError(`d${this.domid}: grant ref ${ref} is not allocated`);
    this.writeEntry(ref, {
      domid: grantee,
      frame: gfn,
      flags: GTF_permit_access | (readonly ? GTF_readonly : 0),
    });
  }

  /** allocRef + grantForeignAccessRef (Linux gnttab_grant_foreign_access). */
  grantForeignAccess(grantee: DomId, gfn: Gfn, readonly: boolean): GrantRef | GrantRefsExhausted {
    const ref = this.allocRef();
    if (typeof ref !== "number") return ref;
    this.grantForeignAccessRef(ref, grantee, gfn, readonly);
    return ref;
  }

  /**
   * Revokes access: true if revoked, false while the grantee still holds a pin. Mirrors Linux
   * gnttab_end_foreign_access_ref_v1: read flags; if GTF_reading|GTF_writing, fail; else
   * cmpxchg flags → 0 (a single thread cannot lose the race, so one attempt suffices).
   */
  endForeignAccessRef(ref: GrantRef): boolean {
    const [dv, at] = this.#locate(ref);
    const flags = dv.getUint16(at, true);
    if (flags & (GTF_reading | GTF_writing)) return false;
    dv.setUint16(at, 0, true);
    return true;
  }

  /** endForeignAccessRef and, on success, freeRef (Linux gnttab_try_end_foreign_access). */
  tryEndForeignAccess(ref: GrantRef): boolean {
    if (!this.endForeignAccessRef(ref)) return false;
    this.freeRef(ref);
    return true;
  }

  /**
   * Linux gnttab_end_foreign_access(ref, page): revoke now if possible, else queue it (and the
   * page) for retryDeferred. The ref is freed and the page released only once truly revoked,
   * which is what keeps a still-mapped page from being reused (XSA-396).
   */
  endForeignAccess(ref: GrantRef, gfn?: Gfn): "revoked" | "deferred" {
    if (this.tryEndForeignAccess(ref)) {
      if (gfn !== undefined) this.memory.release(gfn);
      return "revoked";
    }
    this.#deferred.push({ ref, gfn });
    return "deferred";
  }

  /** Retries deferred revocations (Linux gnttab_handle_deferred); returns how many remain. */
  retryDeferred(): number {
    const pending = this.#deferred.splice(0);
    for (const d of pending) {
      if (this.tryEndForeignAccess(d.ref)) {
        if (d.gfn !== undefined) this.memory.release(d.gfn);
      } else {
        this.#deferred.push(d);
      }
    }
    return this.#deferred.length;
  }

  /** Refs whose revocation is still deferred. */
  deferredRefs(): GrantRef[] {
    return this.#deferred.map((d) => d.ref);
  }

  /** Toolstack pre-fill of a reserved entry, e.g. ref 1 for xenstored (libxc xc_dom_gnttab_seed). */
  seedReservedEntry(ref: GrantRef, grantee: DomId, gfn: Gfn): void {
    if (!(ref >= 0 && ref < GNTTAB_NR_RESERVED_ENTRIES)) throw new RangeError(`ref ${ref} is not reserved`);
    this.writeEntry(ref, { domid: grantee, frame: gfn, flags: GTF_permit_access });
  }

  // ---- Xen's view (used by Hypervisor; queries are public) ----

  /** Pin counts of a ref; zero counts when not pinned. */
  pins(ref: GrantRef): GrantPins {
    const a = this.#active.get(ref);
    return a === undefined
      ? { readers: 0, writers: 0, grantee: undefined, frame: undefined }
      : { readers: a.readers, writers: a.writers, grantee: a.grantee, frame: a.frame };
  }

  /** Refs with at least one pin (a mapping or an in-flight copy), ascending. */
  pinnedRefs(): GrantRef[] {
    return [...this.#active.keys()].sort((a, b) => a - b);
  }

  /** Whether any pin currently holds `gfn` (a release now would be the XSA-396 hazard). */
  isFramePinned(gfn: Gfn): boolean {
    for (const a of this.#active.values()) if (a.frame === gfn) return true;
    return false;
  }

  /** Package-internal: the active entry of `ref`, if pinned. */
  activeEntry(ref: GrantRef): ActiveGrantEntry | undefined {
    return this.#active.get(ref);
  }

  /** Package-internal: record a pin of `ref` (first pin creates the active entry). */
  addPin(ref: GrantRef, grantee: DomId, frame: Gfn, buffer: ArrayBuffer, readonly: boolean): void {
    let a = this.#active.get(ref);
    if (a === undefined) {
      a = { readers: 0, writers: 0, grantee, frame, buffer };
      this.#active.set(ref, a);
    }
    if (readonly) a.readers++;
    else a.writers++;
  }

  /**
   * Package-internal: drop one pin and clear the status bits Xen clears when the last
   * (writable) pin goes [Xen unmap_common_complete, release_grant_for_copy].
   */
  dropPin(ref: GrantRef, readonly: boolean): void {
    const a = this.#active.get(ref);
    if (a === undefined) throw new Error(`d${this.domid}: ref ${ref} is not pinned`);
    if (readonly) a.readers--;
    else a.writers--;
    let clear = 0;
    if (!readonly && a.writers === 0) clear |= GTF_writing;
    if (a.readers === 0 && a.writers === 0) {
      clear |= GTF_reading;
      this.#active.delete(ref);
    }
    if (clear !== 0) this.clearStatusFlags(ref, clear);
  }

  /** Package-internal: gnttab_clear_flags — atomically clear bits of the shared flags word. */
  clearStatusFlags(ref: GrantRef, bits: number): void {
    const [dv, at] = this.#locate(ref);
    dv.setUint16(at, dv.getUint16(at, true) & ~bits, true);
  }

  /** Package-internal: OR bits into the shared flags word (the cmpxchg of _set_status_v1). */
  setStatusFlags(ref: GrantRef, bits: number): void {
    const [dv, at] = this.#locate(ref);
    dv.setUint16(at, dv.getUint16(at, true) | bits, true);
  }

  #locate(ref: GrantRef): [DataView, number] {
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) {
      throw new RangeError(`d${this.domid}: grant ref ${ref} outside table of ${this.nrEntries}`);
    }
    const dv = this.#views[Math.floor(ref / GRANT_ENTRIES_PER_FRAME)] as DataView;
    return [dv, (ref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1.size];
  }

  // Xen gnttab_grow_table: new frames are zeroed; Linux then puts the new refs on its free list.
  #grow(toFrames: number): void {
    const firstNew = this.nrEntries;
    while (this.#frames.length < toFrames) {
      const buf = new ArrayBuffer(PAGE_SIZE);
      this.#frames.push(buf);
      this.#views.push(new DataView(buf));
    }
    for (let ref = this.nrEntries - 1; ref >= Math.max(firstNew, GNTTAB_NR_RESERVED_ENTRIES); ref--) {
      this.#free.push(ref);
    }
  }
}
