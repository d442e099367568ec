// The grant-table half of the hypervisor: it owns every domain's memory and grant table and is
// the only way one domain reaches another's pages — by mapping a grant (a handle and a view) or by
// grant copy. Checks and their order follow Xen common/grant_table.c (map_grant_ref,
// unmap_common, acquire_grant_for_copy, gnttab_copy_one); each op reports a GNTST_* status and
// never throws for anything a peer controls.
import { DOMID_SELF, type DomId, isOrdinaryDomId } from "../domid.ts";
import { AccessLease } from "../memory/access-lease.ts";
import { GuestMemory, type GuestMemoryOptions } from "../memory/guest-memory.ts";
import { type Gfn, PAGE_SIZE } from "../memory/page.ts";
import { PageView, type ReadablePage, rawViewsOf, type WritablePage } from "../memory/page-view.ts";
import type { ForeignMapping, MappingInfo } from "./foreign-mapping.ts";
import {
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_no_device_space,
  GNTST_okay,
  GNTST_permission_denied,
  type GntError,
  type GntStatus,
} from "./gnttab-status.ts";
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  type GrantHandle,
  type GrantRef,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_type_mask,
  GTF_writing,
} from "./grant-flags.ts";
import { GrantTable, type GrantTableOptions } from "./grant-table.ts";

export interface DomainOptions {
  readonly memory?: GuestMemoryOptions;
  readonly grantTable?: GrantTableOptions;
  /**
   * Most simultaneous mappings this domain may hold as a grantee (Xen: maptrack entries,
   * `gnttab_max_maptrack_frames` 1024 × 256 per frame by default).
   */
  readonly maxMaptrackEntries?: number;
}

export interface Domain {
  readonly domid: DomId;
  readonly memory: GuestMemory;
  readonly grantTable: GrantTable;
}

export interface MapOptions {
  /** Map read-only (GNTMAP_readonly). Default false. */
  readonly readonly?: boolean;
  /**
   * Raw GNTMAP_* flags, overriding `readonly` (default GNTMAP_host_map | readonly bit). Lets
   * tests send what a broken backend might, e.g. neither host_map nor device_map.
   */
  readonly flags?: number;
}

export type MapSuccess<P extends ReadablePage> = {
  readonly status: typeof GNTST_okay;
  readonly handle: GrantHandle;
  readonly mapping: ForeignMapping<P>;
};
export type MapFailure = { readonly status: GntError };
export type MapResult<P extends ReadablePage> = MapSuccess<P> | MapFailure;

/** One side of a grant copy [grant_table.h struct gnttab_copy_ptr]. */
export interface GrantCopyPtr {
  /** A grant ref of `domid` when the matching GNTCOPY_*_gref flag is set, else a GFN of the caller. */
  readonly ref?: GrantRef;
  readonly gfn?: Gfn;
  readonly domid: DomId;
  readonly offset: number;
}

/** One element of GNTTABOP_copy [grant_table.h struct gnttab_copy]. */
export interface GrantCopyOp {
  readonly source: GrantCopyPtr;
  readonly dest: GrantCopyPtr;
  readonly len: number;
  /** GNTCOPY_source_gref | GNTCOPY_dest_gref */
  readonly flags: number;
}

/** Something the simulator saw that real Xen would silently allow but that is a guest bug. */
export type MemoryHazard =
  | {
      /** A frame was released while a grantee still had it pinned (XSA-396 class): it may be reused and leak. */
      readonly kind: "frame-released-while-pinned";
      readonly domid: DomId;
      readonly gfn: Gfn;
      readonly refs: readonly GrantRef[];
    }
  | {
      /** A frame was released while a grant entry still permitted access to it. */
      readonly kind: "frame-released-while-granted";
      readonly domid: DomId;
      readonly gfn: Gfn;
      readonly refs: readonly GrantRef[];
    };

/** The grantee's handle on one mapping; `live` follows the lease that unmap ends. */
class LiveMapping implements ForeignMapping {
  readonly grantee: DomId;
  readonly handle: GrantHandle;
  readonly granter: DomId;
  readonly ref: GrantRef;
  readonly readonly: boolean;
  readonly frame: Gfn;
  readonly #lease: AccessLease;

