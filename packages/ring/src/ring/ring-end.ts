// What a front and a back end of an io/ring.h ring share [ring.h struct __name##_{front,back}_ring]:
// the ring's geometry, its slots and the shared header, and the header operations both ends
// make on their own pair of indices — publish a producer index (RING_PUSH_*), publish and test
// the peer's event index (RING_PUSH_*_AND_CHECK_NOTIFY), arm their own event index — and the
// single-snapshot take of a validated slot (RING_COPY_*). FrontRing and BackRing keep the
// typed, one-direction public surfaces; this base has none of its own.

import type { StructLayout } from "../layout/struct-layout.ts";
import type { AccessLease } from "../memory/access-lease.ts";
import type { PageSequence } from "./page-sequence.ts";
import { ringSize } from "./ring-index.ts";
import type { RingProtocol } from "./ring-protocol.ts";
import { RingSlots } from "./ring-slots.ts";
import { SHARED_RING_HEADER, SharedRingHeader } from "./shared-ring.ts";
import { notASnapshotFor, type SlotSnapshot } from "./slot-snapshot.ts";

export const REQ_PROD = SHARED_RING_HEADER.fields.req_prod.offset;
export const REQ_EVENT = SHARED_RING_HEADER.fields.req_event.offset;
export const RSP_PROD = SHARED_RING_HEADER.fields.rsp_prod.offset;
export const RSP_EVENT = SHARED_RING_HEADER.fields.rsp_event.offset;

export abstract class RingEnd<P extends RingProtocol> {
  /** RING_SIZE: entries, a power of two. */
  readonly size: number;
  /** Raw view of the shared header (what the peer sees and may scribble on). */
  readonly header: SharedRingHeader;
  protected readonly mask: number;
  protected readonly slots: RingSlots;
  protected readonly hdr: DataView;
  protected readonly hdrLease: AccessLease;

  protected constructor(
    readonly seq: PageSequence,
    readonly protocol: P,
    /** Bytes this end writes into a slot (its produced struct). */
    producedSize: number,
  ) {
    this.size = ringSize(protocol.slotSize, seq.pageCount);
    if (this.size === 0) throw new RangeError(`${protocol.name}: no slot fits in ${seq.pageCount} page(s)`);
    this.mask = this.size - 1;
    this.header = new SharedRingHeader(seq);
    this.slots = new RingSlots(seq, protocol.slotSize, this.size, producedSize);
    const page0 = seq.pageInternals(0);
    this.hdr = page0.dv;
    this.hdrLease = page0.lease;
  }

  /** A header index as the peer left it (read once). */
  protected readIndex(offset: number): number {
    this.hdrLease.check();
    return this.hdr.getUint32(offset, true);
  }

  /** RING_PUSH_*: publish our producer index. */
  protected publish(prodOffset: number, pvt: number): void {
    this.hdrLease.check();
    this.hdr.setUint32(prodOffset, pvt, true);
  }

  /** RING_PUSH_*_AND_CHECK_NOTIFY: publish, then true iff the peer's event ∈ (old, new]. */
  protected publishAndCheckNotify(prodOffset: number, eventOffset: number, pvt: number): boolean {
    this.hdrLease.check();
    const hdr = this.hdr;
    const oldProd = hdr.getUint32(prodOffset, true);
    hdr.setUint32(prodOffset, pvt, true);
    return (pvt - hdr.getUint32(eventOffset, true)) >>> 0 < (pvt - oldProd) >>> 0; // mustNotify
  }

  /** Write our own event index (RING_FINAL_CHECK_*, custom batching). */
  protected writeEvent(eventOffset: number, value: number): void {
    this.hdrLease.check();
    this.hdr.setUint32(eventOffset, value >>> 0, true);
  }

  /** RING_COPY_*: the validated slot at `cons` into `into`, which must be sized for `layout`. */
  protected takeSlot(cons: number, into: SlotSnapshot<StructLayout>, layout: StructLayout): void {
    if (into.byteLength !== layout.size) notASnapshotFor(this.protocol.name);
    this.slots.take(cons & this.mask, into);
  }
}
