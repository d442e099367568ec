// The blkif wire ABI both ends speak [xen/include/public/io/blkif.h], as flat field offsets for
// the data path (no per-request allocation). Both x86 ABIs: the `protocol` key picks one
// ("x86_64-abi" native; "x86_32-abi" has u64 aligned to 4 — Linux xen-blkback/common.h
// blkif_x86_32_request*, #pragma pack(4)). Shared by blkfront and blkback.
import {
  array,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_REQUEST_DISCARD_X86_64,
  BLKIF_REQUEST_INDIRECT_X86_64,
  BLKIF_REQUEST_SEGMENT,
  BLKIF_REQUEST_X86_32,
  BLKIF_REQUEST_X86_64,
  BLKIF_RESPONSE_X86_32,
  BLKIF_RESPONSE_X86_64,
  BLKIF_RING_X86_32,
  BLKIF_RING_X86_64,
  type ByteReader,
  type ByteWriter,
  defineStruct,
  type RingProtocol,
  u8,
  u16,
  u32,
  u64,
} from "@xensim/ring";

export {
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from "@xensim/ring";

/** struct blkif_request_discard, x86_32 (28 bytes). */
export const BLKIF_REQUEST_DISCARD_X86_32 = defineStruct("blkif_x86_32_request_discard", 28, 4, {
  operation: u8(0),
  flag: u8(1),
  handle: u16(2),
  id: u64(4),
  sector_number: u64(12),
  nr_sectors: u64(20),
});

/** struct blkif_request_indirect, x86_32 (padded to 64 bytes like the native one). */
export const BLKIF_REQUEST_INDIRECT_X86_32 = defineStruct("blkif_x86_32_request_indirect", 64, 4, {
  operation: u8(0),
  indirect_op: u8(1),
  nr_segments: u16(2),
  id: u64(4),
  sector_number: u64(12),
  handle: u16(20),
  indirect_grefs: array(24, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, u32(0)),
});

export const BLKIF_DISCARD_SECURE = 1;
/** VDISK_* bits of the `info` key. */
export const VDISK_CDROM = 1;
export const VDISK_REMOVABLE = 2;
export const VDISK_READONLY = 4;
/** Segments per indirect page: 4096 / sizeof(struct blkif_request_segment). */
export const SEGS_PER_INDIRECT_FRAME = 4096 / BLKIF_REQUEST_SEGMENT.size;
export const SEG_SIZE = BLKIF_REQUEST_SEGMENT.size;
/** Sectors per 4 KiB frame (a segment's last_sect is at most 7). */
export const SECTORS_PER_PAGE = 8;

export type BlkifProtocolName = "x86_64-abi" | "x86_32-abi";

/** Every offset the data path needs for one ABI. */
export interface BlkifAbi {
  readonly name: BlkifProtocolName;
  readonly ring: RingProtocol;
  // blkif_request (read/write/flush/barrier)
  readonly op: number;
  readonly nrSegments: number;
  readonly handle: number;
  readonly id: number;
  readonly sector: number;
  readonly seg0: number;
  // blkif_request_discard
  readonly discardFlag: number;
  readonly discardNrSectors: number;
  // blkif_request_indirect
  readonly indOp: number;
  readonly indNrSegments: number;
  readonly indHandle: number;
  readonly indGrefs: number;
  // blkif_response
  readonly rspId: number;
  readonly rspOp: number;
  readonly rspStatus: number;
}

export const BLKIF_ABI_X86_64: BlkifAbi = {
  name: "x86_64-abi",
  ring: BLKIF_RING_X86_64,
  op: BLKIF_REQUEST_X86_64.fields.operation.offset,
  nrSegments: BLKIF_REQUEST_X86_64.fields.nr_segments.offset,
  handle: BLKIF_REQUEST_X86_64.fields.handle.offset,
  id: BLKIF_REQUEST_X86_64.fields.id.offset,
  sector: BLKIF_REQUEST_X86_64.fields.sector_number.offset,
  seg0: BLKIF_REQUEST_X86_64.fields.seg.offset,
  discardFlag: BLKIF_REQUEST_DISCARD_X86_64.fields.flag.offset,
  discardNrSectors: BLKIF_REQUEST_DISCARD_X86_64.fields.nr_sectors.offset,
  indOp: BLKIF_REQUEST_INDIRECT_X86_64.fields.indirect_op.offset,
  indNrSegments: BLKIF_REQUEST_INDIRECT_X86_64.fields.nr_segments.offset,
  indHandle: BLKIF_REQUEST_INDIRECT_X86_64.fields.handle.offset,
  indGrefs: BLKIF_REQUEST_INDIRECT_X86_64.fields.indirect_grefs.offset,
  rspId: BLKIF_RESPONSE_X86_64.fields.id.offset,
  rspOp: BLKIF_RESPONSE_X86_64.fields.operation.offset,
  rspStatus: BLKIF_RESPONSE_X86_64.fields.status.offset,
};

export const BLKIF_ABI_X86_32: BlkifAbi = {
  name: "x86_32-abi",
  ring: BLKIF_RING_X86_32,
  op: BLKIF_REQUEST_X86_32.fields.operation.offset,
  nrSegments: BLKIF_REQUEST_X86_32.fields.nr_segments.offset,
  handle: BLKIF_REQUEST_X86_32.fields.handle.offset,
  id: BLKIF_REQUEST_X86_32.fields.id.offset,
  sector: BLKIF_REQUEST_X86_32.fields.sector_number.offset,
  seg0: BLKIF_REQUEST_X86_32.fields.seg.offset,
  discardFlag: BLKIF_REQUEST_DISCARD_X86_32.fields.flag.offset,
  discardNrSectors: BLKIF_REQUEST_DISCARD_X86_32.fields.nr_sectors.offset,
  indOp: BLKIF_REQUEST_INDIRECT_X86_32.fields.indirect_op.offset,
  indNrSegments: BLKIF_REQUEST_INDIRECT_X86_32.fields.nr_segments.offset,
  indHandle: BLKIF_REQUEST_INDIRECT_X86_32.fields.handle.offset,
  indGrefs: BLKIF_REQUEST_INDIRECT_X86_32.fields.indirect_grefs.offset,
  rspId: BLKIF_RESPONSE_X86_32.fields.id.offset,
  rspOp: BLKIF_RESPONSE_X86_32.fields.operation.offset,
  rspStatus: BLKIF_RESPONSE_X86_32.fields.status.offset,
};

/** The ABI a `protocol` value names; undefined for anything else (blkback: "unknown fe protocol"). */
export function blkifAbi(protocol: string): BlkifAbi | undefined {
  if (protocol === "x86_64-abi") return BLKIF_ABI_X86_64;
  if (protocol === "x86_32-abi") return BLKIF_ABI_X86_32;
  return undefined;
}

/**
 * A u64 field as a JS number: exact below 2^53; above, an approximation that is still ≥ 2^53, so
 * every range check against a real capacity or ring size still fails as it must.
 */
export function getU64n(r: ByteReader, o: number): number {
  return r.getU32(o) + r.getU32(o + 4) * 0x1_0000_0000;
}

export function setU64n(w: ByteWriter, o: number, v: number): void {
  w.setU32(o, v >>> 0);
  w.setU32(o + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

/** blkif operation names for traces. */
export function blkifOpName(op: number): string {
  return (
    ["read", "write", "write_barrier", "flush_diskcache", "reserved_1", "discard", "indirect"][op] ??
    `op${op}`
  );
}

/** Linux xen_translate_vdev / encode_disk_name: the guest's name for a virtual-device number. */
export function vdevName(vdevice: number): string {
  let index: number;
  if (vdevice & (1 << 28)) index = (vdevice & 0xfffff) >> 8;
  else if (vdevice >> 8 === 202) index = (vdevice & 0xff) >> 4;
  else return `vd${vdevice}`;
  let s = "";
  let n = index + 1;
  while (n > 0) {
    n -= 1;
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return `xvd${s}`;
}
