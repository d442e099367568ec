// The ordered map against a plain Map (insertion order), in both representations and across
// the small/large switch, with old versions checked unchanged (persistence under transients).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newEdit } from "./edit.ts";
import {
  type OrderedMap,
  omDelete,
  omEmpty,
  omForEach,
  omGet,
  omGetRange,
  omKeys,
  omNames,
  omSet,
} from "./ordered-map.ts";

type Op = { k: "set"; key: string; v: number } | { k: "del"; key: string } | { k: "freeze" };

const MAXKEY = 3000;
const ops = fc.integer({ min: 2, max: MAXKEY }).chain((kmax) => {
  const key = fc.integer({ min: 0, max: kmax }).map((i) => `k${i}`);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant("set" as const), key, v: fc.integer() }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant("del" as const), key }) },
    { weight: 1, arbitrary: fc.constant({ k: "freeze" as const }) },
  );
  return fc.array(op, { maxLength: Math.min(3000, kmax * 8) });
});

function entries(m: OrderedMap<number>): [string, number][] {
  const out: [string, number][] = [];
  omForEach(m, (k, v) => out.push([k, v]));
  return out;
}

describe("ordered map", () => {
  it("matches an insertion-ordered Map; frozen versions never change", () => {
    fc.assert(
      fc.property(ops, (ops) => {
        let m = omEmpty<number>();
        let edit = newEdit();
        const ref = new Map<string, number>();
        const frozen: { m: OrderedMap<number>; e: [string, number][] }[] = [];
        for (const o of ops) {
          if (o.k === "set") {
            m = omSet(m, edit, o.key, o.v);
            ref.set(o.key, o.v);
          } else if (o.k === "del") {
            m = omDelete(m, edit, o.key);
            ref.delete(o.key);
          } else {
            omNames(m); // cached now; later changes must drop it
            frozen.push({ m, e: [...ref] });
            edit = newEdit();
          }
          expect(m.size).toBe(ref.size);
          // lookups as the sequence goes (large maps build their hash index after enough of them)
          if (o.k !== "freeze") {
            expect(omGet(m, o.key)).toBe(ref.get(o.key));
            expect(omGetRange(m, `/${o.key}/`, 1, 1 + o.key.length)).toBe(ref.get(o.key));
          }
        }
        expect(entries(m)).toEqual([...ref]);
        expect(omKeys(m)).toEqual([...ref.keys()]);
        for (let i = 0; i <= MAXKEY; i += 7) {
          const k = `k${i}`;
          expect(omGet(m, k)).toBe(ref.get(k));
          const s = `/x/${k}/y`;
          expect(omGetRange(m, s, 3, 3 + k.length)).toBe(ref.get(k));
        }
        const names = (x: OrderedMap<number>) => [...omNames(x)].map((c) => String.fromCharCode(c)).join("");
        expect(names(m)).toBe([...ref.keys()].map((k) => `${k}\0`).join(""));
        for (const f of frozen) {
          expect(entries(f.m)).toEqual(f.e);
          expect(names(f.m)).toBe(f.e.map(([k]) => `${k}\0`).join(""));
        }
      }),
      { numRuns: 60 },
    );
  });
});
