// Replay tokens: the token alone reproduces a run byte for byte, and a failure found by the
// explorer replays to the same verdict.
import { describe, expect, it } from "vitest";
import { explore, runCase } from "./explore.ts";
import { FAULT_PROFILES } from "./faults.ts";
import { type CaseSpec, decodeToken, encodeToken } from "./replay-token.ts";

const CASE: CaseSpec = {
  mode: "liveness",
  workload: "vif+vbd",
  faults: FAULT_PROFILES.transient!,
  faultSeed: 1234,
  schedule: [1, 0, 2, 1, 1, 0, 3, 2, 0, 1, 1, 2],
  commands: [
    { c: "io", dev: "vif", n: 3, k: 40 },
    { c: "reconnect", dev: "vbd", k: 0 },
    { c: "io", dev: "vbd", n: 2, k: -1 },
    { c: "unplug", dev: "vif", force: false, k: 120 },
    { c: "plug", dev: "vif", k: -1 },
  ],
};

describe("replay tokens", () => {
  it("round-trip a case", () => {
    const t = encodeToken(CASE);
    expect(t.startsWith("xs1.")).toBe(true);
    expect(decodeToken(t)).toEqual(CASE);
    expect(() => decodeToken("xs9.abc")).toThrow(/not a replay token/);
  });

  it("reproduce identical traces, run twice", async () => {
    const token = encodeToken(CASE);
    const a = await runCase(decodeToken(token));
    const b = await runCase(decodeToken(token));
    const ta = a.sut.sched.trace.toJsonLines();
    expect(ta.length).toBeGreaterThan(10_000);
    expect(b.sut.sched.trace.toJsonLines()).toBe(ta);
    expect(b.failures).toEqual(a.failures);
    expect(a.sut.faults.total).toBeGreaterThan(0);
  });

  it("a failure the explorer shrank replays to the same verdict", async () => {
    const r = await explore({
      mode: "safety",
      workload: "vif+vbd",
      mutant: "reorder-replies",
      seed: 7,
      runs: 10,
    });
    expect(r.failure).toBeDefined();
    const replayed = await runCase(decodeToken(r.failure!.token));
    expect(replayed.failures.join("\n")).toBe(r.failure!.message);
    const again = await runCase(decodeToken(r.failure!.token));
    expect(again.sut.sched.trace.toJsonLines()).toBe(replayed.sut.sched.trace.toJsonLines());
  });
});
