// The 64-byte header every io/ring.h ring starts with [ring.h DEFINE_RING_TYPES struct
// __name##_sring]: four u32 indices, a 4-byte private union (netif smartpoll, tapif msg) and
// 44 bytes of padding; slots start at byte 64 of the first page.
import { bytes, defineStruct, u32 } from "../layout/struct-layout.ts";
import { defineU32Accessors } from "../layout/u32-accessors.ts";
import type { PageSequence } from "./page-sequence.ts";

export const SRING_HEADER_SIZE = 64;

export const SHARED_RING_HEADER = defineStruct("sring_header", SRING_HEADER_SIZE, 4, {
  req_prod: u32(0),
  req_event: u32(4),
  rsp_prod: u32(8),
  rsp_event: u32(12),
  pvt: bytes(16, 4),
  __pad: bytes(20, 44),
});

const F = SHARED_RING_HEADER.fields;

/**
 * Raw, unvalidated access to the shared header: what either peer can write at any time. Ring
 * objects read through it and validate; tests use it to play a hostile peer.
 */
export class SharedRingHeader {
  declare reqProd: number;
  declare reqEvent: number;
  declare rspProd: number;
  declare rspEvent: number;

  constructor(readonly seq: PageSequence) {}
}

defineU32Accessors(SharedRingHeader, "seq", {
  reqProd: F.req_prod,
  reqEvent: F.req_event,
  rspProd: F.rsp_prod,
  rspEvent: F.rsp_event,
});

/**
 * SHARED_RING_INIT: producers 0, events 1 (so the first push notifies), pvt and pad zeroed.
 * Only the front end initialises a shared ring; a back end attaches.
 *
 * `startIndex` (a test aid from rings.md §10, not a ring.h macro) then moves both producers to
 * `startIndex` and both events to `startIndex + 1`, so that a ring attached at that index starts
 * out exactly like a fresh one — used to exercise wrap-around near 2^32.
 */
export function initSharedRing(seq: PageSequence, startIndex = 0): void {
  const h = new SharedRingHeader(seq);
  h.reqProd = 0;
  h.rspProd = 0;
  h.reqEvent = 1;
  h.rspEvent = 1;
  seq.fill(0, F.pvt.offset, F.pvt.size);
  seq.fill(0, F.__pad.offset, F.__pad.size);
  if (startIndex !== 0) {
    h.reqProd = h.rspProd = startIndex >>> 0;
    h.reqEvent = h.rspEvent = (startIndex + 1) >>> 0;
  }
}
