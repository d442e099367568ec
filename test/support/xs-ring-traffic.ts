// Random guest XenStore traffic for the ring-transport tests: request generators, a hand-rolled
// guest that writes request bytes into its ring page in random chunk sizes and reads responses
// only now and then, and frame decoding for comparisons.
import { Prng, SeededPolicy } from "@xensim/evtchn";
import { Platform } from "@xensim/frontend-sim/host";
import { XenstoreGuestEnd, XenstoreInterface } from "@xensim/ring";
import { FrameParser, XenStoreServer, type XsFrame, XsFrameError, XsRequest } from "@xensim/xenstore-core";
import fc from "fast-check";
import { introduceGuest } from "./boot-guest.ts";

export const DOMID = 5;

// ---- random guest requests ----------------------------------------------------------------
const node = fc.constantFrom(
  "data/a",
  "data/a/b",
  "data/c",
  "/local/domain/5/data/d",
  "secret",
  "/tool",
  "data//x",
  "",
);
const value = fc.string({ maxLength: 40 });
const bigValue = fc.integer({ min: 1000, max: 2040 }).map((n) => "v".repeat(n));
export type Req = (reqId: number) => Uint8Array;
export const reqArb: fc.Arbitrary<Req> = fc.oneof(
  fc.tuple(node, fc.oneof(value, bigValue)).map(
    ([p, v]) =>
      (id: number) =>
        XsRequest.write(p, v, { reqId: id }),
  ),
  node.map((p) => (id: number) => XsRequest.read(p, { reqId: id })),
  node.map((p) => (id: number) => XsRequest.mkdir(p, { reqId: id })),
  node.map((p) => (id: number) => XsRequest.rm(p, { reqId: id })),
  node.map((p) => (id: number) => XsRequest.directory(p, { reqId: id })),
  node.map((p) => (id: number) => XsRequest.getPerms(p, { reqId: id })),
  fc.tuple(node, fc.constantFrom("t1", "t2")).map(
    ([p, t]) =>
      (id: number) =>
        XsRequest.watch(p, t, { reqId: id }),
  ),
  fc.tuple(node, fc.constantFrom("t1", "t2")).map(
    ([p, t]) =>
      (id: number) =>
        XsRequest.unwatch(p, t, { reqId: id }),
  ),
  fc.constant((id: number) => XsRequest.transactionStart({ reqId: id })),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()).map(
    ([tx, c]) =>
      (id: number) =>
        XsRequest.transactionEnd(c, { reqId: id, txId: tx }),
  ),
  fc.tuple(node, fc.integer({ min: 1, max: 3 })).map(
    ([p, tx]) =>
      (id: number) =>
        XsRequest.write(p, "in-tx", { reqId: id, txId: tx }),
  ),
);

export function parseAll(bytes: Uint8Array): string[] {
  const p = new FrameParser();
  p.push(bytes);
  const out: string[] = [];
  for (let f = p.next(); f !== null; f = p.next()) {
    if (f instanceof XsFrameError) throw f;
    out.push(frameKey(f));
  }
  return out;
}
function frameKey(f: XsFrame): string {
  return `${f.type}/${f.reqId}/${f.txId}/${Buffer.from(f.payload).toString("latin1")}`;
}

/** The reference: the same frames fed to a plain connection of a server set up the same way. */
export function referenceReplies(frames: Uint8Array[]): string[] {
  const server = new XenStoreServer();
  const dom0 = server.connect({ domid: 0 });
  const home = `/local/domain/${DOMID}`;
  for (const f of [
    XsRequest.write(home, ""),
    XsRequest.setPerms(home, ["n0", `r${DOMID}`]),
    XsRequest.mkdir(`${home}/data`),
    XsRequest.setPerms(`${home}/data`, [`n${DOMID}`]),
    XsRequest.introduce(DOMID, 1, 1),
  ])
    dom0.deliver(f);
  const conn = server.connect({ domid: DOMID });
  const out: Uint8Array[] = [];
  for (const f of frames) {
    conn.deliver(f);
    out.push(conn.takeOutput());
  }
  out.push(conn.takeOutput());
  return parseAll(Buffer.concat(out));
}

/**
 * A hand-rolled guest that writes request bytes in random chunk sizes and reads responses only
 * now and then, leaving the response ring full for stretches.
 */
export async function viaRing(
  frames: Uint8Array[],
  seed: number,
  startIndex: number | null,
  introduce: (platform: Platform, domid: number) => ReturnType<typeof introduceGuest> = introduceGuest,
): Promise<string[]> {
  const platform = new Platform({ policy: new SeededPolicy(seed), recordTrace: false });
  const start = await introduce(platform, DOMID);
  const page = platform.hypervisor.domain(DOMID)!.memory.page(start.storeGfn);
  if (startIndex !== null) {
    const iface = new XenstoreInterface(page);
    iface.reqCons = iface.reqProd = iface.rspCons = iface.rspProd = startIndex;
  }
  const end = new XenstoreGuestEnd(page);
  const events = platform.evtchn.domain(DOMID);
  const prng = new Prng(seed ^ 0x5a5a);
  const out = Buffer.concat(frames);
  let sent = 0;
  const received: Uint8Array[] = [];
  const buf = new Uint8Array(1024);
  const kick = (): void => {
    events.send(start.storePort);
  };
  const writeSome = (): void => {
    if (sent >= out.length) return;
    const n = end.write(out, sent, Math.min(out.length - sent, 1 + prng.int(300)));
    if (typeof n !== "number") throw new Error("guest saw bad req indexes");
    sent += n;
    if (n > 0) kick();
  };
  const readAll = (): void => {
    for (;;) {
      const n = end.read(buf);
      if (typeof n !== "number") throw new Error("guest saw bad rsp indexes");
      if (n === 0) break;
      received.push(buf.slice(0, n));
    }
    kick();
  };
  events.bindHandler(start.storePort, () => {
    // Sometimes leave responses unread for a while (the server must wait for space).
    if (prng.chance(0.4)) platform.sched.post(`dom${DOMID}`, "late-read", readAll, 5_000 + prng.int(50_000));
    else readAll();
    writeSome();
  });
  platform.sched.post(`dom${DOMID}`, "start", writeSome);
  await platform.sched.run();
  readAll();
  await platform.sched.run();
  readAll();
  return parseAll(Buffer.concat(received));
}

/**
 * Replies and watch events compared as the protocol allows: replies identical and in order;
 * identical watch events still queued unread are merged (cx after XSA-326), and how many depends
 * on when the reader reads — so the same distinct events, and none extra.
 */
export function equivalentTraffic(
  got: readonly string[],
  expected: readonly string[],
): { replies: [string[], string[]]; events: [Set<string>, Set<string>] } {
  const isEvent = (k: string): boolean => k.startsWith("15/");
  return {
    replies: [got.filter((k) => !isEvent(k)), expected.filter((k) => !isEvent(k))],
    events: [new Set(got.filter(isEvent)), new Set(expected.filter(isEvent))],
  };
}