  constructor(
    info: MappingInfo,
    readonly page: ReadablePage,
    lease: AccessLease,
  ) {
    this.grantee = info.grantee;
    this.handle = info.handle;
    this.granter = info.granter;
    this.ref = info.ref;
    this.readonly = info.readonly;
    this.frame = info.frame;
    this.#lease = lease;
  }

  get live(): boolean {
    return !this.#lease.ended;
  }
}

interface MaptrackEntry {
  readonly info: MappingInfo;
  readonly lease: AccessLease;
}

interface DomainState extends Domain {
  readonly maptrack: Map<GrantHandle, MaptrackEntry>;
  readonly maxMaptrack: number;
  readonly freeHandles: GrantHandle[]; // FIFO, like Xen's put_maptrack_handle (append at tail)
  nextHandle: GrantHandle;
}

/** A claimed side of a copy (Xen struct gnttab_copy_buf): its bytes and, for a grant, the pin to drop. */
interface CopyBuf {
  readonly bytes: Uint8Array;
  readonly pinned: GrantTable | undefined;
  readonly ref: GrantRef;
  readonly readonly: boolean;
}

function releaseCopyBuf(buf: CopyBuf): void {
  buf.pinned?.dropPin(buf.ref, buf.readonly); // release_grant_for_copy
}

const MAX_PIN = 0x7f; // Xen refuses a pin when a count's top bit would be set (pin & 0x80808080)

export class Hypervisor {
  readonly #domains = new Map<DomId, DomainState>();
  readonly #hazards: MemoryHazard[] = [];

