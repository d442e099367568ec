// Guest differential test against Debian's real cxenstored (../shared/refpeer, ring mode):
// random frame sequences from two unprivileged guests on real XenStore rings and two dom0
// socket connections must get identical replies and watch events from cxenstored and from
// our server (guests: `server.connect({ domid })`), set up identically: dom0 creates each
// guest's home as a toolstack does (`/local/domain/<d>` n0 r<d>, a guest-owned `data` and
// `control/shutdown`) and INTRODUCEs it. Quotas are lowered on both sides (cxenstored -E/-W/-t/
// -A/-S) so that guests run into them. Covered: permissions (EACCES vs ENOENT hiding inside
// and outside the guest's home), relative paths, SET_PERMS by guests (owner change EPERM, perm
// count quota), node/watch/transaction/node-size quotas, transactions, watch events filtered
// by read permission (relative and absolute watches, special watches, events from the other
// guest and from dom0), DIRECTORY_PART, GET_DOMAIN_PATH and the privileged-only requests,
// and dom0 RELEASEing guest B and INTRODUCEing it again on a fresh ring (stale ACL entries,
// XSA-419). Not generated: the reference bugs of the refpeer README (guest SET_PERMS of a special node,
// malformed single-path requests, SET_TARGET/RELEASE), and batches (cx merges queued events).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureRefpeerSetup,
  type Refpeer,
  refpeerError,
  startRefpeer,
} from "../../../../test/support/refpeer.ts";
import {
  formatGuestTranscript,
  type GuestRun,
  type GuestStep,
  RingHelper,
  type RunConn,
  runGuestsOnRefpeer,
  runGuestsOnServer,
} from "../../../../test/support/refpeer-ring.ts";
import { XsRequest } from "../wire/client.ts";
import { encodeStrings } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenStoreServer } from "./xenstore-server.ts";

/** Lowered quotas, the same on both sides. */
const QUOTAS = { nodes: 8, watches: 3, transactions: 2, permissions: 3, nodeSize: 256 };
const CX_ARGS = ["-E", "8", "-W", "3", "-t", "2", "-A", "3", "-S", "256"];

// Connections: 0, 1 = guests A and B (rings), 2, 3 = dom0 (sockets).
let runNo = 0;
/** Random runs (`XS_GUEST_DIFF_RUNS=5000` for a long campaign). */
const RUNS = Number(process.env.XS_GUEST_DIFF_RUNS ?? 250);

type Op =
  | { k: "write"; c: number; p: number; v: number; tx: number }
  | { k: "read" | "dir" | "rm" | "getp" | "mkdir"; c: number; p: number; tx: number }
  | { k: "setp"; c: number; p: number; perms: [number, number][]; tx: number }
  | { k: "watch" | "unwatch"; c: number; p: number; tok: number }
  | { k: "tstart"; c: number }
  | { k: "tend"; c: number; tx: number; commit: boolean }
  | { k: "dirpart"; c: number; p: number; off: number; tx: number }
  | { k: "misc"; c: number; which: number }
  /** dom0 RELEASEs guest B and INTRODUCEs it again: B comes back on a fresh ring (XSA-419) */
  | { k: "cycle" };

