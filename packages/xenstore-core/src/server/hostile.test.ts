// Hostile input: random frames and byte streams from a guest never throw out of the server
// and never change nodes the guest may not write (another domain's home, dom0's nodes).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../wire/frame.ts";
import { encodeStrings } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenStoreServer } from "./xenstore-server.ts";

function setup() {
  const traceErrors: string[] = [];
  const server = new XenStoreServer({
    trace: (e) => {
      if (e.kind === "internal-error") traceErrors.push(e.message);
    },
  });
  const c0 = server.direct(0);
  for (const d of [1, 2]) {
    server.introduceDomain(d, 0, 1);
    c0.write(`/local/domain/${d}/data/x`, "v");
    c0.setPerms(`/local/domain/${d}`, ["n0", `r${d}`]);
    c0.setPerms(`/local/domain/${d}/data`, [`n${d}`]);
    c0.setPerms(`/local/domain/${d}/data/x`, [`n${d}`]);
  }
  c0.write("/tool/secret", "s");
  return { server, traceErrors };
}

/** Everything outside /local/domain/1/data (what dom1 may change). */
function foreign(server: XenStoreServer): string {
  const out: string[] = [];
  for (const [p, v] of server.store.dump()) {
    if (p === "/local/domain/1/data" || p.startsWith("/local/domain/1/data/")) continue;
    out.push(`${p}=${v.value}|${v.perms.join(",")}`);
  }
  return out.sort().join("\n");
}

const types = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(0xffff, 999, 0x7fffffff));
const pathish = fc.oneof(
  fc.constantFrom(
    "data/x",
    "data/y/z",
    "/local/domain/2/data/x",
    "/local/domain/2",
    "/tool/secret",
    "/",
    "@introduceDomain",
    "../x",
    "",
    "data//q",
  ),
  fc.string({ maxLength: 12 }),
);
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .array(fc.oneof(pathish, fc.constantFrom("n1", "b1", "r0", "w2", "T", "F", "1", "0")), { maxLength: 4 })
    .map((a) => encodeStrings(a)),
);
const frame = fc.record({
  type: types,
  reqId: fc.nat(),
  txId: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.nat()),
  payload,
});

describe("hostile input", () => {
  it("random frames from a guest: no throw, no change outside its own writable area", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
        (frames, cuts) => {
          const { server, traceErrors } = setup();
          const before = foreign(server);
          const conn = server.connect({ domid: 1 });
          const bytes = frames.flatMap((f) => [...encodeFrame(f)]);
          const all = new Uint8Array(bytes);
          let i = 0;
          let k = 0;
          while (i < all.length) {
            const n = cuts[k++ % cuts.length]!;
            expect(() => conn.deliver(all.subarray(i, i + n))).not.toThrow();
            if (k % 3 === 0) conn.takeOutput(100);
            i += n;
          }
          conn.takeOutput();
          expect(traceErrors).toEqual([]);
          expect(foreign(server)).toBe(before);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("random byte streams: no throw; an oversized header closes the connection with a typed error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const { server, traceErrors } = setup();
        const conn = server.connect({ domid: 1 });
        expect(() => conn.deliver(bytes)).not.toThrow();
        expect(() => conn.takeOutput()).not.toThrow();
        expect(traceErrors).toEqual([]);
        if (conn.closed) expect(conn.fatalError?.kind).toBe("oversized");
      }),
      { numRuns: 300 },
    );
  });

  it("a frame with len > 4096 is fatal: no reply, connection closed, watches dropped", () => {
    const { server } = setup();
    const conn = server.connect({ domid: 1 });
    conn.deliver(
      encodeFrame({ type: XsType.WATCH, reqId: 1, txId: 0, payload: encodeStrings(["data", "t"]) }),
    );
    expect(server.store.watchCount(1)).toBe(1);
    conn.takeOutput();
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(12, 4097, true);
    conn.deliver(h);
    expect(conn.closed).toBe(true);
    expect(conn.fatalError?.kind).toBe("oversized");
    expect(conn.outputBytes).toBe(0);
    expect(server.store.watchCount(1)).toBe(0);
  });
});
