// `pnpm bench ring`: ring round trips through one page (fill-then-drain) for blkif (32 slots) and
// netif tx (256 slots), each beside a C baseline built from the real ring.h and run in the same
// process tree now (testing/c/ring-bench.c); plus grant map+unmap and grant copy rates.
import { spawnSync } from "node:child_process";
import type { BenchModule, Figures } from "../../../scripts/bench-kit.ts";
import { opsPerSecond } from "../../../scripts/bench-kit.ts";
import {
  BackRing,
  BLKIF_OP_READ,
  BLKIF_REQUEST_X86_64,
  BLKIF_RESPONSE_X86_64,
  BLKIF_RING_X86_64,
  DOMID_SELF,
  FrontRing,
  type Gfn,
  GNTCOPY_source_gref,
  GuestMemory,
  Hypervisor,
  NETIF_TX_REQUEST,
  NETIF_TX_RESPONSE,
  NETIF_TX_RING,
  PageSequence,
  type SlotWriter,
} from "../src/index.ts";
import { NativeBuildDir, probeToolchain } from "../src/testing/native-toolchain.ts";

function onePageRings<P extends typeof BLKIF_RING_X86_64 | typeof NETIF_TX_RING>(proto: P) {
  const mem = new GuestMemory(1);
  const seq = PageSequence.of([mem.page(mem.allocate() as Gfn)]);
  return { front: FrontRing.init(seq, proto), back: BackRing.attach(seq, proto) };
}

// Each workload is split into fill / drain / collect functions exactly as ring-bench.c splits
// its noinline C functions: a front end's transmit path, a back end's drain loop and the front
// end's completion path are separate functions in real drivers too.

/** blkif: the same fields per request as ring-bench.c blk_front_fill / blk_back_drain / blk_front_collect. */
export function blkifRoundTrips(): (rounds: number) => number {
  const { front, back } = onePageRings(BLKIF_RING_X86_64);
  const Q = BLKIF_REQUEST_X86_64.fields;
  const R = BLKIF_RESPONSE_X86_64.fields;
  const SEG = Q.seg.offset;
  const rq = back.requestSnapshot();
  const rs = front.responseSnapshot();
  let sink = 0;
  const fill = () => {
    for (let i = 0; ; i++) {
      const idx = front.reqProdPvt;
      const r = front.nextRequest();
      if (r === undefined) break;
      r.setU8(Q.operation.offset, BLKIF_OP_READ);
      r.setU8(Q.nr_segments.offset, 1);
      r.setU16(Q.handle.offset, 0);
      r.setU32(Q.id.offset, idx); // the u64 id as two u32 stores: no BigInt in the hot path
      r.setU32(Q.id.offset + 4, 0);
      r.setU32(Q.sector_number.offset, i * 8);
      r.setU32(Q.sector_number.offset + 4, 0);
      r.setU32(SEG, 100 + i);
      r.setU8(SEG + 4, 0);
      r.setU8(SEG + 5, 7);
    }
    sink = (sink + (front.pushRequestsAndCheckNotify() ? 1 : 0)) | 0;
  };
  const drain = () => {
    if (typeof back.unconsumedRequests() !== "number") throw new Error("request overflow");
    while (back.takeRequest(rq)) {
      const w = back.nextResponse() as SlotWriter;
      w.setU32(R.id.offset, rq.getU32(Q.id.offset));
      w.setU32(R.id.offset + 4, rq.getU32(Q.id.offset + 4));
      w.setU8(R.operation.offset, rq.getU8(Q.operation.offset));
      w.setU16(R.status.offset, 0);
    }
    sink =
      (sink + (back.pushResponsesAndCheckNotify() ? 1 : 0) + (back.finalCheckForRequests() as number)) | 0;
  };
  const collect = () => {
    let trips = 0;
    if (typeof front.unconsumedResponses() !== "number") throw new Error("response overflow");
    while (front.takeResponse(rs)) {
      sink = (sink + rs.getU32(R.id.offset) + rs.getI16(R.status.offset)) | 0;
      trips++;
    }
    sink = (sink + (front.finalCheckForResponses() as number)) | 0;
    return trips;
  };
  return (rounds) => {
    let trips = 0;
    for (let k = 0; k < rounds; k++) {
      fill();
      drain();
      trips += collect();
    }
    return trips + (sink & 0); // keep sink observable
  };
}