  /** Creates a domain with empty memory and a fresh grant table. Throws if the id is taken or reserved. */
  createDomain(domid: DomId, options: DomainOptions = {}): Domain {
    if (!isOrdinaryDomId(domid)) throw new RangeError(`domid ${domid} is not an ordinary domain id`);
    if (this.#domains.has(domid)) throw new Error(`domain ${domid} already exists`);
    const memory = new GuestMemory(domid, options.memory);
    const grantTable = new GrantTable(domid, memory, options.grantTable);
    memory.observeReleases((d, gfn) => this.#onRelease(d, gfn));
    const state: DomainState = {
      domid,
      memory,
      grantTable,
      maptrack: new Map(),
      maxMaptrack: options.maxMaptrackEntries ?? 1024 * 256,
      freeHandles: [],
      nextHandle: 0,
    };
    this.#domains.set(domid, state);
    return { domid, memory, grantTable };
  }

  domain(domid: DomId): Domain | undefined {
    return this.#domains.get(domid);
  }

  /** The granter-side API of `domid`. Throws if the domain does not exist. */
  grantTable(domid: DomId): GrantTable {
    return this.#existing(domid).grantTable;
  }

  memory(domid: DomId): GuestMemory {
    return this.#existing(domid).memory;
  }

  // ---- GNTTABOP_map_grant_ref [Xen map_grant_ref] ----

  map(grantee: DomId, granter: DomId, ref: GrantRef, options: { readonly: true }): MapResult<ReadablePage>;
  map(grantee: DomId, granter: DomId, ref: GrantRef, options?: { readonly?: false }): MapResult<WritablePage>;
  map(grantee: DomId, granter: DomId, ref: GrantRef, options?: MapOptions): MapResult<ReadablePage>;
  map(grantee: DomId, granter: DomId, ref: GrantRef, options: MapOptions = {}): MapResult<ReadablePage> {
    const flags = options.flags ?? GNTMAP_host_map | (options.readonly ? GNTMAP_readonly : 0);
    const readonly = (flags & GNTMAP_readonly) !== 0;
    ref = ref >>> 0;

    if ((flags & (GNTMAP_device_map | GNTMAP_host_map)) === 0) return { status: GNTST_bad_gntref };
    const ld = this.#domains.get(grantee);
    const rd = this.#domains.get(granter);
    if (ld === undefined || rd === undefined) return { status: GNTST_bad_domain };
    if (ld.maptrack.size >= ld.maxMaptrack) return { status: GNTST_no_device_space };

    const rgt = rd.grantTable;
    if (ref >= rgt.nrEntries) return { status: GNTST_bad_gntref };
    const pin = this.#pin(rd, ref, grantee, readonly, true);
    if (typeof pin === "number") return { status: pin };

    const handle = ld.freeHandles.length > 0 ? (ld.freeHandles.shift() as number) : ld.nextHandle++;
    const lease = new AccessLease(`d${grantee} mapping of d${granter} ref ${ref} (handle ${handle})`);
    const info: MappingInfo = { grantee, handle, granter, ref, readonly, frame: pin.frame };
    ld.maptrack.set(handle, { info, lease });
    const mapping: ForeignMapping = new LiveMapping(info, new PageView(pin.buffer, lease, !readonly), lease);
    return { status: GNTST_okay, handle, mapping };
  }

  // ---- GNTTABOP_unmap_grant_ref [Xen unmap_common + unmap_common_complete] ----

  unmap(grantee: DomId, handle: GrantHandle): GntStatus {
    const ld = this.#domains.get(grantee);
    if (ld === undefined) return GNTST_bad_domain;
    const entry = Number.isInteger(handle) ? ld.maptrack.get(handle) : undefined;
    if (entry === undefined) return GNTST_bad_handle; // out of range or zero flags
    const { info, lease } = entry;
    ld.maptrack.delete(handle);
    lease.end("unmapped");
    (this.#domains.get(info.granter) as DomainState).grantTable.dropPin(info.ref, info.readonly);
    ld.freeHandles.push(handle);
    return GNTST_okay;
  }

  // ---- GNTTABOP_copy [Xen gnttab_copy_one] ----

  /** Runs each copy element for `caller`; returns one GNTST_* status per element. */
  copy(caller: DomId, ops: readonly GrantCopyOp[]): GntStatus[] {
    const out: GntStatus[] = [];
    for (const op of ops) out.push(this.#copyOne(caller, op));
    return out;
  }

  #copyOne(caller: DomId, op: GrantCopyOp): GntStatus {
    const cd = this.#domains.get(caller);
    if (cd === undefined) return GNTST_bad_domain;
    const srcIsRef = (op.flags & GNTCOPY_source_gref) !== 0;
    const dstIsRef = (op.flags & GNTCOPY_dest_gref) !== 0;
    // gnttab_copy_lock_domains: only DOMID_SELF may be addressed by frame; then look both up.
    const sd = this.#copyDomain(caller, op.source.domid & 0xffff, srcIsRef);
    if (typeof sd === "number") return sd;
    const dd = this.#copyDomain(caller, op.dest.domid & 0xffff, dstIsRef);
    if (typeof dd === "number") return dd;

    const src = this.#claimCopyBuf(caller, sd, op.source, srcIsRef, true);
    if (typeof src === "number") return src;
    const dst = this.#claimCopyBuf(caller, dd, op.dest, dstIsRef, false);
    if (typeof dst === "number") {
      releaseCopyBuf(src);
      return dst;
    }
    try {
      // gnttab_copy_buf: bounds against the page (and, for v1 full-page grants, the same window).
      const len = op.len & 0xffff;
      const so = op.source.offset & 0xffff;
      const doff = op.dest.offset & 0xffff;
      if (so + len > PAGE_SIZE || doff + len > PAGE_SIZE) return GNTST_bad_copy_arg;
      dst.bytes.set(src.bytes.subarray(so, so + len), doff);
      return GNTST_okay;
    } finally {
      releaseCopyBuf(src);
      releaseCopyBuf(dst);
    }
  }

  #copyDomain(caller: DomId, domid: DomId, isRef: boolean): DomainState | GntError {
    if (domid !== DOMID_SELF && !isRef) return GNTST_permission_denied;
    const d = this.#domains.get(domid === DOMID_SELF ? caller : domid);
    return d ?? GNTST_bad_domain;
  }

  #claimCopyBuf(
    caller: DomId,
    d: DomainState,
    ptr: GrantCopyPtr,
    isRef: boolean,
    readonly: boolean,
  ): CopyBuf | GntError {
    if (isRef) {
      const ref = (ptr.ref ?? -1) >>> 0;
      if (ref >= d.grantTable.nrEntries) return GNTST_bad_gntref;
      const pin = this.#pin(d, ref, caller, readonly, false);
      if (typeof pin === "number") return pin;
      return { bytes: rawViewsOf(pin.buffer).u8, pinned: d.grantTable, ref, readonly };
    }
    const buffer = ptr.gfn === undefined ? undefined : d.memory.frameBuffer(ptr.gfn);
    if (buffer === undefined) return GNTST_bad_page; // get_paged_frame
    return { bytes: rawViewsOf(buffer).u8, pinned: undefined, ref: 0, readonly };
  }

  /**
   * Pins `ref` of `rd` for `ldomid` (the shared part of map_grant_ref and acquire_grant_for_copy):
   * validates the shared entry on the first pin and on the first writable pin (_set_status_v1),
   * sets GTF_reading/GTF_writing, captures the frame on first pin, counts the pin.
   */
  #pin(
    rd: DomainState,
    ref: GrantRef,
    ldomid: DomId,
    readonly: boolean,
    isMap: boolean,
  ): { frame: Gfn; buffer: ArrayBuffer } | GntError {
    const rgt = rd.grantTable;
    const act = rgt.activeEntry(ref);
    if (act !== undefined && (act.grantee !== ldomid || act.readers >= MAX_PIN || act.writers >= MAX_PIN)) {
      return GNTST_general_error;
    }
    let frame: Gfn;
    let buffer: ArrayBuffer;
    if (act === undefined || (!readonly && act.writers === 0)) {
      // _set_status_v1. For maps GTF_sub_page must be clear too (mask |= GTF_sub_page).
      const entry = rgt.readEntry(ref);
      const mask = GTF_type_mask | (isMap ? GTF_sub_page : 0);
      if (act === undefined && ((entry.flags & mask) !== GTF_permit_access || entry.domid !== ldomid)) {
        return GNTST_general_error;
      }
      if (!readonly && entry.flags & GTF_readonly) return GNTST_general_error;
      rgt.setStatusFlags(ref, GTF_reading | (readonly ? 0 : GTF_writing));
      if (act === undefined) {
        const buf = rd.memory.frameBuffer(entry.frame); // get_paged_frame
        if (buf === undefined) {
          // unlock_out_clear: nothing is pinned, so the bits this attempt set go again.
          rgt.clearStatusFlags(ref, GTF_reading | (readonly ? 0 : GTF_writing));
          return GNTST_bad_page;
        }
        frame = entry.frame;
        buffer = buf;
      } else {
        frame = act.frame;
        buffer = act.buffer;
      }
    } else {
      frame = act.frame;
      buffer = act.buffer;
    }
    rgt.addPin(ref, ldomid, frame, buffer, readonly);
    return { frame, buffer };
  }

