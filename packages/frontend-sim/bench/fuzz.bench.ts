// Explorer benchmarks. fuzz.schedules_per_s: explored runs per second on one core — each run
// boots dom0 and a guest, plugs a vif and a vbd (both handshakes under a generated schedule),
// runs up to 6 lifecycle commands and the end-of-run checks; safety mode, transient faults on,
// no shrinking. fuzz.mutant.<name>.runs_to_detection: runs until the explorer finds each planted
// bug in its stated campaign (seed 42), as in the mutant test.
import type { BenchOptions } from "../../../scripts/bench-kit.ts";
import { explore } from "../src/explore/explore.ts";
import { FAULT_PROFILES } from "../src/explore/faults.ts";
import { MUTANTS } from "../src/explore/mutants/index.ts";

export async function run(options: BenchOptions): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const runs = options.quick ? 20 : 100;
  // Warm up the JIT on a few runs first.
  await explore({ mode: "safety", seed: 99, runs: 5, shrink: false });
  const t0 = performance.now();
  const r = await explore({
    mode: "safety",
    workload: "vif+vbd",
    faults: FAULT_PROFILES.transient!,
    seed: 1,
    runs,
    shrink: false,
  });
  figures["fuzz.schedules_per_s"] = r.runs / ((performance.now() - t0) / 1000);
  figures["fuzz.distinct_schedules"] = r.schedules.size;
  for (const m of MUTANTS) {
    const found = await explore({ ...m.profile, mutant: m.name, seed: 42, runs: m.budget, shrink: false });
    figures[`fuzz.mutant.${m.name}.runs_to_detection`] = found.failure?.runsToDetection ?? Number.NaN;
  }
  return figures;
}
