// Slot geometry of one ring: slot `s` starts at byte 64 + s × slotSize of the page sequence
// [ring.h: sring->ring[] follows the 64-byte header]. Computed once at attach: which page each
// slot is in, and whether it straddles a page boundary. Hands out the (reused) write cursor for a
// slot and performs the single-snapshot copy of a slot.
import type { AccessLease } from "../memory/access-lease.ts";
import { PAGE_SIZE } from "../memory/page.ts";
import type { PageSequence } from "./page-sequence.ts";
import { SRING_HEADER_SIZE } from "./shared-ring.ts";
import type { SlotSnapshot } from "./slot-snapshot.ts";
import { PageSlotWriter, type SlotWriter, SpanningSlotWriter } from "./slot-writer.ts";

export class RingSlots {
  readonly #seq: PageSequence;
  // Per slot, computed at attach: absolute offset, page, offset within the page, first word.
  readonly #abs: Int32Array;
  readonly #dv: DataView[] = [];
  readonly #lease: AccessLease[] = [];
  readonly #base: Int32Array;
  readonly #words: Int32Array[] = [];
  readonly #wordBase: Int32Array;
  /** 1 where the slot straddles two pages (it then has no page, lease or words entry of its own). */
  readonly #straddles: Uint8Array;
  /** 1 where a snapshot may be copied word by word (4-byte aligned, within one page). */
  readonly #wordCopy: Uint8Array;
  readonly #pageWriter: PageSlotWriter;
  readonly #spanningWriter: SpanningSlotWriter;

  /** `writerSize`: bytes a cursor may touch (the request size for a front, the response size for a back). */
  constructor(seq: PageSequence, slotSize: number, count: number, writerSize: number) {
    this.#seq = seq;
    this.#abs = new Int32Array(count);
    this.#base = new Int32Array(count);
    this.#wordBase = new Int32Array(count);
    this.#straddles = new Uint8Array(count);
    this.#wordCopy = new Uint8Array(count);
    for (let s = 0; s < count; s++) {
      const abs = SRING_HEADER_SIZE + s * slotSize;
      const off = abs % PAGE_SIZE;
      const page = seq.pageInternals(Math.floor(abs / PAGE_SIZE));
      this.#abs[s] = abs;
      this.#base[s] = off;
      this.#dv.push(page.dv);
      this.#lease.push(page.lease);
      this.#words.push(new Int32Array(page.u8.buffer, page.u8.byteOffset, PAGE_SIZE / 4));
      this.#wordBase[s] = off >>> 2;
      if (off + slotSize > PAGE_SIZE) this.#straddles[s] = 1;
      else if (off % 4 === 0 && slotSize % 4 === 0) this.#wordCopy[s] = 1;
    }
    this.#pageWriter = new PageSlotWriter(seq, writerSize);
    this.#spanningWriter = new SpanningSlotWriter(seq, writerSize);
  }

  /** The write cursor positioned at slot `s`. */
  writer(s: number): SlotWriter {
    if (this.#straddles[s] === 1) return this.#spanningWriter.at(this.#abs[s] as number);
    return this.#pageWriter.at(
      this.#dv[s] as DataView,
      this.#lease[s] as AccessLease,
      this.#base[s] as number,
      this.#abs[s] as number,
    );
  }

  /**
   * Copies the first `into.byteLength` bytes of slot `s` into the snapshot in one pass
   * (RING_COPY_*: `*dest = *(volatile typeof(dest))slot`) — word by word when the slot is
   * 4-byte aligned and within one page, so copying a 4–112 byte struct allocates nothing.
   */
  copyOut(s: number, into: SlotSnapshot): void {
    if (this.#wordCopy[s] === 1) {
      (this.#lease[s] as AccessLease).check();
      const src = this.#words[s] as Int32Array;
      const dst = into.words;
      const base = this.#wordBase[s] as number;
      // Whole words; a snapshot's buffer is rounded up to 4, so a short tail copies harmless slot bytes.
      for (let i = 0, n = dst.length; i < n; i++) dst[i] = src[base + i] as number;
    } else {
      this.#seq.copyOut(this.#abs[s] as number, into.bytes, 0, into.byteLength);
    }
  }
}
