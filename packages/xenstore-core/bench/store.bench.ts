// `pnpm bench store`: XenStore workloads W1–W6 in-process as dom0 through `server.direct(0)`
// (the DirectClient, the store's in-process API: every request runs through the same dispatch
// and handlers as a frame from a socket or ring, with every check a real request gets; one-path
// requests go as their strings, the rest as wire payloads), each from a fresh server. Figures:
// * `xenstore.Wn` — ops/s, best of a few runs (the machine may be shared);
// * `xenstore.Wn.ratio_vs_c` — that figure ÷ the same workload in a C implementation of the same
//   copy-on-write design, measured once on the development machine. The C program is not in the
//   repository, so its figures are baseline constants here (C_OPS_PER_S below);
// * `xenstore.Wn.growth_10x` — (time at 10n / time at n) / 10, n = the workload's size (keys,
//   children, transactions, writes, ops; each time the best of a few runs): ≈1 means linear;
// * `xenstore.Wn.growth_10x_large` (W1, W2, W5; not with --quick) — the same from n to 10n
//   at the full size (100k → 1M): past the step where the working set leaves the CPU caches and
//   the young generation (10k → 100k), what the algorithm itself adds;
// * `xenstore.Wn.gc_share` — the share of the timed run (at size n) spent in V8's garbage
//   collector (v8.GCProfiler), and `xenstore.Wn.growth_10x_excl_gc` — growth_10x without that
//   time: what a C store, which has no collector, would compare with. Every store node survives,
//   so the young generation copies and promotes it; at n = 10k nearly all of a run fits in the
//   young generation, at 100k it does not (more GC per op, not a longer walk);
// * `xenstore.hash_floor.growth_10x_excl_gc` — the same figure for the bare hash-table work of
//   W1 (a JS Map of W1's n keys, set then read back): what caches alone give at these sizes on
//   this machine, a floor any store with one hash table per directory shows;
// * `xenstore.W1.as_payloads`, `xenstore.W2.as_payloads` — W1 and W2 with every request encoded
//   to its wire payload by the client and decoded by the server (`DirectClient.call`), as a frame
//   from a socket or ring is: what the string calls save;
// * `xenstore.heap_bytes_per_node` — heap growth per node after building W1's store at full size,
//   measured in a child `node --expose-gc` process so that garbage is collected before reading
//   the heap.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { GCProfiler, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { BenchModule, BenchOptions, Figures } from "../../../scripts/bench-kit.ts";
import { timeSync } from "../../../scripts/bench-kit.ts";
import { encodeString, encodeWrite, XenStoreServer, XsType } from "../src/index.ts";

/** The C implementation's figures (ops/s; W3 listings/s, W4 transactions/s) on the same machine. */
const C_OPS_PER_S = {
  W1: 534_000,
  W2: 988_000,
  W3: 0.015,
  W4: 112,
  W5: 575_000,
  W6: 234_000,
} as const;

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

type Client = ReturnType<XenStoreServer["direct"]>;

function fill(c: Client, n: number): void {
  for (let i = 0; i < n; i++) must(c.write(`/local/domain/1/data/k${i}`, `v${i}`));
}

/** A workload at size n: seconds for its timed part (`gc` of them in the GC) and its op count. */
type Workload = (n: number) => { secs: number; ops: number; gc: number };

// A full collection before each timed run, as a C store's previous run ends with free(): the
// garbage of earlier runs (whole stores) is not the next run's to collect. Without it, a run's
// time swung by ±30% with whether an earlier store's mark-compact fell inside it.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** timeSync, and the seconds V8's collector took meanwhile. */
function timed(f: () => void): { secs: number; gc: number } {
  collectGarbage();
  const p = new GCProfiler();
  p.start();
  const secs = timeSync(f);
  let gc = 0;
  for (const s of p.stop().statistics) gc += s.cost;
  return { secs, gc: gc / 1e6 };
}

/** W1: write n distinct keys. */
const w1: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  return { ...timed(() => fill(c, n)), ops: n };
};

/** W2: read W1's n keys back. */
const w2: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  fill(c, n);
  const t = timed(() => {
    for (let i = 0; i < n; i++) must(c.read(`/local/domain/1/data/k${i}`));
  });
  return { ...t, ops: n };
};

