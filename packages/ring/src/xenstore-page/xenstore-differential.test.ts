// Differential test of the XenStore byte rings against a C harness built on the installed
// xs_wire.h (struct xenstore_domain_interface, XENSTORE_RING_SIZE, MASK_XENSTORE_IDX): random
// writes/reads from both ends, initial indices anywhere (also near 2^32) and hostile index writes.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { LineProcess, NativeBuildDir, probeToolchain } from "../testing/native-toolchain.ts";
import { XenstoreGuestEnd, type XenstoreRingIndexError, XenstoreServerEnd } from "./xenstore-byte-ring.ts";
import { XenstoreInterface } from "./xenstore-interface.ts";

type Op =
  | { readonly op: "gw" | "gr" | "sw" | "sr"; readonly n: number }
  | { readonly op: "gpend" | "spend" }
  | { readonly op: "poke"; readonly field: number; readonly value: number }
  | { readonly op: "nudge"; readonly field: number; readonly delta: number };

interface Sequence {
  readonly req: number;
  readonly rsp: number;
  readonly ops: readonly Op[];
}

function toHarnessInput(s: Sequence): string {
  const body = s.ops.map((o) =>
    o.op === "poke"
      ? `poke ${o.field} ${o.value}`
      : o.op === "nudge"
        ? `nudge ${o.field} ${o.delta}`
        : "n" in o
          ? `${o.op} ${o.n}`
          : o.op,
  );
  return `${[`xs ${s.req} ${s.rsp}`, ...body, "end"].join("\n")}\n`;
}

function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

function runTs(s: Sequence): string[] {
  const mem = new GuestMemory(1);
  const page = mem.page(mem.allocate() as Gfn);
  const intf = new XenstoreInterface(page);
  intf.reqCons = intf.reqProd = s.req;
  intf.rspCons = intf.rspProd = s.rsp;
  const guest = new XenstoreGuestEnd(page);
  const server = new XenstoreServerEnd(page);
  const stream = { g: 0, s: 0 };
  const out: string[] = [];
  const isErr = (r: number | XenstoreRingIndexError): r is XenstoreRingIndexError => typeof r !== "number";
  for (const o of s.ops) {
    let line: string;
    switch (o.op) {
      case "gw":
      case "sw": {
        const g = o.op === "gw";
        const start = g ? stream.g : stream.s;
        const data = Uint8Array.from(
          { length: o.n },
          (_, i) => ((start + i) * (g ? 7 : 13) + (g ? 3 : 5)) & 0xff,
        );
        const r = g ? guest.write(data) : server.write(data);
        if (isErr(r)) line = `${o.op} err`;
        else {
          if (g) stream.g += r;
          else stream.s += r;
          line = `${o.op} ${r}`;
        }
        break;
      }
      case "gr":
      case "sr": {
        const buf = new Uint8Array(o.n);
        const r = o.op === "gr" ? guest.read(buf) : server.read(buf);
        line = isErr(r) ? `${o.op} err` : `${o.op} ${r} ${fnv1a(buf.subarray(0, r))}`;
        break;
      }
      case "gpend":
      case "spend": {
        const r = o.op === "gpend" ? guest.pendingResponseBytes() : server.pendingRequestBytes();
        line = isErr(r) ? `${o.op} err` : `${o.op} ${r}`;
        break;
      }
      case "poke":
      case "nudge": {
        const fields = [intf.reqCons, intf.reqProd, intf.rspCons, intf.rspProd];
        const v = o.op === "poke" ? o.value >>> 0 : ((fields[o.field] as number) + o.delta) >>> 0;
        if (o.field === 0) intf.reqCons = v;
        else if (o.field === 1) intf.reqProd = v;
        else if (o.field === 2) intf.rspCons = v;
        else intf.rspProd = v;
        line = o.op;
        break;
      }
    }
    out.push(`${line} | ${intf.reqCons} ${intf.reqProd} ${intf.rspCons} ${intf.rspProd}`);
  }
  return out;
}

const size = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 4096 }));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom("gw", "gr", "sw", "sr" as const), n: size }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("gpend", "spend" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("poke" as const),
      field: fc.integer({ min: 0, max: 3 }),
      value: fc.nat({ max: 2 ** 32 - 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("nudge" as const),
      field: fc.integer({ min: 0, max: 3 }),
      delta: fc.oneof(
        fc.integer({ min: -5, max: 5 }),
        fc.integer({ min: 1020, max: 1030 }),
        fc.integer({ min: -1030, max: -1020 }),
      ),
    }),
  },
);
const index = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 2 ** 32 - 3000, max: 2 ** 32 - 1 }),
  fc.nat({ max: 2 ** 32 - 1 }),
);
const sequence = fc.record({
  req: index,
  rsp: index,
  ops: fc.array(op, { minLength: 3, maxLength: 60, size: "max" }),
});

const tc = probeToolchain();
const title = tc.ok ? "xs_wire.h ring differential" : `xs_wire.h ring differential (skipped: ${tc.reason})`;

describe.skipIf(!tc.ok)(title, () => {
  let dir: NativeBuildDir;
  let harness: LineProcess;
  beforeAll(() => {
    dir = new NativeBuildDir();
    harness = new LineProcess(dir.compile("xs-ring-harness", { file: "xs-ring-harness.c" }));
  });
  afterAll(() => {
    harness?.close();
    dir?.dispose();
  });

  const agree = async (s: Sequence) => {
    expect(runTs(s)).toEqual(await harness.request(toHarnessInput(s)));
  };

  it("a 4096-byte payload crosses the 1024-byte ring in pieces, wrapping at 2^32", async () => {
    const ops: Op[] = [];
    for (let i = 0; i < 6; i++) ops.push({ op: "gw", n: 4096 }, { op: "sr", n: 700 }, { op: "sr", n: 4096 });
    await agree({ req: 2 ** 32 - 100, rsp: 7, ops });
  });

  it("agrees with the C byte ring on random traffic and hostile indices", async () => {
    await fc.assert(fc.asyncProperty(sequence, agree), { numRuns: 300 });
  });
});
