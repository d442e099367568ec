// Packets inside dom0 (a minimal struct sk_buff): the bytes live in dom0's own frames, because
// netback's grant copies address the backend's side by frame (DOMID_SELF + GFN), both when it
// copies a guest's TX data in and when it copies a packet out into another guest's RX buffer.
import type { Gfn, GuestMemory, WritablePage } from "@xensim/ring";
import { PAGE_SIZE } from "@xensim/ring";

/** Large-send metadata a packet carries between vifs (from the TX GSO extra to the RX one). */
export interface SkbGso {
  readonly size: number;
  readonly type: number;
}

interface SkbPage {
  readonly gfn: Gfn;
  readonly view: WritablePage;
}

/** A packet: `len` bytes laid out from byte 0 of `pages[0]`, 4096 per page. */
export class Skb {
  readonly pages: SkbPage[] = [];
  len = 0;
  gso: SkbGso | undefined = undefined;
  /** NETTXF_csum_blank / data_validated as received (ip_summed). */
  csumBlank = false;
  dataValidated = false;
  /** skb users: one per receiver still holding it (flooded frames have several). */
  users = 1;

  constructor(private readonly pool: SkbPool) {}

  /** kfree_skb: the last user gives the pages back. */
  release(): void {
    if (--this.users === 0) this.pool.free(this);
  }

  byteAt(i: number): number {
    return this.pages[i >> 12]!.view.getU8(i & (PAGE_SIZE - 1));
  }

  /** A copy of the whole packet (for tests and traces; the data path never needs one). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    for (let p = 0, at = 0; at < this.len; p++) {
      const n = Math.min(PAGE_SIZE, this.len - at);
      this.pages[p]!.view.copyOut(0, out, at, n);
      at += n;
    }
    return out;
  }
}

/** dom0's packet buffers: pages are allocated once and recycled (allocation-light data path). */
export class SkbPool {
  private readonly freePages: SkbPage[] = [];
  private readonly freeSkbs: Skb[] = [];
  /** Packets currently held (leak checks). */
  live = 0;

  constructor(private readonly memory: GuestMemory) {}

  /** alloc_skb for `len` bytes, or undefined when dom0 is out of memory. */
  alloc(len: number): Skb | undefined {
    const n = Math.max(1, Math.ceil(len / PAGE_SIZE));
    const skb = this.freeSkbs.pop() ?? new Skb(this);
    for (let i = 0; i < n; i++) {
      let p = this.freePages.pop();
      if (p === undefined) {
        const g = this.memory.allocate({ zeroed: false });
        if (typeof g !== "number") {
          this.putBack(skb);
          return undefined;
        }
        p = { gfn: g as Gfn, view: this.memory.page(g as Gfn) };
      }
      skb.pages.push(p);
    }
    skb.len = len;
    skb.gso = undefined;
    skb.csumBlank = false;
    skb.dataValidated = false;
    skb.users = 1;
    this.live++;
    return skb;
  }

  /** @internal */
  free(skb: Skb): void {
    this.live--;
    this.putBack(skb);
  }

  private putBack(skb: Skb): void {
    for (const p of skb.pages) this.freePages.push(p);
    skb.pages.length = 0;
    this.freeSkbs.push(skb);
  }
}
