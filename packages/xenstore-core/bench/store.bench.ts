// `pnpm bench`: XenStore workloads W1–W6 in-process against the store API (as dom0), each from
// a fresh server, plus growth at 10× size (time(10n)/time(n)/10; 1.0 = linear).

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { BenchModule, BenchOptions, Figures } from "../../../scripts/bench-kit.ts";
import { timeSync } from "../../../scripts/bench-kit.ts";
import { XenStoreServer } from "../src/index.ts";

/** splitmix32: a small seeded PRNG (no Math.random). */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(r.errno);
  return r.value;
}

function fill(c: ReturnType<XenStoreServer["direct"]>, n: number): void {
  for (let i = 0; i < n; i++) must(c.write(`/local/domain/1/data/k${i}`, `v${i}`));
}

function w1(n: number): number {
  const c = new XenStoreServer().direct(0);
  return timeSync(() => fill(c, n));
}

function w2(n: number): number {
  const c = new XenStoreServer().direct(0);
  fill(c, n);
  return timeSync(() => {
    for (let i = 0; i < n; i++) must(c.read(`/local/domain/1/data/k${i}`));
  });
}

function w3(n: number, listings: number): number {
  const server = new XenStoreServer();
  const c = server.direct(0);
  fill(c, n);
  return timeSync(() => {
    for (let i = 0; i < listings; i++) {
      const names = server.store.list("/local/domain/1/data");
      if (names?.length !== n) throw new Error("W3 listing size");
    }
  });
}

function w4(n: number): number {
  const c = new XenStoreServer().direct(0);
  return timeSync(() => {
    for (let i = 0; i < n; i++) {
      const tx = must(c.transactionStart());
      for (let j = 0; j < 10; j++) must(c.write(`/local/domain/2/t${i}/k${j}`, "x", tx));
      must(c.transactionEnd(tx, true));
    }
  });
}

function w5(writes: number): { secs: number; events: number } {
  const server = new XenStoreServer();
  let events = 0;
  const c = server.direct(0, () => {
    events++;
  });
  const secs = timeSync(() => {
    for (let i = 0; i < 1000; i++) must(c.watch(`/local/domain/3/w${i}`, `t${i}`));
    for (let i = 0; i < writes; i++) must(c.write(`/local/domain/3/w${i % 1000}/x`, "v"));
  });
  if (events !== writes + 1000) throw new Error(`W5 delivered ${events}, expected ${writes + 1000}`);
  return { secs, events };
}

function w6(ops: number): number {
  const c = new XenStoreServer().direct(0);
  for (let j = 0; j < 100; j++)
    for (let m = 0; m < 100; m++) must(c.write(`/local/domain/4/d${j}/k${m}`, "v"));
  const rnd = splitmix32(42);
  return timeSync(() => {
    for (let i = 0; i < ops; i++) {
      const r = rnd() % 100;
      const j = rnd() % 100;
      if (r < 70) must(c.read(`/local/domain/4/d${j}/k${rnd() % 100}`));
      else if (r < 90) must(c.write(`/local/domain/4/d${j}/k${rnd() % 100}`, `v${i}`));
      else must(c.directory(`/local/domain/4/d${j}`));
    }
  });
}

function heapBytesPerNode(n: number): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const server = new XenStoreServer();
  fill(server.direct(0), n);
  gc();
  const after = process.memoryUsage().heapUsed;
  const nodes = server.store.totalNodes();
  return (after - before) / nodes;
}

export async function run({ quick }: BenchOptions): Promise<Figures> {
  const N = quick ? 10_000 : 100_000;
  const n = N / 10;
  const f: Figures = {};
  const growth = (small: number, big: number) => big / small / 10;

  w1(n); // warm-up
  const t1 = w1(N);
  f["xenstore.W1"] = N / t1;
  f["xenstore.W1.growth_10x"] = growth(w1(n), w1(N));

  const t2 = w2(N);
  f["xenstore.W2"] = N / t2;
  f["xenstore.W2.growth_10x"] = growth(w2(n), w2(N));

  const L = quick ? 20 : 10;
  const t3 = w3(N, L);
  f["xenstore.W3"] = L / t3;
  f["xenstore.W3.growth_10x"] = growth(w3(n, L), w3(N, L));

  const T = quick ? 2_000 : 10_000;
  const t4 = w4(T);
  f["xenstore.W4"] = T / t4;
  f["xenstore.W4.growth_10x"] = growth(w4(T / 10), w4(T));

  const W = quick ? 20_000 : 100_000;
  const r5 = w5(W);
  f["xenstore.W5"] = r5.events / r5.secs;
  const r5s = w5(W / 10);
  f["xenstore.W5.growth_10x"] = growth(r5s.secs, r5.secs);

  const M = quick ? 100_000 : 1_000_000;
  const t6 = w6(M);
  f["xenstore.W6"] = M / t6;
  f["xenstore.W6.growth_10x"] = growth(w6(M / 10), w6(M));

  f["xenstore.heap_bytes_per_node"] = heapBytesPerNode(N);
  return f;
}

export default { run } satisfies BenchModule;