  // ---- queries for invariant checks ----

  /** Mappings currently held, by one grantee or by everyone; ordered by grantee then handle. */
  activeMappings(grantee?: DomId): MappingInfo[] {
    const out: MappingInfo[] = [];
    const ids = grantee === undefined ? [...this.#domains.keys()].sort((a, b) => a - b) : [grantee];
    for (const id of ids) {
      const d = this.#domains.get(id);
      if (d === undefined) continue;
      const handles = [...d.maptrack.keys()].sort((a, b) => a - b);
      for (const h of handles) out.push((d.maptrack.get(h) as MaptrackEntry).info);
    }
    return out;
  }

  /** Hazards recorded so far (frames released while pinned or granted). */
  hazards(): readonly MemoryHazard[] {
    return this.#hazards;
  }

  #onRelease(domid: DomId, gfn: Gfn): void {
    const gt = (this.#domains.get(domid) as DomainState).grantTable;
    const pinned = gt.pinnedRefs().filter((r) => gt.pins(r).frame === gfn);
    if (pinned.length > 0) {
      this.#hazards.push({ kind: "frame-released-while-pinned", domid, gfn, refs: pinned });
      return;
    }
    const candidates = [...Array.from({ length: 8 }, (_, i) => i), ...gt.allocatedRefs()];
    const granted = candidates.filter((r) => {
      if (r >= gt.nrEntries) return false;
      const e = gt.readEntry(r);
      return (e.flags & GTF_type_mask) === GTF_permit_access && e.frame === gfn;
    });
    if (granted.length > 0)
      this.#hazards.push({ kind: "frame-released-while-granted", domid, gfn, refs: granted });
  }

  #existing(domid: DomId): DomainState {
    const d = this.#domains.get(domid);
    if (d === undefined) throw new RangeError(`no domain ${domid}`);
    return d;
  }
}
