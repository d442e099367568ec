// struct grant_entry_v1 [grant_table.h], 8 bytes, 512 to a frame. The granter writes domid and
// frame, then flags; Xen ORs GTF_reading/GTF_writing into flags while the entry is pinned.
import { defineStruct, u16, u32 } from "../layout/struct-layout.ts";

export const GRANT_ENTRY_V1 = defineStruct("grant_entry_v1", 8, 4, {
  flags: u16(0),
  domid: u16(2),
  frame: u32(4),
});