/** guests twice as often as dom0 */
const conn = fc.constantFrom(0, 0, 1, 1, 2, 3);
const pathIx = fc.integer({ min: 0, max: 39 });
/** transaction ids: cx numbers a connection's transactions 1, 2, … */
const txIx = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.constantFrom(1, 1, 2, 3) },
);
const simple = (k: "read" | "dir" | "rm" | "getp" | "mkdir") =>
  fc.record({ k: fc.constant(k), c: conn, p: pathIx, tx: txIx });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 24,
    arbitrary: fc.record({
      k: fc.constant("write" as const),
      c: conn,
      p: pathIx,
      v: fc.integer({ min: 0, max: 9 }),
      tx: txIx,
    }),
  },
  { weight: 10, arbitrary: simple("read") },
  { weight: 5, arbitrary: simple("dir") },
  { weight: 6, arbitrary: simple("rm") },
  { weight: 4, arbitrary: simple("getp") },
  { weight: 4, arbitrary: simple("mkdir") },
  {
    weight: 9,
    arbitrary: fc.record({
      k: fc.constant("setp" as const),
      c: conn,
      p: pathIx,
      perms: fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })), {
        minLength: 1,
        maxLength: 4,
      }),
      tx: txIx,
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant("watch" as const),
      c: conn,
      p: fc.integer({ min: 0, max: 44 }),
      tok: fc.integer({ min: 0, max: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("unwatch" as const),
      c: conn,
      p: fc.integer({ min: 0, max: 44 }),
      tok: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ k: fc.constant("tstart" as const), c: conn }) },
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant("tend" as const),
      c: conn,
      tx: fc.constantFrom(1, 1, 2, 3),
      commit: fc.constantFrom(true, true, true, false),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("dirpart" as const),
      c: conn,
      p: pathIx,
      off: fc.constantFrom(0, 0, 2, 50),
      tx: txIx,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("misc" as const), c: conn, which: fc.integer({ min: 0, max: 6 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ k: "cycle" as const }) },
);

/** Values: short ones, and lengths around the node-size quota (256 with header and perms). */
const VALUES = [
  "",
  "x",
  "guest",
  "1",
  "\0a",
  "v".repeat(190),
  "w".repeat(205),
  "y".repeat(215),
  "z".repeat(230),
  "ok",
];

interface Ctx {
  run: number;
  /** guests A, B */
  doms: [number, number];
}

/**
 * Path number `ix` as connection `c` names it. Guests mostly use their home (relative or
 * absolute), sometimes the other guest's home and dom0's areas; dom0 uses absolute paths.
 */
function pathFor(x: Ctx, c: number, ix: number, forWatch = false): string {
  const guest = c < 2;
  const self = guest ? x.doms[c]! : x.doms[ix % 2]!;
  const other = guest ? x.doms[1 - c]! : x.doms[1 - (ix % 2)]!;
  const home = `/local/domain/${self}`;
  const ohome = `/local/domain/${other}`;
  const rel = [
    "data",
    "data/a",
    "data/b",
    "data/a/b",
    "data/a/c",
    "data/b/a",
    "name",
    "control/shutdown",
    "control",
    "x",
  ];
  if (ix < 10) return guest ? rel[ix]! : `${home}/${rel[ix]!}`;
  if (ix < 18) return `${home}/${rel[ix - 10]!}`;
  if (ix < 26) return `${ohome}/${rel[ix - 18]!}`;
  const G = `/fzg${x.run}`;
  const rest = [
    home,
    ohome,
    G,
    `${G}/a`,
    `${G}/a/b`,
    `${G}/b`,
    "/local/domain/0",
    "/",
    "/tool",
    `${home}/`,
    "data//a",
    `${home}/data/bad name`,
    "/local/domain",
  ];
  if (ix < 39) return rest[ix - 26]!;
  if (forWatch)
    return ["@introduceDomain", "@releaseDomain", "/", "data", `${ohome}/data`, "name"][ix - 39] ?? "data";
  return guest ? "data/a" : `${home}/data/a`;
}

