// Differential test against Debian's real cxenstored (../shared/refpeer): random dom0 frame
// sequences on several connections must produce identical replies and watch events.
// Inputs that crash or confuse cxenstored 4.17 (refpeer README "Reference bugs", and the
// stale-errno malformed single-path requests) are not generated; see the package README.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureRefpeerSetup,
  type Refpeer,
  refpeerError,
  startRefpeer,
} from "../../../../test/support/refpeer.ts";
import {
  type DiffStep,
  formatTranscript,
  runOnServer,
  runOnSocket,
} from "../../../../test/support/refpeer-diff.ts";
import { XsRequest } from "../wire/client.ts";
import { encodeStrings, encodeWrite } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenStoreServer } from "./xenstore-server.ts";

const NCONNS = 3;
let runNo = 0;

type Op =
  | {
      k: "simple";
      c: number;
      op: "write" | "read" | "dir" | "rm" | "getp" | "mkdir";
      p: number;
      v: string;
      tx: number;
    }
  | { k: "setp"; c: number; p: number; perms: string[]; tx: number }
  | { k: "watch" | "unwatch"; c: number; p: number; tok: string }
  | { k: "tstart"; c: number; tx: number }
  | { k: "tend"; c: number; tx: number; arg: string }
  | { k: "dirpart"; c: number; p: number; off: number; tx: number }
  | { k: "malformed"; c: number; which: number; p: number }
  | { k: "resetw"; c: number }
  | { k: "domain"; c: number; op: "gdp" | "isintro"; d: string }
  | { k: "batch"; c: number; ops: { op: "write" | "read" | "rm" | "mkdir"; p: number; v: string }[] };

const conn = fc.integer({ min: 0, max: NCONNS - 1 });
const pathIx = fc.integer({ min: 0, max: 99 });
const txArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 1, arbitrary: fc.constant(77) },
);
const value = fc
  .array(fc.constantFrom("x", "y", "z", "0", "1", "\0"), { maxLength: 8 })
  .map((a) => a.join(""));
const token = fc.constantFrom("w0", "w1", "w2");
const permStr = fc
  .tuple(fc.constantFrom("n", "r", "w", "b"), fc.constantFrom(0, 0, 1, 2, 3, 4))
  .map(([l, d]) => `${l}${d}`);
const perms = fc
  .tuple(
    permStr,
    fc.array(permStr, { maxLength: 3 }),
    fc.option(fc.constantFrom("z1", "n", "", "R1", "n1x"), { freq: 10 }),
  )
  .map(([a, rest, bad]) => {
    const ps = [a, ...rest];
    if (bad !== null) ps[ps.length - 1] = bad;
    return ps;
  });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 50,
    arbitrary: fc.record({
      k: fc.constant("simple" as const),
      c: conn,
      op: fc.constantFrom("write", "write", "read", "read", "dir", "rm", "getp", "mkdir"),
      p: pathIx,
      v: value,
      tx: txArb,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant("setp" as const), c: conn, p: pathIx, perms, tx: txArb }),
  },
  { weight: 8, arbitrary: fc.record({ k: fc.constant("watch" as const), c: conn, p: pathIx, tok: token }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("unwatch" as const), c: conn, p: pathIx, tok: token }) },
  {
    weight: 7,
    arbitrary: fc.record({ k: fc.constant("tstart" as const), c: conn, tx: fc.constantFrom(0, 0, 0, 0, 1) }),
  },
  {
    weight: 7,
    arbitrary: fc.record({
      k: fc.constant("tend" as const),
      c: conn,
      tx: fc.constantFrom(0, 1, 1, 2, 2, 3, 77),
      arg: fc.constantFrom("T", "T", "F", "X"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("dirpart" as const),
      c: conn,
      p: pathIx,
      off: fc.constantFrom(0, 0, 1, 2, 100),
      tx: txArb,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("malformed" as const),
      c: conn,
      which: fc.integer({ min: 0, max: 9 }),
      p: pathIx,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("resetw" as const), c: conn }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("domain" as const),
      c: conn,
      op: fc.constantFrom("gdp", "isintro"),
      d: fc.constantFrom("0", "1", "7", "abc"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("batch" as const),
      c: conn,
      ops: fc.array(fc.record({ op: fc.constantFrom("write", "read", "rm", "mkdir"), p: pathIx, v: value }), {
        minLength: 2,
        maxLength: 4,
      }),
    }),
  },
);

/** Maps an index to a path: mostly valid paths below the run's prefix, some invalid ones. */
function pathFor(run: number, ix: number, forWatch = false): string {
  const FZ = `/fz${run}`;
  const FZR = `fzr${run}`;
  const names = ["a", "b", "c"];
  if (ix < 80) {
    const depth = 1 + (ix % 3);
    const comps: string[] = [];
    let x = ix;
    for (let i = 0; i < depth; i++) {
      comps.push(names[x % 3]!);
      x = Math.floor(x / 3);
    }
    return ix % 7 === 0 ? `${FZR}/${comps.join("/")}` : `${FZ}/${comps.join("/")}`;
  }
  if (ix < 86) return FZ;
  const bad = [
    `${FZ}//a`,
    `${FZ}/a/`,
    "",
    `${FZ}/a b`,
    `${FZ}/*`,
    `${FZ}/a.b`,
    `${FZR}/`,
    `/${"x".repeat(2100)}`,
    `${FZ}/\xe9`,
    `${FZ}/${"y".repeat(2040)}`,
  ];
  if (ix < 96) return bad[ix - 86]!;
  if (forWatch) return ["/", "@introduceDomain", "@releaseDomain", FZR][ix - 96]!;
  return FZ;
}

