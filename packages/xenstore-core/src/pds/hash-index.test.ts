// The paged hash index against a plain Map (insertion order kept, removed keys dropped), at
// sizes that span many slot pages and sequence pages, with removals that force compaction.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HashIndex } from "./hash-index.ts";

function keysOf(h: HashIndex<number>): string[] {
  const out: string[] = [];
  h.forEachKey((k) => out.push(k));
  return out;
}

function check(h: HashIndex<number>, ref: Map<string, number>): void {
  expect(h.size).toBe(ref.size);
  expect(keysOf(h)).toEqual([...ref.keys()]);
  for (const [k, v] of ref) {
    expect(h.get(k)).toBe(v);
    // looked up by a range of a longer path, as a walk does
    const path = `/a/${k}/b`;
    expect(h.getRange(path, 3, 3 + k.length)).toBe(v);
  }
}

describe("hash index", () => {
  it("matches an insertion-ordered Map across many pages, through growth and compaction", () => {
    const h = new HashIndex<number>(0);
    const ref = new Map<string, number>();
    const n = 40_000; // ~10 slot pages, 5 sequence pages
    for (let i = 0; i < n; i++) {
      expect(h.set(`k${i}`, i)).toBe(2);
      ref.set(`k${i}`, i);
    }
    expect(h.set("k7", 7)).toBe(0);
    expect(h.set("k7", -7)).toBe(1);
    ref.set("k7", -7);
    // remove most keys, every third kept: rehashes with compaction of the sequence on the way
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) continue;
      expect(h.delete(`k${i}`)).toBe(true);
      ref.delete(`k${i}`);
    }
    expect(h.delete("k1")).toBe(false);
    expect(h.get("k1")).toBeUndefined();
    // re-added keys go last
    for (let i = 1; i < 3000; i += 3) {
      h.set(`k${i}`, i);
      ref.set(`k${i}`, i);
    }
    check(h, ref);
  });

  it("random sets and deletes agree with a Map", () => {
    const op = fc.record({ del: fc.boolean(), key: fc.integer({ min: 0, max: 9000 }), v: fc.integer() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12_000 }), fc.nat(20_000), (ops, expected) => {
        const h = new HashIndex<number>(expected);
        const ref = new Map<string, number>();
        for (const o of ops) {
          const key = `k${o.key}`;
          if (o.del) expect(h.delete(key)).toBe(ref.delete(key));
          else {
            const had = ref.has(key);
            const same = had && ref.get(key) === o.v;
            expect(h.set(key, o.v)).toBe(same ? 0 : had ? 1 : 2);
            ref.set(key, o.v);
          }
        }
        check(h, ref);
      }),
      { numRuns: 30 },
    );
  });
});
