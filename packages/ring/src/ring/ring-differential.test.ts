// Differential test against the real io/ring.h: one C process (testing/c/ring-diff-harness.c,
// built from the installed libxen-dev headers) and our FrontRing/BackRing execute the same
// fast-check-generated operation sequences — including wrap near 2^32, multi-page rings and
// hostile writes to the header and slots — and must print identical results and indices.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { LineProcess, NativeBuildDir, probeToolchain } from "../testing/native-toolchain.ts";
import { BackRing } from "./back-ring.ts";
import { FrontRing } from "./front-ring.ts";
import { PageSequence } from "./page-sequence.ts";
import { BLKIF_RING_X86_32, BLKIF_RING_X86_64 } from "./protocols/blkif.ts";
import { NETIF_RX_RING, NETIF_TX_RING } from "./protocols/netif.ts";
import type { RingError } from "./ring-error.ts";
import type { RingProtocol } from "./ring-protocol.ts";
import { initSharedRing } from "./shared-ring.ts";

const PROTOCOLS = {
  netif_tx: NETIF_TX_RING,
  netif_rx: NETIF_RX_RING,
  blkif: BLKIF_RING_X86_64,
  blkif_x86_32: BLKIF_RING_X86_32,
} as const satisfies Record<string, RingProtocol>;
type ProtoName = keyof typeof PROTOCOLS;

type Op =
  | { readonly op: "fp" | "fc" | "bc" | "br"; readonly k: number }
  | {
      readonly op:
        | "fpush"
        | "fpushq"
        | "ffree"
        | "fcount"
        | "ffinal"
        | "bcount"
        | "bfinal"
        | "bpush"
        | "bpushq";
    }
  | { readonly op: "poke"; readonly field: number; readonly delta: number }
  | { readonly op: "nudge"; readonly field: number; readonly delta: number }
  | { readonly op: "scribble"; readonly at: number; readonly value: number };

interface Sequence {
  readonly proto: ProtoName;
  readonly order: number;
  readonly start: number;
  readonly ops: readonly Op[];
}

/** Poke values are start + delta (mod 2^32), so they land near the live indices. */
const pokeValue = (s: Sequence, delta: number) => (s.start + delta) >>> 0;

function toHarnessInput(s: Sequence): string {
  const lines = [`ring ${s.proto} ${s.order} ${s.start}`];
  for (const o of s.ops) {
    if (o.op === "poke") lines.push(`poke ${o.field} ${pokeValue(s, o.delta)}`);
    else if (o.op === "nudge") lines.push(`nudge ${o.field} ${o.delta}`);
    else if (o.op === "scribble") lines.push(`scribble ${o.at} ${o.value}`);
    else if ("k" in o) lines.push(`${o.op} ${o.k}`);
    else lines.push(o.op);
  }
  lines.push("end");
  return `${lines.join("\n")}\n`;
}

/** Runs a sequence on the TypeScript rings, printing exactly what the C harness prints. */
function runTs(s: Sequence): string[] {
  const proto = PROTOCOLS[s.proto];
  const nrPages = 1 << s.order;
  const mem = new GuestMemory(1);
  const seq = PageSequence.of((mem.allocateMany(nrPages) as Gfn[]).map((g) => mem.page(g)));
  initSharedRing(seq, s.start);
  const front = FrontRing.attach(seq, proto, s.start);
  const back = BackRing.attach(seq, proto, s.start);
  const reqId = proto.request.fields.id;
  const rspId = proto.response.fields.id;
  const wide = reqId?.type === "u64";
  const rspSnap = front.responseSnapshot();
  const reqSnap = back.requestSnapshot();
  const fifo: bigint[] = [];
  let nextId = 1n;
  const out: string[] = [];
  const verdict = (name: string, r: number | RingError, ok: (n: number) => string) =>
    typeof r === "number" ? ok(r) : `${name} err ${r.kind}`;

  for (const o of s.ops) {
    let line: string;
    switch (o.op) {
      case "fp": {
        let n = 0;
        for (; n < o.k; n++) {
          const slot = front.nextRequest();
          if (slot === undefined) break;
          if (wide) slot.setU64(reqId.offset, (nextId << 33n) | nextId);
          else slot.setU16(reqId?.offset ?? 0, Number(nextId & 0xffffn));
          nextId++;
        }
        line = `fp ${n}`;
        break;
      }
      case "fpush":
        line = `fpush ${front.pushRequestsAndCheckNotify() ? 1 : 0}`;
        break;
      case "fpushq":
        front.pushRequests();
        line = "fpushq";
        break;
      case "ffree":
        line = `ffree ${front.freeRequests} ${front.isFull ? 1 : 0}`;
        break;
      case "fcount":
        line = verdict("fcount", front.unconsumedResponses(), (n) => `fcount ok ${n}`);
        break;
      case "ffinal":
        line = verdict("ffinal", front.finalCheckForResponses(), (n) => `ffinal ok ${n}`);
        break;
      case "fc":
        line = verdict("fc", front.unconsumedResponses(), () => {
          const ids: string[] = [];
          for (let i = 0; i < o.k && front.takeResponse(rspSnap); i++) {
            ids.push(String(wide ? rspSnap.getU64(rspId?.offset ?? 0) : rspSnap.getU16(rspId?.offset ?? 0)));
          }
          return ["fc ok", ...ids].join(" ");
        });
        break;
      case "bcount":
        line = verdict("bcount", back.unconsumedRequests(), (n) => `bcount ok ${n}`);
        break;
      case "bfinal":
        line = verdict("bfinal", back.finalCheckForRequests(), (n) => `bfinal ok ${n}`);
        break;
      case "bc":
        line = verdict("bc", back.unconsumedRequests(), () => {
          const ids: string[] = [];
          for (let i = 0; i < o.k && back.takeRequest(reqSnap); i++) {
            const id = wide ? reqSnap.getU64(reqId.offset) : BigInt(reqSnap.getU16(reqId?.offset ?? 0));
            fifo.push(id);
            ids.push(String(id));
          }
          return ["bc ok", ...ids].join(" ");
        });
        break;
      case "br": {
        let n = 0;
        for (; n < o.k; n++) {
          const slot = back.nextResponse();
          if (slot === undefined) break;
          const id = fifo.shift() ?? 0n;
          if (wide) slot.setU64(rspId?.offset ?? 0, id);
          else slot.setU16(rspId?.offset ?? 0, Number(id & 0xffffn));
          const status = proto.response.fields.status;
          if (status !== undefined) slot.setU16(status.offset, 0);
        }
        line = `br ${n}`;
        break;
      }
      case "bpush":
        line = `bpush ${back.pushResponsesAndCheckNotify() ? 1 : 0}`;
        break;
      case "bpushq":
        back.pushResponses();
        line = "bpushq";
        break;
      case "poke":
        seq.setU32((o.field & 3) * 4, pokeValue(s, o.delta));
        line = "poke";
        break;
      case "nudge":
        seq.setU32((o.field & 3) * 4, seq.getU32((o.field & 3) * 4) + o.delta);
        line = "nudge";
        break;
      case "scribble":
        seq.setU8(o.at % seq.byteLength, o.value);
        line = "scribble";
        break;
    }
    const h = front.header;
    out.push(
      `${line} | ${h.reqProd} ${h.reqEvent} ${h.rspProd} ${h.rspEvent} ${front.reqProdPvt} ${front.rspCons} ${back.rspProdPvt} ${back.reqCons}`,
    );
  }
  return out;
}

