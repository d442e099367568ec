// Block rings [xen/include/public/io/blkif.h] in both x86 ABIs a backend must speak (xenstore
// `protocol` = "x86_64-abi" / "x86_32-abi"). The x86_32 layouts are what i386 gcc produces: u64
// aligned to 4, so `id` sits at 4 instead of 8 and the request is 108 bytes instead of 112 —
// reproduced as Linux xen-blkback/common.h and QEMU xen_blkif.h do, with #pragma pack(push, 4).
import { array, defineStruct, i16, u8, u16, u32, u64 } from "../../layout/struct-layout.ts";
import { defineRingProtocol } from "../ring-protocol.ts";

export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;

/** struct blkif_request_segment: same in both ABIs (8 bytes, two bytes of tail padding). */
export const BLKIF_REQUEST_SEGMENT = defineStruct("blkif_request_segment", 8, 4, {
  gref: u32(0),
  first_sect: u8(4),
  last_sect: u8(5),
});

export const BLKIF_REQUEST_X86_64 = defineStruct("blkif_request", 112, 8, {
  operation: u8(0),
  nr_segments: u8(1),
  handle: u16(2),
  id: u64(8),
  sector_number: u64(16),
  seg: array(24, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_REQUEST_SEGMENT),
});

/** BLKIF_OP_DISCARD requests reuse the slot with this layout. */
export const BLKIF_REQUEST_DISCARD_X86_64 = defineStruct("blkif_request_discard", 32, 8, {
  operation: u8(0),
  flag: u8(1),
  handle: u16(2),
  id: u64(8),
  sector_number: u64(16),
  nr_sectors: u64(24),
});

/** BLKIF_OP_INDIRECT requests reuse the slot with this layout. */
export const BLKIF_REQUEST_INDIRECT_X86_64 = defineStruct("blkif_request_indirect", 64, 8, {
  operation: u8(0),
  indirect_op: u8(1),
  nr_segments: u16(2),
  id: u64(8),
  sector_number: u64(16),
  handle: u16(24),
  indirect_grefs: array(28, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, u32(0)),
});

export const BLKIF_RESPONSE_X86_64 = defineStruct("blkif_response", 16, 8, {
  id: u64(0),
  operation: u8(8),
  status: i16(10),
});

export const BLKIF_REQUEST_X86_32 = defineStruct("blkif_x86_32_request", 108, 4, {
  operation: u8(0),
  nr_segments: u8(1),
  handle: u16(2),
  id: u64(4),
  sector_number: u64(12),
  seg: array(20, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_REQUEST_SEGMENT),
});

export const BLKIF_RESPONSE_X86_32 = defineStruct("blkif_x86_32_response", 12, 4, {
  id: u64(0),
  operation: u8(8),
  status: i16(10),
});

/** DEFINE_RING_TYPES(blkif, ...) on x86_64: 112-byte slots, 32 per page. */
export const BLKIF_RING_X86_64 = defineRingProtocol("blkif", BLKIF_REQUEST_X86_64, BLKIF_RESPONSE_X86_64);
/** The x86_32 ABI ring: 108-byte slots, 32 per page; slots may straddle pages in multi-page rings. */
export const BLKIF_RING_X86_32 = defineRingProtocol(
  "blkif_x86_32",
  BLKIF_REQUEST_X86_32,
  BLKIF_RESPONSE_X86_32,
);

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_OP_DISCARD = 5;
export const BLKIF_OP_INDIRECT = 6;
export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_OKAY = 0;