function toRun(x: Ctx, ops: Op[]): GuestRun {
  const [A, B] = x.doms;
  const conns: RunConn[] = [{ domid: A }, { domid: B }, { domid: 0 }, { domid: 0 }];
  let req = 1;
  const ids = (tx = 0) => ({ reqId: req++, txId: tx });
  // transaction ids as each connection saw them started (cx numbers them per connection from 1)
  const steps: GuestStep[] = [];
  const P = (c: number, ix: number, w = false) => pathFor(x, c, ix, w);
  // dom0 must not change what outlives the run on the shared reference daemon
  const SHARED = new Set(["/", "/tool", "/local/domain", "/local/domain/0"]);
  const PW = (c: number, ix: number) => {
    const p = P(c, ix);
    return domOf(c) === 0 && SHARED.has(p) ? `/fzg${x.run}/b` : p;
  };
  const domOf = (c: number) => conns[c]!.domid;
  for (const o of ops) {
    if (o.k === "cycle") {
      steps.push({ conn: 3, frames: [XsRequest.release(B, ids())], kills: 1 });
      steps.push({ conn: 3, frames: [XsRequest.introduce(B, 1044473, 1, ids())], revives: 1 });
      continue;
    }
    let f: Uint8Array;
    switch (o.k) {
      case "write":
        f = XsRequest.write(PW(o.c, o.p), VALUES[o.v]!, ids(o.tx));
        break;
      case "read":
      case "dir":
      case "rm":
      case "getp":
      case "mkdir": {
        const t = {
          read: XsType.READ,
          dir: XsType.DIRECTORY,
          rm: XsType.RM,
          getp: XsType.GET_PERMS,
          mkdir: XsType.MKDIR,
        }[o.k];
        const mutates = o.k === "rm" || o.k === "mkdir";
        f = XsRequest.raw(t, encodeStrings([mutates ? PW(o.c, o.p) : P(o.c, o.p)]), ids(o.tx));
        break;
      }
      case "setp": {
        const who = [0, A, B, domOf(o.c)];
        const perms = o.perms.map(([d, l]) => `${"nrwb"[(l + d) % 4]}${who[d]}`);
        f = XsRequest.setPerms(PW(o.c, o.p), perms, ids(o.tx));
        break;
      }
      case "watch":
        f = XsRequest.watch(P(o.c, o.p, true), `t${o.tok}`, ids());
        break;
      case "unwatch":
        f = XsRequest.unwatch(P(o.c, o.p, true), `t${o.tok}`, ids());
        break;
      case "tstart":
        f = XsRequest.transactionStart(ids());
        break;
      case "tend":
        f = XsRequest.transactionEnd(o.commit, ids(o.tx));
        break;
      case "dirpart":
        f = XsRequest.directoryPart(P(o.c, o.p), o.off, ids(o.tx));
        break;
      case "misc": {
        const other = domOf(o.c) === A ? B : A;
        const list = [
          () => XsRequest.getDomainPath(domOf(o.c), ids()),
          () => XsRequest.getDomainPath(other, ids()),
          () => XsRequest.isDomainIntroduced(other, ids()),
          () => XsRequest.control(["print"], ids()),
          () => XsRequest.introduce(other, 1044473, 1, ids()),
          () => XsRequest.resetWatches(ids()),
          () => XsRequest.resume(other, ids()),
        ];
        // dom0 would really INTRODUCE/RESUME/CONTROL: keep those to guests (they get EACCES)
        const w = domOf(o.c) === 0 && o.which >= 3 && o.which !== 5 ? o.which % 3 : o.which;
        f = list[w]!();
        break;
      }
    }
    steps.push({ conn: o.c, frames: [f] });
  }
  // homes as a toolstack creates them (xsconf.py home_msgs), then a dom0 area for the run
  const setup: Uint8Array[] = [];
  const s = (fr: (r: { reqId: number }) => Uint8Array) => setup.push(fr({ reqId: 0x50000 + setup.length }));
  for (const d of x.doms) {
    const h = `/local/domain/${d}`;
    s((r) => XsRequest.write(h, "", r));
    s((r) => XsRequest.setPerms(h, ["n0", `r${d}`], r));
    s((r) => XsRequest.write(`${h}/domid`, String(d), r));
    s((r) => XsRequest.write(`${h}/name`, `guest${d}`, r));
    s((r) => XsRequest.write(`${h}/control/shutdown`, "", r));
    s((r) => XsRequest.setPerms(`${h}/control/shutdown`, [`n${d}`], r));
    s((r) => XsRequest.write(`${h}/data`, "", r));
    s((r) => XsRequest.setPerms(`${h}/data`, [`n${d}`], r));
  }
  s((r) => XsRequest.write(`/fzg${x.run}/a`, "dom0", r));
  s((r) => XsRequest.setPerms(`/fzg${x.run}/a`, ["n0", `r${A}`], r));
  const teardown: Uint8Array[] = [];
  const t = (fr: (r: { reqId: number }) => Uint8Array) =>
    teardown.push(fr({ reqId: 0x52000 + teardown.length }));
  for (const d of [B, A]) t((r) => XsRequest.release(d, r));
  for (const d of x.doms) t((r) => XsRequest.rm(`/local/domain/${d}`, r));
  t((r) => XsRequest.rm(`/fzg${x.run}`, r));
  return { setup, guests: [A, B], conns, steps, teardown };
}

