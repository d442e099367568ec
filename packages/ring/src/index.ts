/**
 * @module @xensim/ring
 */
// @xensim/ring: guest memory, v1 grant tables, byte-exact io/ring.h rings and the XenStore page.

export type { DomId } from "./domid.ts";
export {
  DOMID_COW,
  DOMID_FIRST_RESERVED,
  DOMID_IDLE,
  DOMID_INVALID,
  DOMID_IO,
  DOMID_SELF,
  DOMID_XEN,
  isOrdinaryDomId,
} from "./domid.ts";
export type { ForeignMapping, MappingInfo } from "./grant/foreign-mapping.ts";
export * from "./grant/gnttab-status.ts";
export { GRANT_ENTRY_V1 } from "./grant/grant-entry.ts";
export * from "./grant/grant-flags.ts";
export type { GrantEntry, GrantPins, GrantRefsExhausted, GrantTableOptions } from "./grant/grant-table.ts";
export { GrantTable } from "./grant/grant-table.ts";
export type {
  Domain,
  DomainOptions,
  GrantCopyOp,
  GrantCopyPtr,
  MapFailure,
  MapOptions,
  MapResult,
  MapSuccess,
  MemoryHazard,
} from "./grant/hypervisor.ts";
export { Hypervisor } from "./grant/hypervisor.ts";
export type { FieldValue, StructValue } from "./layout/struct-codec.ts";
export { decodeStruct, encodeStruct } from "./layout/struct-codec.ts";
export type {
  ArrayElement,
  ArrayField,
  BytesField,
  Field,
  Fields,
  ScalarField,
  ScalarType,
  StructLayout,
} from "./layout/struct-layout.ts";
export { array, bytes, defineStruct, i8, i16, i32, u8, u16, u32, u64 } from "./layout/struct-layout.ts";
export type { LeaseEndReason } from "./memory/access-lease.ts";
export { StalePageAccessError } from "./memory/access-lease.ts";
export type { ByteReader, ByteWriter } from "./memory/byte-access.ts";
export { OutOfBoundsError } from "./memory/byte-access.ts";
export type { AllocateOptions, GuestMemoryOptions, OutOfMemory } from "./memory/guest-memory.ts";
export { GuestMemory } from "./memory/guest-memory.ts";
export type { Gfn } from "./memory/page.ts";
export { PAGE_SHIFT, PAGE_SIZE } from "./memory/page.ts";
export type { ReadablePage, WritablePage } from "./memory/page-view.ts";
export { ReadOnlyPageError } from "./memory/page-view.ts";
export { BackRing } from "./ring/back-ring.ts";
export { FrontRing } from "./ring/front-ring.ts";
export { PageSequence } from "./ring/page-sequence.ts";
export * from "./ring/protocols/blkif.ts";
export * from "./ring/protocols/netif.ts";
export type { RingError, RingErrorKind } from "./ring/ring-error.ts";
export { isRingError } from "./ring/ring-error.ts";
export { mustNotify, ringSize, roundDownPow2 } from "./ring/ring-index.ts";
export type { RingProtocol } from "./ring/ring-protocol.ts";
export { defineRingProtocol } from "./ring/ring-protocol.ts";
export {
  initSharedRing,
  SHARED_RING_HEADER,
  SharedRingHeader,
  SRING_HEADER_SIZE,
} from "./ring/shared-ring.ts";
export { SlotSnapshot } from "./ring/slot-snapshot.ts";
export type { SlotWriter } from "./ring/slot-writer.ts";
export type { XenstoreRingIndexError } from "./xenstore-page/xenstore-byte-ring.ts";
export { XenstoreGuestEnd, XenstoreServerEnd } from "./xenstore-page/xenstore-byte-ring.ts";
export * from "./xenstore-page/xenstore-interface.ts";
