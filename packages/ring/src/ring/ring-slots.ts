// Slot geometry of one ring: slot `s` starts at byte 64 + s × slotSize of the page sequence
// [ring.h: sring->ring[] follows the 64-byte header]. Computed once at attach: which page each
// slot is in, and whether it straddles a page boundary. Hands out the (reused) write cursor for a
// slot, and owns the ring's private mirror that RING_COPY_* snapshots are read from.
//
// The mirror: a private buffer the size of the page sequence. When a ring validates a producer
// index it copies the validated slots, all at once, from the shared pages to the same offsets of
// the mirror (a memmove per page touched instead of one copy per request), and a snapshot handed
// to takeRequest / takeResponse is then pointed at its slot of the mirror (slot-snapshot.ts). Each
// slot a consumer takes was therefore read from shared memory exactly once, after the producer
// index that covers it, and is never re-read for that request (XSA-155); later peer writes to
// the shared slot do not reach it.
import type { AccessLease, LeaseWatcher } from "../memory/access-lease.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../memory/page.ts";
import type { PageSequence } from "./page-sequence.ts";
import { SRING_HEADER_SIZE } from "./shared-ring.ts";
import { type SlotSnapshot, type SnapshotViews, snapshotViews } from "./slot-snapshot.ts";
import {
  PageSlotWriter,
  type SlotPageViews,
  type SlotWriter,
  SpanningSlotWriter,
  slotPageViews,
} from "./slot-writer.ts";

export class RingSlots implements LeaseWatcher {
  readonly #slotSize: number;
  readonly #count: number;
  // Per slot, computed at attach: absolute offset, and page (-1 where the slot straddles two
  // pages) and offset within that page for the cursor.
  readonly #abs: Int32Array;
  readonly #page: Int32Array;
  readonly #base: Int32Array;
  readonly #views: SlotPageViews[] = [];
  readonly #leases: AccessLease[] = [];
  readonly #pageU8: Uint8Array[] = [];
  readonly #pageWriter: PageSlotWriter;
  #writerPage = 0;
  readonly #spanningWriter: SpanningSlotWriter;
  readonly #mirror: SnapshotViews;
  /** Views of the shared pages that `snapshot` copied from, by start offset / 4 (see #source). */
  readonly #sources: (Uint8Array | undefined)[] = [];
  /** False once any page of the ring lost its lease (then each access checks its own pages). */
  #live = true;

  /** `writerSize`: bytes a cursor may touch (the request size for a front, the response size for a back). */
  constructor(seq: PageSequence, slotSize: number, count: number, writerSize: number) {
    this.#slotSize = slotSize;
    this.#count = count;
    this.#abs = new Int32Array(count);
    this.#page = new Int32Array(count);
    this.#base = new Int32Array(count);
    for (let p = 0; p < seq.pageCount; p++) {
      const page = seq.pageInternals(p);
      this.#views.push(slotPageViews(page.dv));
      this.#leases.push(page.lease);
      this.#pageU8.push(page.u8);
    }
    for (let s = 0; s < count; s++) {
      const abs = SRING_HEADER_SIZE + s * slotSize;
      const off = abs % PAGE_SIZE;
      this.#abs[s] = abs;
      this.#base[s] = off;
      this.#page[s] = off + slotSize > PAGE_SIZE ? -1 : abs >>> PAGE_SHIFT;
    }
    this.#mirror = snapshotViews(new ArrayBuffer(seq.byteLength), slotSize % 4 === 0);
    this.#pageWriter = new PageSlotWriter(seq, writerSize, slotSize % 4 === 0);
    this.#spanningWriter = new SpanningSlotWriter(seq, writerSize);
    for (const lease of this.#leases) lease.watch(this);
  }

  /** Package-internal (AccessLease): a page of the ring lost its lease. */
  leaseEnded(): void {
    this.#live = false;
  }

  /**
   * The write cursor positioned at slot `s`. Small enough to inline into a driver's request loop:
   * a slot on the page the cursor already writes through costs one table load and one store.
   */
  writer(s: number): SlotWriter {
    if (this.#page[s] !== this.#writerPage) return this.#otherWriter(s);
    return this.#pageWriter.at(this.#base[s] as number);
  }

  /** A slot on another page than the cursor's last one, or straddling two pages (page -1). */
  #otherWriter(s: number): SlotWriter {
    const p = this.#page[s] as number;
    if (p < 0) return this.#spanningWriter.at(this.#abs[s] as number);
    this.#pageWriter.onPage(this.#views[p] as SlotPageViews, this.#leases[p] as AccessLease, p);
    this.#writerPage = p;
    return this.#pageWriter.at(this.#base[s] as number);
  }

  /**
   * RING_COPY_* for `n` slots from ring index `first` on (wrapping at the ring's end): copies their
   * bytes from the shared pages to the mirror, one memmove per page touched. A page whose lease
   * ended is skipped (and reported when one of its slots is taken), so live pages of a partly
   * revoked multi-page ring keep working as they do through the cursors.
   */
  snapshot(first: number, n: number): void {
    if (n <= 0) return;
    const s = first & (this.#count - 1);
    const wrap = Math.min(n, this.#count - s);
    this.#copy(this.#abs[s] as number, wrap * this.#slotSize);
    if (wrap < n) this.#copy(SRING_HEADER_SIZE, (n - wrap) * this.#slotSize);
  }

  #copy(from: number, length: number): void {
    const dst = this.#mirror.u8;
    const end = from + length;
    while (from < end) {
      const p = from >>> PAGE_SHIFT;
      const pageEnd = (p + 1) << PAGE_SHIFT;
      const to = Math.min(end, pageEnd);
      if (this.#live || !(this.#leases[p] as AccessLease).ended) dst.set(this.#source(p, from, to), from);
      from = to;
    }
  }

  /**
   * A view of bytes [from, to) of the sequence, within page `p`. A driver that keeps draining
   * whole batches copies the same ranges over and over, so the last view made for each start
   * offset is kept and reused (no allocation, no garbage, in the steady state).
   */
  #source(p: number, from: number, to: number): Uint8Array {
    const key = from >>> 2;
    const o = from & (PAGE_SIZE - 1);
    const page = this.#pageU8[p] as Uint8Array;
    const cached = this.#sources[key];
    if (cached !== undefined && cached.length === to - from && cached.byteOffset === page.byteOffset + o) {
      return cached;
    }
    const view = page.subarray(o, o + (to - from));
    this.#sources[key] = view;
    return view;
  }

  /**
   * Points `into` at the mirrored copy of slot `s` (made by `snapshot`). Throws
   * StalePageAccessError if a page holding the slot lost its lease.
   */
  take(s: number, into: SlotSnapshot): void {
    if (!this.#live) this.#checkSlot(s);
    into.at(this.#mirror, this.#abs[s] as number);
  }

  #checkSlot(s: number): void {
    const abs = this.#abs[s] as number;
    (this.#leases[abs >>> PAGE_SHIFT] as AccessLease).check();
    (this.#leases[(abs + this.#slotSize - 1) >>> PAGE_SHIFT] as AccessLease).check();
  }
}
