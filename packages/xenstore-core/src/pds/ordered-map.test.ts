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

function names(m: OrderedMap<number>): string {
  return [...omNames(m)].map((c) => String.fromCharCode(c)).join("");
}

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

  it("deferred trie updates of an indexed map: replayed before copies, compacted in place", () => {
    const edit = newEdit();
    let m = omEmpty<number>();
    const ref = new Map<string, number>();
    const set = (k: string, v: number) => {
      m = omSet(m, edit, k, v);
      ref.set(k, v);
    };
    const del = (k: string) => {
      m = omDelete(m, edit, k);
      ref.delete(k);
    };
    for (let i = 0; i < 2000; i++) set(`k${i}`, i);
    for (let r = 0; r < 3; r++) for (let i = 0; i < 2000; i++) expect(omGet(m, `k${i}`)).toBe(i);
    expect(m.index).not.toBeNull();
    const large = m;
    // in place from here: updates are logged, the trie is not touched
    const trie = m.hamt;
    for (let i = 0; i < 2000; i += 5) del(`k${i}`);
    for (let i = 0; i < 2000; i += 10) set(`k${i}`, -i); // re-added: last in order
    for (let i = 1; i < 2000; i += 10) set(`k${i}`, i + 1); // updated: keeps its place
    set("new", 7);
    expect(m).toBe(large);
    expect(m.hamt).toBe(trie);
    expect(m.log).not.toBeNull();
    expect(omKeys(m)).toEqual([...ref.keys()]);
    expect(entries(m)).toEqual([...ref]); // omForEach replays the log
    expect(m.log).toBeNull();
    // a copy for another token replays first; the original version stays as it was
    for (let i = 2; i < 2000; i += 10) del(`k${i}`);
    const before = [...ref];
    const e2 = newEdit();
    const copy = omSet(m, e2, "other", 1);
    expect(copy).not.toBe(m);
    expect(entries(m)).toEqual(before);
    expect(entries(copy)).toEqual([...before, ["other", 1]]);
    // (`edit` is retired now, as XsStore.freeze() does once a version is shared)
    // removing nearly everything in place: rebuilt from the index into this same (small) map
    const e3 = newEdit();
    const edit3 = (k: string) => {
      m = omDelete(m, e3, k);
      ref.delete(k);
    };
    m = omSet(m, e3, "k1", 1);
    ref.set("k1", 1);
    const third = m;
    for (let r = 0; r < 3; r++) for (const k of ref.keys()) omGet(m, k);
    expect(m.index).not.toBeNull();
    const keep = [...ref.keys()].slice(0, 5);
    for (const k of [...ref.keys()]) if (!keep.includes(k)) edit3(k);
    expect(m).toBe(third);
    expect(m.size).toBe(5);
    expect(m.order.count).toBe(0); // more updates than keys: trie and order dropped, index kept
    expect(omKeys(m)).toEqual(keep);
    m = omSet(m, newEdit(), "last", 9); // a copy: rebuilds `third` first
    ref.set("last", 9);
    expect(third.hamt).toBeNull();
    expect(entries(third)).toEqual(keep.map((k) => [k, ref.get(k)]));
    expect(entries(m)).toEqual([...ref]);
    expect(names(m)).toBe([...ref.keys()].map((k) => `${k}\0`).join(""));
    expect(entries(copy)).toEqual([...before, ["other", 1]]);
    expect(entries(large)).toEqual(before);
  });
});
