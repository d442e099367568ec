// Shared helpers for `pnpm bench`. Benchmarks use wall-clock time here on purpose: they measure
// the simulator, they are not part of it. Figures are reported beside a baseline measured in the
// same run (a ratio), never asserted in tests.
import { performance } from "node:perf_hooks";

/** Named figures one benchmark module reports, e.g. `{ "ring.blkif.roundtrips_per_s": 1.2e6 }`. */
export type Figures = Record<string, number>;

/** What every `packages/<pkg>/bench/*.bench.ts` module exports. */
export interface BenchModule {
  run(opts: BenchOptions): Promise<Figures> | Figures;
}

export interface BenchOptions {
  /** Shorter runs (CI smoke, `--quick`): same figures, fewer iterations. */
  quick: boolean;
}

/**
 * Runs `body(n)` with growing `n` until one batch takes at least `minMs`, then reports
 * operations per second over the best of `rounds` batches. `body` returns how many operations it did.
 */
export function opsPerSecond(body: (n: number) => number, minMs = 200, rounds = 3): number {
  let n = 1;
  for (;;) {
    const t0 = performance.now();
    const ops = body(n);
    const dt = performance.now() - t0;
    if (dt >= minMs || n > 1 << 30) {
      let best = ops / (dt / 1000);
      for (let r = 1; r < rounds; r++) {
        const t1 = performance.now();
        const ops2 = body(n);
        const dt2 = performance.now() - t1;
        best = Math.max(best, ops2 / (dt2 / 1000));
      }
      return best;
    }
    n *= dt < minMs / 10 ? 10 : 2;
  }
}

/** Times one async workload once; returns seconds. */
export async function timeAsync(body: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await body();
  return (performance.now() - t0) / 1000;
}

/** Times one synchronous workload once; returns seconds. */
export function timeSync(body: () => unknown): number {
  const t0 = performance.now();
  body();
  return (performance.now() - t0) / 1000;
}