/** W1 and W2 with each request sent as its wire payload (DirectClient.call). */
const w1Payloads: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  return {
    ...timed(() => {
      for (let i = 0; i < n; i++)
        must(c.call(XsType.WRITE, encodeWrite(`/local/domain/1/data/k${i}`, `v${i}`)));
    }),
    ops: n,
  };
};

const w2Payloads: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  fill(c, n);
  const t = timed(() => {
    for (let i = 0; i < n; i++) must(c.call(XsType.READ, encodeString(`/local/domain/1/data/k${i}`)));
  });
  return { ...t, ops: n };
};

/**
 * W3: DIRECTORY of W1's directory of n children, `listings` times, through `DirectClient.call`:
 * the reply payload a wire client receives (n NUL-terminated names, checked by counting). With
 * `decode`, through `DirectClient.directory`, which also splits the reply into n JS strings on
 * the client's side (reported apart: that client-side cost is V8 string allocation).
 */
const w3 =
  (listings: number, decode = false): Workload =>
  (n) => {
    const c = new XenStoreServer().direct(0);
    fill(c, n);
    const request = encodeString("/local/domain/1/data");
    const t = timed(() => {
      for (let i = 0; i < listings; i++) {
        let count: number;
        if (decode) count = must(c.directory("/local/domain/1/data")).length;
        else {
          const reply = must(c.call(XsType.DIRECTORY, request));
          count = 0;
          for (let j = 0; j < reply.length; j++) if (reply[j] === 0) count++;
        }
        if (count !== n) throw new Error("W3 listing size");
      }
    });
    return { ...t, ops: listings };
  };

/** W4: n transactions of 10 writes each. */
const w4: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  const t = timed(() => {
    for (let i = 0; i < n; i++) {
      const tx = must(c.transactionStart());
      for (let j = 0; j < 10; j++) must(c.write(`/local/domain/2/t${i}/k${j}`, "x", tx));
      must(c.transactionEnd(tx, true));
    }
  });
  return { ...t, ops: n };
};

/** W5: 1000 watches, then n writes below them; ops = events delivered (n + 1000 initial). */
const w5: Workload = (n) => {
  const server = new XenStoreServer();
  let events = 0;
  const c = server.direct(0, () => {
    events++;
  });
  const t = timed(() => {
    for (let i = 0; i < 1000; i++) must(c.watch(`/local/domain/3/w${i}`, `t${i}`));
    for (let i = 0; i < n; i++) must(c.write(`/local/domain/3/w${i % 1000}/x`, "v"));
  });
  if (events !== n + 1000) throw new Error(`W5 delivered ${events}, expected ${n + 1000}`);
  return { ...t, ops: events };
};

/** W6: n ops, 70% read / 20% write / 10% directory over 100 dirs × 100 keys. */
const w6: Workload = (n) => {
  const c = new XenStoreServer().direct(0);
  for (let j = 0; j < 100; j++)
    for (let m = 0; m < 100; m++) must(c.write(`/local/domain/4/d${j}/k${m}`, "v"));
  const rnd = splitmix32(42);
  const t = timed(() => {
    for (let i = 0; i < n; i++) {
      const r = rnd() % 100;
      const j = rnd() % 100;
      if (r < 70) must(c.read(`/local/domain/4/d${j}/k${rnd() % 100}`));
      else if (r < 90) must(c.write(`/local/domain/4/d${j}/k${rnd() % 100}`, `v${i}`));
      else must(c.directory(`/local/domain/4/d${j}`));
    }
  });
  return { ...t, ops: n };
};

/** The hash-table floor: a JS Map of W1's n keys, set then read back (ops = 2n). */
const hashFloor: Workload = (n) => {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) keys.push(`k${i}`);
  let sum = 0;
  const t = timed(() => {
    const m = new Map<string, { v: number }>();
    for (let i = 0; i < n; i++) m.set(keys[i]!, { v: i });
    for (let i = 0; i < n; i++) sum += m.get(`k${i}`)!.v;
  });
  if (sum !== (n * (n - 1)) / 2) throw new Error("hash floor");
  return { ...t, ops: 2 * n };
};

