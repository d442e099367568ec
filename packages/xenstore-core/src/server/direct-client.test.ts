// DirectClient's one-path requests run on their strings (executePathRequest) when a payload
// could carry them unchanged, and encoded otherwise. Both must be indistinguishable from the
// wire: the same random requests go to one server through the typed methods and to a twin
// server as raw payloads (`call`), from dom0 and from an unprivileged domain, inside and outside
// transactions; every reply and every watch event must be equal.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeString, encodeWrite } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import type { DirectClient, Result } from "./direct-client.ts";
import { XenStoreServer } from "./xenstore-server.ts";

// path-ish pieces, with the characters where strings and bytes part ways: NUL, chars above
// 0xff (a payload keeps their low byte: "\u0141" travels as "A"), latin1 above 0x7f
const piece = fc.constantFrom(
  "a",
  "b",
  "/",
  "//",
  "k1",
  "\0",
  "\u0141",
  "\u00e9",
  "@",
  "-",
  "local",
  "domain",
);
const str = fc.array(piece, { maxLength: 6 }).map((a) => a.join(""));
const path = fc.oneof(
  str,
  str.map((s) => `/local/domain/1/${s}`),
  str.map((s) => `/${s}`),
);

type PathOp =
  | { k: "read" | "mkdir" | "rm" | "directory" | "getPerms"; path: string }
  | { k: "write"; path: string; value: string };
type Op = PathOp | { k: "tx" } | { k: "commit" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("write" as const), path, value: str }) },
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constantFrom("read", "mkdir", "rm", "directory", "getPerms"), path }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom("tx" as const, "commit" as const) }) },
);

const bytes = (s: string): number[] => [...encodeString(s)];

/** A result, comparable: errno, or the reply as bytes (strings as their latin1 bytes). */
function norm(r: Result<unknown>): unknown {
  if (!r.ok) return r.errno;
  const v = r.value;
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map((x: string) => bytes(x));
  return v;
}

/** The same request as a raw payload. */
function raw(c: DirectClient, o: PathOp, tx: number): Result<unknown> {
  const type = {
    read: XsType.READ,
    write: XsType.WRITE,
    mkdir: XsType.MKDIR,
    rm: XsType.RM,
    directory: XsType.DIRECTORY,
    getPerms: XsType.GET_PERMS,
  } as const;
  const payload = o.k === "write" ? encodeWrite(o.path, o.value) : encodeString(o.path);
  const r = c.call(type[o.k], payload, tx);
  if (!r.ok || o.k === "read") return r;
  if (o.k === "directory" || o.k === "getPerms") {
    const names: string[] = [];
    let start = 0;
    for (let i = 0; i < r.value.length; i++) {
      if (r.value[i] !== 0) continue;
      names.push(String.fromCharCode(...r.value.subarray(start, i)));
      start = i + 1;
    }
    return { ok: true, value: names };
  }
  return { ok: true, value: undefined };
}

function typed(c: DirectClient, o: PathOp, tx: number): Result<unknown> {
  switch (o.k) {
    case "read":
      return c.read(o.path, tx);
    case "write":
      return c.write(o.path, o.value, tx);
    case "mkdir":
      return c.mkdir(o.path, tx);
    case "rm":
      return c.rm(o.path, tx);
    case "directory":
      return c.directory(o.path, tx);
    case "getPerms":
      return c.getPerms(o.path, tx);
  }
}

describe("DirectClient", () => {
  it("one-path requests on strings answer exactly as their payloads do", () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.array(op, { maxLength: 40 }), (domid, ops) => {
        const twins = [new XenStoreServer(), new XenStoreServer()].map((server) => {
          const events: string[] = [];
          const admin = server.direct(0, (p, t) => events.push(`${p}|${t}`));
          // domain 1's home, writable by it, and a watch over everything
          for (const r of [
            admin.mkdir("/local/domain/1"),
            admin.setPerms("/local/domain/1", ["b1"]),
            admin.watch("/", "all"),
          ])
            expect(r.ok).toBe(true);
          return { client: server.direct(domid), events };
        });
        const [a, b] = twins as [(typeof twins)[0], (typeof twins)[0]];
        let tx = [0, 0];
        for (const o of ops) {
          if (o.k === "tx") {
            if (tx[0] !== 0) continue;
            const ta = a.client.transactionStart();
            const tb = b.client.transactionStart();
            expect(norm(ta)).toEqual(norm(tb));
            if (ta.ok && tb.ok) tx = [ta.value, tb.value];
            continue;
          }
          if (o.k === "commit") {
            if (tx[0] === 0) continue;
            expect(norm(a.client.transactionEnd(tx[0]!, true))).toEqual(
              norm(b.client.transactionEnd(tx[1]!, true)),
            );
            tx = [0, 0];
            continue;
          }
          expect(norm(typed(a.client, o, tx[0]!)), JSON.stringify(o)).toEqual(norm(raw(b.client, o, tx[1]!)));
        }
        expect(a.events).toEqual(b.events);
      }),
      { numRuns: 300 },
    );
  });
});