/** Paths of a batch must be unrelated (cx merges identical queued events, timing-dependent). */
function related(a: string, b: string): boolean {
  const abs = (p: string) => (p.startsWith("/") ? p : `/local/domain/0/${p}`);
  const x = abs(a);
  const y = abs(b);
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
}

function toSteps(run: number, ops: Op[]): DiffStep[] {
  let req = 1;
  const ids = (tx = 0) => ({ reqId: req++, txId: tx });
  const P = (ix: number, w = false) => pathFor(run, ix, w);
  const simple = (op: string, p: string, v: string, tx: number): Uint8Array => {
    if (op === "write") return XsRequest.raw(XsType.WRITE, encodeWrite(p, v), ids(tx));
    const t = {
      read: XsType.READ,
      dir: XsType.DIRECTORY,
      rm: XsType.RM,
      getp: XsType.GET_PERMS,
      mkdir: XsType.MKDIR,
    }[op]!;
    return XsRequest.raw(t, encodeStrings([p]), ids(tx));
  };
  const steps: DiffStep[] = [];
  for (const o of ops) {
    switch (o.k) {
      case "simple":
        steps.push({ conn: o.c, frames: [simple(o.op, P(o.p), o.v, o.tx)] });
        break;
      case "setp":
        steps.push({ conn: o.c, frames: [XsRequest.setPerms(P(o.p), o.perms, ids(o.tx))] });
        break;
      case "watch":
        steps.push({ conn: o.c, frames: [XsRequest.watch(P(o.p, true), o.tok, ids())] });
        break;
      case "unwatch":
        steps.push({ conn: o.c, frames: [XsRequest.unwatch(P(o.p, true), o.tok, ids())] });
        break;
      case "tstart":
        steps.push({ conn: o.c, frames: [XsRequest.transactionStart(ids(o.tx))] });
        break;
      case "tend":
        steps.push({
          conn: o.c,
          frames: [XsRequest.raw(XsType.TRANSACTION_END, encodeStrings([o.arg]), ids(o.tx))],
        });
        break;
      case "dirpart":
        steps.push({ conn: o.c, frames: [XsRequest.directoryPart(P(o.p), o.off, ids(o.tx))] });
        break;
      case "malformed": {
        const p = P(o.p % 80);
        const b = (s: string) => new Uint8Array([...s].map((ch) => ch.charCodeAt(0)));
        const list: [number, Uint8Array][] = [
          [999, encodeStrings([p])],
          [0xffff, encodeStrings([p])],
          [XsType.ERROR, encodeStrings(["EINVAL"])],
          [XsType.WATCH_EVENT, encodeStrings([p, "w0"])],
          [XsType.WRITE, b(p)],
          [XsType.TRANSACTION_END, encodeStrings(["X"])],
          [XsType.SET_PERMS, encodeStrings([p])],
          [XsType.WATCH, encodeStrings([p])],
          [XsType.DIRECTORY_PART, encodeStrings([p])],
          [XsType.TRANSACTION_START, new Uint8Array(0)],
        ];
        const [t, pl] = list[o.which]!;
        steps.push({ conn: o.c, frames: [XsRequest.raw(t, pl, ids())] });
        break;
      }
      case "resetw":
        steps.push({ conn: o.c, frames: [XsRequest.resetWatches(ids())] });
        break;
      case "domain": {
        const t = o.op === "gdp" ? XsType.GET_DOMAIN_PATH : XsType.IS_DOMAIN_INTRODUCED;
        steps.push({ conn: o.c, frames: [XsRequest.raw(t, encodeStrings([o.d]), ids())] });
        break;
      }
      case "batch": {
        const seen: string[] = [];
        const frames: Uint8Array[] = [];
        for (const b of o.ops) {
          const p = P(b.p % 80);
          if (seen.some((q) => related(p, q))) continue;
          seen.push(p);
          frames.push(simple(b.op, p, b.v, 0));
        }
        steps.push({ conn: o.c, frames });
        break;
      }
    }
  }
  return steps;
}

const why = ensureRefpeerSetup();

describe.skipIf(why !== null)(`differential vs cxenstored 4.17${why ? ` (skipped: ${why})` : ""}`, () => {
  let peer: Refpeer | null = null;
  beforeAll(async () => {
    peer = await startRefpeer({ daemon: "cxenstored" });
    if (!peer) throw new Error(`refpeer did not start: ${refpeerError()}`);
  });
  afterAll(() => peer?.stop());

  it("random dom0 frame sequences on several connections: identical replies and events", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        const run = ++runNo;
        const steps = toSteps(run, ops);
        const ref = await runOnSocket(peer!.socketPath, NCONNS, steps);
        const ours = runOnServer(new XenStoreServer(), NCONNS, steps);
        expect(formatTranscript(ours)).toEqual(formatTranscript(ref));
      }),
      { numRuns: Number(process.env.XS_DIFF_RUNS ?? 120), endOnFailure: true },
    );
  });
});
