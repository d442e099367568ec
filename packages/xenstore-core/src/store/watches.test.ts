// WatchTable.match against the definition (cx fire_watches(): a watch fires for a change of its
// path or, for a non-exact event, of anything below it; connections, then registration order),
// under adds and removals, with paths of many lengths sharing prefixes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isChildOrSelf } from "./paths.ts";
import { type Watch, WatchTable } from "./watches.ts";

const comp = fc.constantFrom("a", "b", "ab", "local", "domain", "1", "12");
const nodePath = fc.array(comp, { maxLength: 5 }).map((cs) => `/${cs.join("/")}`);
const anyPath = fc.oneof(
  { weight: 6, arbitrary: nodePath },
  { weight: 1, arbitrary: fc.constantFrom("@introduceDomain", "@releaseDomain") },
);

type Op =
  | { k: "add"; conn: number; path: string; token: string }
  | { k: "remove"; i: number }
  | { k: "drop"; conn: number }
  | { k: "match"; path: string; exact: boolean }
  | { k: "below"; i: number; rest: string; exact: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("add" as const),
      conn: fc.integer({ min: 1, max: 4 }),
      path: anyPath,
      token: fc.constantFrom("t", "u"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("remove" as const), i: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("drop" as const), conn: fc.integer({ min: 1, max: 4 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant("match" as const), path: anyPath, exact: fc.boolean() }),
  },
  {
    // a change below a watched path (its own watch and its ancestors' fire)
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("below" as const),
      i: fc.nat(),
      rest: fc.array(comp, { minLength: 1, maxLength: 2 }).map((cs) => cs.join("/")),
      exact: fc.boolean(),
    }),
  },
);

function expected(live: Watch[], path: string, exact: boolean): Watch[] {
  const reach = (w: Watch) =>
    w.path === path ||
    (!exact && !path.startsWith("@") && !w.path.startsWith("@") && isChildOrSelf(path, w.path));
  return live.filter(reach).sort((a, b) => a.connSeq - b.connSeq || a.seq - b.seq);
}

describe("WatchTable.match", () => {
  it("finds exactly the watches on the path or (non-exact) its ancestors, in cx order", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const t = new WatchTable();
        let live: Watch[] = [];
        for (const o of ops) {
          if (o.k === "add") {
            if (t.find(o.conn, o.path, o.token)) continue;
            live.push(
              t.add({ connId: o.conn, connSeq: 10 - o.conn, path: o.path, token: o.token, prefixLen: 0 }),
            );
          } else if (o.k === "remove") {
            if (live.length === 0) continue;
            const w = live[o.i % live.length]!;
            t.remove(w);
            live = live.filter((x) => x !== w);
          } else if (o.k === "drop") {
            expect(t.removeConnection(o.conn)).toBe(live.filter((w) => w.connId === o.conn).length);
            live = live.filter((w) => w.connId !== o.conn);
          } else if (o.k === "match") {
            expect(t.match(o.path, o.exact)).toEqual(expected(live, o.path, o.exact));
          } else {
            const at = live.filter((w) => !w.path.startsWith("@"));
            if (at.length === 0) continue;
            const base = at[o.i % at.length]!.path;
            const path = base === "/" ? `/${o.rest}` : `${base}/${o.rest}`;
            expect(t.match(path, o.exact)).toEqual(expected(live, path, o.exact));
          }
          expect(t.size).toBe(live.length);
        }
        for (const w of live) expect(t.match(w.path, true)).toContain(w);
      }),
      { numRuns: 300 },
    );
  });
});
