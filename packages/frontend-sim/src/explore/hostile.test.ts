// Hostile peers: whatever the schedule, the honest end disables the device with an error node
// naming the violation (or keeps working for harmless abuse) — never a crash, hang or hazard.
import { scheduleArbitrary } from "@xensim/evtchn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runCase } from "./explore.ts";
import { HOSTILE_NAMES, type HostileKind, hostileInfo } from "./hostile.ts";

/** One device plugged, some I/O, the hostile action, then the device unplugged. */
async function hostileRun(kind: HostileKind, schedule: readonly number[]) {
  const dev = hostileInfo(kind)!.dev;
  return runCase(
    {
      mode: "safety",
      workload: dev,
      faults: [],
      faultSeed: 0,
      schedule,
      commands: [
        { c: "io", dev, n: 2, k: -1 },
        { c: "hostile", kind },
        { c: "unplug", dev, force: false, k: -1 },
      ],
    },
    { recordTrace: true },
  );
}

describe("hostile peers against our netfront, netback, blkfront and blkback", () => {
  for (const kind of HOSTILE_NAMES) {
    it(`${kind}: the honest end reaches the right verdict`, async () => {
      const out = await hostileRun(kind, []);
      expect(out.failures).toEqual([]);
      const verdict = out.sut.sched.trace.all().find((r) => r.kind === "hostile.verdict");
      expect(verdict?.details).toMatchObject({ kind, ok: true });
    });
  }

  it("every hostile action under random schedules", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...HOSTILE_NAMES),
        scheduleArbitrary({ maxLength: 200 }),
        async (kind, s) => {
          const out = await hostileRun(kind, s.choices);
          expect(out.failures).toEqual([]);
        },
      ),
      { numRuns: 30, seed: 9 },
    );
  });
});