type Ids = (tx?: number) => { reqId: number; txId: number };

/** A run with the homes of `toRun` and scripted steps (conn 0 = A, 1 = B, 2 and 3 = dom0). */
function scripted(x: Ctx, build: (A: number, B: number, ids: Ids) => GuestStep[]): GuestRun {
  const r = toRun(x, []);
  let req = 1;
  r.steps = build(x.doms[0], x.doms[1], (tx = 0) => ({ reqId: req++, txId: tx }));
  return r;
}

const on = (conn: number, ...frames: Uint8Array[]): GuestStep => ({ conn, frames });
const W = XsRequest;

/** Quota boundaries, owner changes, events of RELEASE: each scenario runs once. */
const SCENARIOS: [string, (A: number, B: number, id: Ids) => GuestStep[]][] = [
  [
    "watch quota",
    (A, _B, id) => [
      ...[0, 1, 2, 3, 4, 5].map((i) => on(0, W.watch(`data/w${i}`, `t${i}`, id()))),
      on(1, W.watch(`/local/domain/${A}/data`, "b", id())),
      on(2, W.write(`/local/domain/${A}/data/w1`, "x", id())),
      on(0, W.unwatch("data/w0", "t0", id())),
      on(0, W.watch("data/w6", "t6", id())),
    ],
  ],
  [
    "transaction quota",
    (_A, _B, id) => [
      ...[0, 1, 2, 3].map(() => on(0, W.transactionStart(id()))),
      on(0, W.write("data/t", "1", id(1))),
      on(0, W.transactionEnd(true, id(1))),
      on(0, W.transactionStart(id())),
      on(0, W.transactionEnd(false, id(2))),
      on(0, W.transactionEnd(true, id(3))),
    ],
  ],
  [
    "node quota, directly and at commit",
    (A, _B, id) => [
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => on(0, W.write(`data/n${i}`, "v", id()))),
      on(0, W.rm("data/n7", id())),
      on(0, W.rm("data/n6", id())),
      on(0, W.write("data/p/q", "v", id())),
      on(0, W.write("data/p/q/r", "v", id())),
      on(0, W.rm("data/p", id())),
      on(0, W.transactionStart(id())),
      on(0, W.write("data/x1", "v", id(1))),
      on(0, W.write("data/x2", "v", id(1))),
      on(0, W.write("data/x3", "v", id(1))),
      on(0, W.transactionEnd(true, id(1))),
      on(0, W.transactionStart(id())),
      on(0, W.write("data/y1", "v", id(2))),
      on(0, W.transactionEnd(true, id(2))),
      on(0, W.transactionStart(id())),
      on(0, W.write("data/z1", "v", id(3))),
      on(0, W.write("data/z2", "v", id(3))),
      on(0, W.transactionEnd(true, id(3))),
      on(2, W.write(`/local/domain/${A}/data/dom0a`, "v", id())),
      on(2, W.write(`/local/domain/${A}/data/dom0b/c`, "v", id())),
      on(0, W.write("data/after", "v", id())),
      on(0, W.getPerms("data/dom0b/c", id())),
      on(0, W.rm("data/dom0b", id())),
      on(0, W.write("data/after", "v", id())),
    ],
  ],
  [
    "perms: count quota, owner change, other guest's access",
    (A, B, id) => [
      on(0, W.write("data/x", "v", id())),
      on(0, W.setPerms("data/x", [`n${A}`, `r${B}`, "w0"], id())),
      on(0, W.setPerms("data/x", [`n${A}`, `r${B}`, "w0", `b${B}`], id())),
      on(0, W.setPerms("data/x", ["n0"], id())),
      on(0, W.setPerms("data/x", [`n${B}`], id())),
      on(1, W.read(`/local/domain/${A}/data/x`, id())),
      on(1, W.write(`/local/domain/${A}/data/x`, "b", id())),
      on(1, W.read(`/local/domain/${A}/data/nope`, id())),
      on(1, W.read(`/local/domain/${A}/data`, id())),
      on(0, W.setPerms("data/x", [`n${A}`, `b${B}`], id())),
      on(1, W.write(`/local/domain/${A}/data/x`, "b", id())),
      on(1, W.write(`/local/domain/${A}/data/x/y`, "b", id())),
      on(1, W.getPerms(`/local/domain/${A}/data/x/y`, id())),
      on(0, W.rm("data/x", id())),
      on(2, W.setPerms(`/local/domain/${A}/data`, [`n${B}`, `r${A}`], id())),
      on(0, W.write("data/z", "v", id())),
      on(0, W.read("data", id())),
      on(0, W.setPerms("data", [`n${A}`], id())),
    ],
  ],
  [
    "node size quota",
    (_A, B, id) => [
      ...[180, 195, 200, 205, 210, 215, 220, 225, 232].map((n) =>
        on(0, W.write(`data/s${n}`, "s".repeat(n), id())),
      ),
      on(0, W.setPerms("data/s195", ["n0", `r${B}`], id())),
      on(0, W.setPerms("data/s200", ["n0", `r${B}`, `w${B}`], id())),
      on(0, W.write("data/s180/child-with-a-long-name-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "", id())),
      on(0, W.write("data/s180/c2", "", id())),
      on(0, W.mkdir("data/s180/c3", id())),
    ],
  ],
  [
    "RM in a transaction of a node created after the transaction copied its parent (cx: EIO)",
    (_A, B, id) => [
      on(1, W.transactionStart(id())),
      on(1, W.read("data/a/c", id(1))),
      on(2, W.write(`/local/domain/${B}/data/b/a`, "v", id())),
      on(1, W.rm(`/local/domain/${B}/data/b`, id(1))),
      on(1, W.directory("data", id(1))),
      on(1, W.read("data/b", id(1))),
      on(1, W.transactionEnd(true, id(1))),
      on(1, W.transactionStart(id())),
      on(1, W.write("data/c", "1", id(2))),
      on(2, W.write(`/local/domain/${B}/data/d/e`, "v", id())),
      on(1, W.rm("data/d", id(2))),
      on(1, W.transactionEnd(true, id(2))),
      on(2, W.directory(`/local/domain/${B}/data`, id())),
      on(2, W.directory(`/local/domain/${B}/data/b`, id())),
    ],
  ],
  [
    "RELEASE of a live guest: its watches, transactions and nodes",
    (A, B, id) => [
      on(1, W.write("data/x", "1", id())),
      on(1, W.write("data/y/z", "2", id())),
      on(1, W.setPerms("data/x", [`n${B}`, `r${A}`], id())),
      on(1, W.watch("data", "b", id())),
      on(1, W.transactionStart(id())),
      on(0, W.watch(`/local/domain/${B}/data/x`, "a", id())),
      on(0, W.watch("@releaseDomain", "rel", id())),
      on(2, W.watch(`/local/domain/${B}`, "d0", id())),
      on(2, W.watch("@releaseDomain", "d0rel", id())),
      { conn: 3, frames: [W.release(B, id())], kills: 1 },
      on(2, W.isDomainIntroduced(B, id())),
      on(2, W.directory(`/local/domain/${B}`, id())),
      on(0, W.read(`/local/domain/${B}/data/x`, id())),
      on(3, W.release(B, id())),
    ],
  ],
  [
    "a released domid introduced again: older ACL entries naming it are ignored (XSA-419)",
    (A, B, id) => [
      on(2, W.write(`/fzg-b${B}/old`, "o", id())),
      on(2, W.setPerms(`/fzg-b${B}/old`, ["n0", `r${B}`, `w${A}`], id())),
      on(2, W.write(`/fzg-b${B}/old2`, "o", id())),
      on(2, W.setPerms(`/fzg-b${B}/old2`, [`n0`, `b${B}`], id())),
      on(1, W.read(`/fzg-b${B}/old`, id())),
      on(0, W.write(`/fzg-b${B}/old`, "a", id())),
      { conn: 3, frames: [W.release(B, id())], kills: 1 },
      on(2, W.read(`/fzg-b${B}/old`, id())),
      { conn: 3, frames: [W.introduce(B, 1044473, 1, id())], revives: 1 },
      on(1, W.read(`/fzg-b${B}/old`, id())),
      on(1, W.write(`/fzg-b${B}/old2`, "b", id())),
      on(1, W.getPerms(`/fzg-b${B}/old`, id())),
      on(2, W.getPerms(`/fzg-b${B}/old`, id())),
      on(0, W.write(`/fzg-b${B}/old`, "a2", id())),
      on(1, W.read(`/fzg-b${B}/old`, id())),
      // written again after the new domain came: its entries count again
      on(2, W.write(`/fzg-b${B}/old`, "n", id())),
      on(1, W.read(`/fzg-b${B}/old`, id())),
      on(2, W.setPerms(`/fzg-b${B}/old2`, [`n0`, `b${B}`], id())),
      on(1, W.write(`/fzg-b${B}/old2`, "b", id())),
      on(1, W.directory(`/fzg-b${B}`, id())),
      on(2, W.rm(`/fzg-b${B}`, id())),
    ],
  ],
  [
    "a node written while its ACL's domid was free keeps the entry; untouched ones lose it (XSA-419)",
    (A, B, id) => [
      on(2, W.write(`/fzg-c${B}/a`, "1", id())),
      on(2, W.setPerms(`/fzg-c${B}/a`, ["n0", `r${B}`], id())),
      on(2, W.write(`/fzg-c${B}/b`, "1", id())),
      on(2, W.setPerms(`/fzg-c${B}/b`, ["n0", `r${B}`, `r${A}`], id())),
      on(2, W.watch(`/fzg-c${B}`, "w", id())),
      { conn: 3, frames: [W.release(B, id())], kills: 1 },
      on(2, W.write(`/fzg-c${B}/a`, "2", id())),
      on(0, W.read(`/fzg-c${B}/b`, id())),
      { conn: 3, frames: [W.introduce(B, 1044473, 1, id())], revives: 1 },
      on(1, W.watch(`/fzg-c${B}`, "g", id())),
      on(1, W.read(`/fzg-c${B}/a`, id())),
      on(1, W.read(`/fzg-c${B}/b`, id())),
      on(2, W.write(`/fzg-c${B}/b`, "3", id())),
      on(2, W.setPerms(`/fzg-c${B}/b`, ["n0", `r${B}`], id())),
      on(1, W.read(`/fzg-c${B}/b`, id())),
      on(2, W.rm(`/fzg-c${B}`, id())),
    ],
  ],
  [
    "released with a transaction and a watch, introduced at once: RELEASE's rewrite of the home counts (XSA-419)",
    (_A, B, id) => [
      on(2, W.write(`/fzg-p${B}/old`, "o", id())),
      on(2, W.setPerms(`/fzg-p${B}/old`, ["n0", `r${B}`], id())),
      on(1, W.transactionStart(id())),
      on(1, W.watch("data", "x", id())),
      { conn: 3, frames: [W.release(B, id())], kills: 1 },
      { conn: 3, frames: [W.introduce(B, 1044473, 1, id())], revives: 1 },
      on(1, W.read(`/fzg-p${B}/old`, id())),
      on(1, W.read(`/local/domain/${B}`, id())),
      on(1, W.read(`/local/domain/${B}/data/b`, id())),
      on(2, W.rm(`/fzg-p${B}`, id())),
    ],
  ],
  [
    "a write between RELEASE and INTRODUCE leaves the home older than the new domain (XSA-419)",
    (_A, B, id) => [
      { conn: 3, frames: [W.release(B, id())], kills: 1 },
      on(2, W.write(`/fzg-s${B}/x`, "1", id())),
      { conn: 3, frames: [W.introduce(B, 1044473, 1, id())], revives: 1 },
      on(1, W.read(`/local/domain/${B}`, id())),
      on(1, W.read(`/local/domain/${B}/data/b`, id())),
      on(1, W.write("data/new", "v", id())),
      on(2, W.setPerms(`/local/domain/${B}`, ["n0", `r${B}`], id())),
      on(1, W.read(`/local/domain/${B}`, id())),
      on(1, W.write("data/new", "v", id())),
      on(2, W.rm(`/fzg-s${B}`, id())),
    ],
  ],
];

const why = ensureRefpeerSetup();

describe.skipIf(why !== null)(
  `guest differential vs cxenstored 4.17 (ring mode)${why ? ` (skipped: ${why})` : ""}`,
  () => {
    let peer: Refpeer | null = null;
    let helper: RingHelper | null = null;
    let ringDir = "";
    beforeAll(async () => {
      ringDir = mkdtempSync(join(tmpdir(), "xsg-"));
      peer = await startRefpeer({ daemon: "cxenstored", ringDir, args: CX_ARGS });
      if (!peer) throw new Error(`refpeer did not start: ${refpeerError()}`);
      helper = new RingHelper();
    });
    afterAll(() => {
      helper?.stop();
      peer?.stop();
    });

    for (const [name, build] of SCENARIOS) {
      it(`scripted: ${name}`, async () => {
        const run = ++runNo;
        const x: Ctx = { run, doms: [100 + 2 * run, 101 + 2 * run] };
        const r = scripted(x, build);
        const ref = await runGuestsOnRefpeer(peer!.socketPath, ringDir, helper!, r);
        const ours = runGuestsOnServer(new XenStoreServer({ quotas: QUOTAS }), r);
        expect(formatGuestTranscript(ours, r.conns)).toEqual(formatGuestTranscript(ref, r.conns));
      });
    }

    it(
      "random guest + dom0 sequences: identical replies and watch events",
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40, size: "max" }), async (ops) => {
            const run = ++runNo;
            // fresh domids every run: no state (domain structs, quotas, XSA-419 generations) carries over
            const x: Ctx = { run, doms: [100 + 2 * run, 101 + 2 * run] };
            const r = toRun(x, ops);
            const ref = await runGuestsOnRefpeer(peer!.socketPath, ringDir, helper!, r);
            const ours = runGuestsOnServer(new XenStoreServer({ quotas: QUOTAS }), r);
            expect(formatGuestTranscript(ours, r.conns)).toEqual(formatGuestTranscript(ref, r.conns));
          }),
          { numRuns: RUNS, endOnFailure: true },
        );
      },
      60_000 + RUNS * 150,
    );
  },
);
