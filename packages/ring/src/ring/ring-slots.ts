// Slot geometry of one ring: slot `s` starts at byte 64 + s × slotSize of the page sequence
// [ring.h: sring->ring[] follows the 64-byte header]. Computed once at attach: which page each
// slot is in, and whether it straddles a page boundary. Hands out the (reused) write cursor for a
// slot and performs the single-snapshot copy of a slot.
import type { AccessLease } from "../memory/access-lease.ts";
import { PAGE_SIZE } from "../memory/page.ts";
import type { PageSequence } from "./page-sequence.ts";
import { SRING_HEADER_SIZE } from "./shared-ring.ts";
import type { SlotSnapshot } from "./slot-snapshot.ts";
import {
  PageSlotWriter,
  type SlotPageViews,
  type SlotWriter,
  SpanningSlotWriter,
  slotPageViews,
} from "./slot-writer.ts";

/** Up to this many words (blkif responses, netif requests and responses) a plain loop wins over TypedArray#set. */
const SHORT_COPY_WORDS = 8;

export class RingSlots {
  readonly #seq: PageSequence;
  // Per slot, computed at attach: absolute offset, page, offset within the page, first word.
  readonly #abs: Int32Array;
  readonly #views: SlotPageViews[] = [];
  readonly #lease: AccessLease[] = [];
  readonly #base: Int32Array;
  /** Per slot: the words a snapshot copy reads, as a view made once (empty where no word copy). */
  readonly #copyViews: Int32Array[] = [];
  /** Per slot: the page's words and the slot's first word, for short copies done word by word. */
  readonly #words: Int32Array[] = [];
  readonly #wordBase: Int32Array;
  /** Snapshots of at most this many words are copied by a loop (cheaper than a builtin call). */
  readonly #loopCopy: boolean;
  /** 1 where the slot straddles two pages (it then has no page, lease or words entry of its own). */
  readonly #straddles: Uint8Array;
  /** 1 where a snapshot may be copied word by word (4-byte aligned, within one page). */
  readonly #wordCopy: Uint8Array;
  readonly #pageWriter: PageSlotWriter;
  readonly #spanningWriter: SpanningSlotWriter;

  /**
   * `writerSize`: bytes a cursor may touch (the request size for a front, the response size for a
   * back); `copySize`: bytes a snapshot copies (the other struct's size).
   */
  constructor(seq: PageSequence, slotSize: number, count: number, writerSize: number, copySize: number) {
    this.#seq = seq;
    this.#abs = new Int32Array(count);
    this.#base = new Int32Array(count);
    this.#straddles = new Uint8Array(count);
    this.#wordCopy = new Uint8Array(count);
    const copyWords = Math.ceil(copySize / 4);
    this.#wordBase = new Int32Array(count);
    this.#loopCopy = copyWords <= SHORT_COPY_WORDS;
    const none = new Int32Array(0);
    for (let s = 0; s < count; s++) {
      const abs = SRING_HEADER_SIZE + s * slotSize;
      const off = abs % PAGE_SIZE;
      const page = seq.pageInternals(Math.floor(abs / PAGE_SIZE));
      this.#abs[s] = abs;
      this.#base[s] = off;
      this.#views.push(slotPageViews(page.dv));
      this.#lease.push(page.lease);
      if (off + slotSize > PAGE_SIZE) this.#straddles[s] = 1;
      else if (off % 4 === 0 && slotSize % 4 === 0 && copyWords * 4 <= slotSize) this.#wordCopy[s] = 1;
      this.#words.push(new Int32Array(page.u8.buffer, page.u8.byteOffset, PAGE_SIZE / 4));
      this.#wordBase[s] = off >>> 2;
      this.#copyViews.push(
        this.#wordCopy[s] === 1 ? new Int32Array(page.u8.buffer, page.u8.byteOffset + off, copyWords) : none,
      );
    }
    this.#pageWriter = new PageSlotWriter(seq, writerSize, slotSize % 4 === 0);
    this.#spanningWriter = new SpanningSlotWriter(seq, writerSize);
  }

  /** The write cursor positioned at slot `s`. */
  writer(s: number): SlotWriter {
    if (this.#straddles[s] === 1) return this.#spanningWriter.at(this.#abs[s] as number);
    return this.#pageWriter.at(
      this.#views[s] as SlotPageViews,
      this.#lease[s] as AccessLease,
      this.#base[s] as number,
      this.#abs[s] as number,
    );
  }

  /**
   * Copies the first `into.byteLength` bytes of slot `s` into the snapshot in one pass
   * (RING_COPY_*: `*dest = *(volatile typeof(dest))slot`). When the slot is 4-byte aligned and
   * within one page this is one TypedArray#set from a view of the slot made at attach: a single
   * memmove that allocates nothing. Callers pass a snapshot of `copySize` bytes, whose words are
   * exactly that view's length.
   */
  copyOut(s: number, into: SlotSnapshot): void {
    if (this.#wordCopy[s] === 1) {
      (this.#lease[s] as AccessLease).check();
      // Whole words; a snapshot's buffer is rounded up to 4, so a short tail copies harmless slot bytes.
      if (this.#loopCopy) {
        const src = this.#words[s] as Int32Array;
        const dst = into.words;
        const base = this.#wordBase[s] as number;
        for (let i = 0, n = dst.length; i < n; i++) dst[i] = src[base + i] as number;
      } else into.words.set(this.#copyViews[s] as Int32Array);
    } else {
      this.#seq.copyOut(this.#abs[s] as number, into.bytes, 0, into.byteLength);
    }
  }
}
