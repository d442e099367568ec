import { FifoPolicy, SeededPolicy } from "@xensim/evtchn";
import { findScenario } from "@xensim/frontend-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const scenario = findScenario("vif-vbd-lifecycle")!;

describe("default scenario (vif-vbd-lifecycle)", () => {
  it("completes with no failures under FIFO", async () => {
    const r = await scenario.run({ seed: 0, policy: new FifoPolicy() });
    expect(r.failures).toEqual([]);
    expect(r.summary.join("\n")).toMatch(/16 of 16 frames delivered exactly once/);
    expect(r.summary.join("\n")).toMatch(/dom1 xvda: .* read back and verified/);
    expect(r.summary.join("\n")).toMatch(/dom2 xvda: .* read back and verified/);
  });

  it("completes with no failures under many seeds, and each seed replays byte for byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const r = await scenario.run({ seed, policy: new SeededPolicy(seed) });
        expect(r.failures).toEqual([]);
      }),
      { numRuns: 8 },
    );
    const a = await scenario.run({ seed: 42, policy: new SeededPolicy(42) });
    const b = await scenario.run({ seed: 42, policy: new SeededPolicy(42) });
    expect(b.sched.trace.toJsonLines()).toBe(a.sched.trace.toJsonLines());
    const c = await scenario.run({ seed: 43, policy: new SeededPolicy(43) });
    expect(c.sched.trace.toJsonLines()).not.toBe(a.sched.trace.toJsonLines());
  });
});
