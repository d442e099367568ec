// bytesToLatin1 keeps recently decoded short strings in hashed slots: whatever was decoded
// before (colliding slots, equal lengths, NULs, high bytes), every answer must be the bytes'
// own latin1 string, as Buffer decodes them.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToLatin1, latin1ToBytes } from "./payload.ts";

const reference = (b: Uint8Array, s: number, e: number) =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1", s, e);

describe("bytesToLatin1", () => {
  it("decodes every range as Buffer does, whatever it decoded before", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            // few distinct byte values and short lengths: many equal-length near misses
            fc.uint8Array({ maxLength: 60 }).map((a) => a.map((x) => (x % 4 === 0 ? x : x & 0x83))),
            fc.nat(),
            fc.nat(),
          ),
          { maxLength: 200 },
        ),
        (cases) => {
          for (const [b, x, y] of cases) {
            const s = b.length === 0 ? 0 : x % (b.length + 1);
            const e = s + (b.length === 0 ? 0 : y % (b.length - s + 1));
            expect(bytesToLatin1(b, s, e)).toBe(reference(b, s, e));
            expect(bytesToLatin1(b)).toBe(reference(b, 0, b.length));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("tells apart strings that share a slot", () => {
    // 5,000 distinct 2-byte strings for 4,096 slots: collisions are certain
    const seen: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const b = Uint8Array.of(i & 0xff, i >> 8);
      seen.push(bytesToLatin1(b));
    }
    for (let i = 0; i < 5000; i++) {
      expect(bytesToLatin1(Uint8Array.of(i & 0xff, i >> 8))).toBe(seen[i]);
      expect(latin1ToBytes(seen[i]!)).toEqual(Uint8Array.of(i & 0xff, i >> 8));
    }
  });
});
