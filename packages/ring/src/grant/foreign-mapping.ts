// What a grantee holds after a successful map: a handle for unmap and a page view whose write
// access follows the map flags. Unmapping ends the view's lease: later access throws
// StalePageAccessError instead of silently reaching the granter's memory.
import type { DomId } from "../domid.ts";
import type { Gfn } from "../memory/page.ts";
import type { ReadablePage } from "../memory/page-view.ts";
import type { GrantHandle, GrantRef } from "./grant-flags.ts";

/** Bookkeeping of one mapping (Xen struct grant_mapping), as returned by Hypervisor queries. */
export interface MappingInfo {
  readonly grantee: DomId;
  readonly handle: GrantHandle;
  readonly granter: DomId;
  readonly ref: GrantRef;
  readonly readonly: boolean;
  /** The granter frame pinned by this mapping. */
  readonly frame: Gfn;
}

export interface ForeignMapping<P extends ReadablePage = ReadablePage> extends MappingInfo {
  /** The mapped page; throws StalePageAccessError once unmapped. */
  readonly page: P;
  /** False once unmapped. */
  readonly live: boolean;
}
