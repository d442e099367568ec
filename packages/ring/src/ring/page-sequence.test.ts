import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StalePageAccessError } from "../memory/access-lease.ts";
import { OutOfBoundsError } from "../memory/byte-access.ts";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { PageSequence } from "./page-sequence.ts";

function sequence(pages: number) {
  const mem = new GuestMemory(1);
  const gfns = mem.allocateMany(pages) as Gfn[];
  return { mem, gfns, seq: PageSequence.of(gfns.map((g) => mem.page(g))) };
}

describe("PageSequence", () => {
  it("reads and writes values that straddle page boundaries byte-exactly (little-endian)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4096 - 8, max: 4096 + 8 }),
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (at, v32, v64) => {
          const { mem, gfns, seq } = sequence(2);
          seq.setU32(at, v32);
          expect(seq.getU32(at)).toBe(v32);
          const bytes = [0, 1, 2, 3].map((i) => mem.page(gfns[(at + i) >> 12] as Gfn).getU8((at + i) & 4095));
          expect(bytes).toEqual([0, 8, 16, 24].map((s) => (v32 >>> s) & 0xff));
          seq.setU64(at, v64);
          expect(seq.getU64(at)).toBe(v64);
          seq.setU16(at, 0xfffe);
          expect(seq.getI16(at)).toBe(-2);
        },
      ),
    );
  });

  it("copies across pages and refuses offsets outside the sequence", () => {
    const { seq } = sequence(3);
    const src = Uint8Array.from({ length: 9000 }, (_, i) => i & 0xff);
    seq.copyIn(100, src, 0, src.length);
    const out = new Uint8Array(9000);
    seq.copyOut(100, out, 0, 9000);
    expect(out).toEqual(src);
    expect(() => seq.getU32(3 * 4096 - 2)).toThrow(OutOfBoundsError);
    expect(() => seq.setU8(-1, 0)).toThrow(OutOfBoundsError);
    expect(() => seq.copyOut(12000, out, 0, 500)).toThrow(OutOfBoundsError);
  });

  it("goes stale page by page when a page's frame is released", () => {
    const { mem, gfns, seq } = sequence(2);
    mem.release(gfns[1] as Gfn);
    expect(seq.getU32(0)).toBe(0);
    expect(() => seq.getU32(4096)).toThrow(StalePageAccessError);
    expect(() => seq.getU32(4094)).toThrow(StalePageAccessError);
  });
});
