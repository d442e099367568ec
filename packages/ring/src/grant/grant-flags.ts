// Flag words of grant_table.h. GTF_* live in the shared grant entry (`flags`, u16); GNTMAP_* are
// map-request flags; GNTCOPY_* say which side of a copy is a grant reference.

export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_transitive = 3;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
/** Set by Xen while any pin (mapping or in-flight copy) exists. */
export const GTF_reading = 1 << 3;
/** Set by Xen while any writable pin exists. */
export const GTF_writing = 1 << 4;
export const GTF_PWT = 1 << 5;
export const GTF_PCD = 1 << 6;
export const GTF_PAT = 1 << 7;
export const GTF_sub_page = 1 << 8;

export const GNTMAP_device_map = 1 << 0;
export const GNTMAP_host_map = 1 << 1;
export const GNTMAP_readonly = 1 << 2;
export const GNTMAP_application_map = 1 << 3;
export const GNTMAP_contains_pte = 1 << 4;

export const GNTCOPY_source_gref = 1 << 0;
export const GNTCOPY_dest_gref = 1 << 1;

/** Refs 0..7 belong to the toolstack; a guest's allocator never hands them out. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;

/** v1 entries per 4 KiB grant-table frame (4096 / sizeof(grant_entry_v1)). */
export const GRANT_ENTRIES_PER_FRAME = 512;

export type GrantRef = number;
export type GrantHandle = number;