/** Best (shortest) of `runs` runs. */
function best(w: Workload, n: number, runs: number): { secs: number; ops: number; gc: number } {
  let b = w(n);
  for (let r = 1; r < runs; r++) {
    const x = w(n);
    if (x.secs < b.secs) b = x;
  }
  return b;
}

/** Heap bytes per node of W1's store with `n` keys, in a child process with a real `gc()`. */
function heapBytesPerNode(n: number): number {
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, XENSIM_STORE_BENCH_HEAP: String(n) },
    encoding: "utf8",
  });
  const out = /heap_bytes_per_node=([\d.]+)/.exec(r.stdout ?? "");
  if (r.status !== 0 || !out) throw new Error(`heap child failed: ${r.stderr}`);
  return Number(out[1]);
}

/** The child side of heapBytesPerNode. */
function heapChild(n: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("needs --expose-gc");
  const settle = () => {
    for (let i = 0; i < 3; i++) gc();
  };
  let server: XenStoreServer | null = new XenStoreServer();
  fill(server.direct(0), 10); // load and warm the code before the baseline
  server = null;
  settle();
  const before = process.memoryUsage().heapUsed;
  server = new XenStoreServer();
  fill(server.direct(0), n);
  settle();
  const after = process.memoryUsage().heapUsed;
  const nodes = server.store.totalNodes();
  process.stdout.write(`heap_bytes_per_node=${(after - before) / nodes}\n`);
}

const heapN = process.env.XENSIM_STORE_BENCH_HEAP;
if (heapN !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) heapChild(Number(heapN));

export async function run({ quick }: BenchOptions): Promise<Figures> {
  const N = quick ? 10_000 : 100_000;
  const L = quick ? 10 : 20;
  // best of 5: on this project's shared 2-core VM one process's identical runs of W1 range from
  // 400k to 700k ops/s (the host, not the code); the best of 5 is nearly always an undisturbed one
  const runs = quick ? 2 : 5;
  const sizes: Record<keyof typeof C_OPS_PER_S, [Workload, number]> = {
    W1: [w1, N],
    W2: [w2, N],
    W3: [w3(L), N],
    W4: [w4, quick ? 2_000 : 10_000],
    W5: [w5, N],
    W6: [w6, quick ? 100_000 : 1_000_000],
  };
  const f: Figures = {};
  // warm-up at full size: the JIT, and the heap grown to hold a store of N nodes (the first
  // workload measured would otherwise pay for growing it, and no later one would)
  w1(N);
  for (const [name, [w, n]] of Object.entries(sizes) as [keyof typeof C_OPS_PER_S, [Workload, number]][]) {
    const big = best(w, n, runs);
    const small = best(w, n / 10, runs + 2);
    const opsPerS = big.ops / big.secs;
    f[`xenstore.${name}`] = opsPerS;
    f[`xenstore.${name}.ratio_vs_c`] = opsPerS / C_OPS_PER_S[name];
    f[`xenstore.${name}.growth_10x`] = big.secs / small.secs / 10;
    f[`xenstore.${name}.gc_share`] = big.gc / big.secs;
    f[`xenstore.${name}.growth_10x_excl_gc`] = (big.secs - big.gc) / (small.secs - small.gc) / 10;
  }
  if (!quick) {
    for (const name of ["W1", "W2", "W5"] as const) {
      const [w, n] = sizes[name];
      const small = best(w, n, 2);
      const large = best(w, 10 * n, 2);
      f[`xenstore.${name}.growth_10x_large`] = large.secs / small.secs / 10;
    }
  }
  for (const [name, w] of [
    ["W1", w1Payloads],
    ["W2", w2Payloads],
  ] as const) {
    const r = best(w, N, runs);
    f[`xenstore.${name}.as_payloads`] = r.ops / r.secs;
  }
  const fb = best(hashFloor, N, runs);
  const fs = best(hashFloor, N / 10, runs + 2);
  f["xenstore.hash_floor.growth_10x_excl_gc"] = (fb.secs - fb.gc) / (fs.secs - fs.gc) / 10;
  const d = best(w3(L, true), N, runs);
  f["xenstore.W3.decoded_to_strings"] = d.ops / d.secs;
  f["xenstore.heap_bytes_per_node"] = heapBytesPerNode(N);
  return f;
}

export default { run } satisfies BenchModule;