/** netif tx: as ring-bench.c tx_front_fill / tx_back_drain / tx_front_collect. */
export function netifTxRoundTrips(): (rounds: number) => number {
  const { front, back } = onePageRings(NETIF_TX_RING);
  const Q = NETIF_TX_REQUEST.fields;
  const R = NETIF_TX_RESPONSE.fields;
  const rq = back.requestSnapshot();
  const rs = front.responseSnapshot();
  let sink = 0;
  const fill = () => {
    for (let i = 0; ; i++) {
      const idx = front.reqProdPvt;
      const r = front.nextRequest();
      if (r === undefined) break;
      r.setU32(Q.gref.offset, 100 + i);
      r.setU16(Q.offset.offset, 0);
      r.setU16(Q.flags.offset, 0);
      r.setU16(Q.id.offset, idx);
      r.setU16(Q.size.offset, 1514);
    }
    sink = (sink + (front.pushRequestsAndCheckNotify() ? 1 : 0)) | 0;
  };
  const drain = () => {
    if (typeof back.unconsumedRequests() !== "number") throw new Error("request overflow");
    while (back.takeRequest(rq)) {
      const w = back.nextResponse() as SlotWriter;
      w.setU16(R.id.offset, rq.getU16(Q.id.offset));
      w.setU16(R.status.offset, 0);
    }
    sink =
      (sink + (back.pushResponsesAndCheckNotify() ? 1 : 0) + (back.finalCheckForRequests() as number)) | 0;
  };
  const collect = () => {
    let trips = 0;
    if (typeof front.unconsumedResponses() !== "number") throw new Error("response overflow");
    while (front.takeResponse(rs)) {
      sink = (sink + rs.getU16(R.id.offset) + rs.getI16(R.status.offset)) | 0;
      trips++;
    }
    sink = (sink + (front.finalCheckForResponses() as number)) | 0;
    return trips;
  };
  return (rounds) => {
    let trips = 0;
    for (let k = 0; k < rounds; k++) {
      fill();
      drain();
      trips += collect();
    }
    return trips + (sink & 0);
  };
}

function grantMapUnmap(): (n: number) => number {
  const hv = new Hypervisor();
  const fe = hv.createDomain(1);
  hv.createDomain(0);
  const ref = fe.grantTable.grantForeignAccess(0, fe.memory.allocate() as Gfn, false) as number;
  return (n) => {
    for (let i = 0; i < n; i++) {
      const m = hv.map(0, 1, ref);
      if (m.status !== 0 || hv.unmap(0, m.handle) !== 0) throw new Error("map/unmap failed");
    }
    return n;
  };
}

function grantCopy(): (n: number) => number {
  const hv = new Hypervisor();
  const fe = hv.createDomain(1);
  const be = hv.createDomain(0);
  const ref = fe.grantTable.grantForeignAccess(0, fe.memory.allocate() as Gfn, true) as number;
  const mine = be.memory.allocate() as Gfn;
  const op = {
    source: { ref, domid: 1, offset: 0 },
    dest: { gfn: mine, domid: DOMID_SELF, offset: 0 },
    len: 1514,
    flags: GNTCOPY_source_gref,
  };
  const batch = Array.from({ length: 16 }, () => op);
  return (n) => {
    let done = 0;
    for (let i = 0; i < n; i++) {
      for (const st of hv.copy(0, batch)) if (st === 0) done++;
    }
    return done;
  };
}

/** Runs the C baseline; undefined figures when gcc or libxen-dev is missing. */
function cBaseline(ms: number): { blkif: number; netif_tx: number } | undefined {
  if (!probeToolchain().ok) return undefined;
  const dir = new NativeBuildDir();
  try {
    const exe = dir.compile("ring-bench", { file: "ring-bench.c" });
    const out = spawnSync(exe, [String(ms)], { encoding: "utf8" }).stdout;
    const figures: Record<string, number> = {};
    for (const line of out.trim().split("\n")) {
      const [name, v] = line.split(" ");
      if (name !== undefined) figures[name] = Number(v);
    }
    return { blkif: figures["blkif"] ?? Number.NaN, netif_tx: figures["netif_tx"] ?? Number.NaN };
  } finally {
    dir.dispose();
  }
}

export const run: BenchModule["run"] = ({ quick }): Figures => {
  const ms = quick ? 100 : 400;
  const blkif = opsPerSecond(blkifRoundTrips(), ms);
  const netifTx = opsPerSecond(netifTxRoundTrips(), ms);
  const c = cBaseline(ms);
  return {
    "ring.blkif.roundtrips_per_s": blkif,
    "ring.blkif.c_roundtrips_per_s": c?.blkif ?? Number.NaN,
    "ring.blkif.ratio_vs_c": c ? blkif / c.blkif : Number.NaN,
    "ring.netif_tx.roundtrips_per_s": netifTx,
    "ring.netif_tx.c_roundtrips_per_s": c?.netif_tx ?? Number.NaN,
    "ring.netif_tx.ratio_vs_c": c ? netifTx / c.netif_tx : Number.NaN,
    "grant.map_unmap_per_s": opsPerSecond(grantMapUnmap(), ms),
    "grant.copy_per_s": opsPerSecond(grantCopy(), ms),
  };
};
