// The explorer works: every planted bug is found within its stated budget of runs, and the same
// campaign passes on the unmutated system.
import { describe, expect, it } from "vitest";
import { explore } from "./explore.ts";
import { MUTANTS } from "./mutants/index.ts";

const SEED = 42;

describe("mutants prove the explorer finds handshake bugs", () => {
  for (const m of MUTANTS) {
    it(`finds ${m.name} within ${m.budget} runs (${m.profile.mode}, ${m.profile.workload})`, async () => {
      const r = await explore({ ...m.profile, mutant: m.name, seed: SEED, runs: m.budget, shrink: false });
      expect(r.failure, `${m.name} not found in ${m.budget} runs`).toBeDefined();
      expect(r.failure!.runsToDetection).toBeLessThanOrEqual(m.budget);
    });
    it(`the unmutated system passes ${m.name}'s campaign`, async () => {
      const r = await explore({ ...m.profile, seed: SEED, runs: Math.min(m.budget, 25), shrink: false });
      expect(r.failure?.message).toBeUndefined();
    });
  }
});