const count = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 12 }) },
  fc.integer({ min: 0, max: 300 }),
);
const honestOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom("fp", "fc", "bc", "br" as const), k: count }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom(
        "fpush",
        "fpushq",
        "ffree",
        "fcount",
        "ffinal",
        "bcount",
        "bfinal",
        "bpush",
        "bpushq" as const,
      ),
    }),
  },
);
const hostileOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("poke" as const),
    field: fc.integer({ min: 0, max: 3 }),
    delta: fc.oneof(fc.integer({ min: -600, max: 600 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 })),
  }),
  fc.record({
    op: fc.constant("nudge" as const),
    field: fc.integer({ min: 0, max: 3 }),
    delta: fc.oneof(fc.integer({ min: -6, max: 6 }), fc.integer({ min: -300, max: 300 })),
  }),
  fc.record({
    op: fc.constant("scribble" as const),
    at: fc.nat({ max: 4 * 4096 - 1 }),
    value: fc.nat({ max: 255 }),
  }),
);
const startIndex = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 2 ** 32 - 700, max: 2 ** 32 - 1 }),
  fc.nat({ max: 2 ** 32 - 1 }),
);
const sequence = (hostileWeight: number): fc.Arbitrary<Sequence> =>
  fc.record({
    proto: fc.constantFrom(...(Object.keys(PROTOCOLS) as ProtoName[])),
    order: fc.integer({ min: 0, max: 2 }),
    start: startIndex,
    ops: fc.array(
      hostileWeight === 0
        ? honestOp
        : fc.oneof({ weight: 10, arbitrary: honestOp }, { weight: hostileWeight, arbitrary: hostileOp }),
      { minLength: 5, maxLength: 80, size: "max" },
    ),
  });

const tc = probeToolchain();
const title = tc.ok ? "io/ring.h differential" : `io/ring.h differential (skipped: ${tc.reason})`;

describe.skipIf(!tc.ok)(title, () => {
  let dir: NativeBuildDir;
  let harness: LineProcess;

  beforeAll(() => {
    dir = new NativeBuildDir();
    harness = new LineProcess(dir.compile("ring-diff-harness", { file: "ring-diff-harness.c" }));
  });
  afterAll(() => {
    harness?.close();
    dir?.dispose();
  });

  const agree = async (s: Sequence) => {
    const c = await harness.request(toHarnessInput(s));
    expect(runTs(s)).toEqual(c);
  };

  it("agrees with ring.h on the worked example (wrap at 2^32, notify, final checks)", async () => {
    await agree({
      proto: "blkif",
      order: 0,
      start: 2 ** 32 - 6,
      ops: [
        { op: "fp", k: 40 },
        { op: "fpush" },
        { op: "bc", k: 5 },
        { op: "br", k: 2 },
        { op: "bpush" },
        { op: "fc", k: 9 },
        { op: "ffinal" },
        { op: "bfinal" },
        { op: "ffree" },
      ],
    });
  });

  it("agrees with ring.h step for step on honest random sequences", async () => {
    await fc.assert(fc.asyncProperty(sequence(0), agree), { numRuns: 250 });
  });

  it("agrees with ring.h (and rejects the same indices) when a peer scribbles on the page", async () => {
    await fc.assert(fc.asyncProperty(sequence(3), agree), { numRuns: 250 });
  });
});
