import { SeededPolicy } from "@xensim/evtchn";
import { describe, expect, it } from "vitest";
import { blkScenarios } from "./blk-lifecycle.ts";

describe("block device lifecycle cases and peer profiles", () => {
  for (const s of blkScenarios) {
    it(`${s.name}: ${s.description}`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await s.run({ seed, policy: new SeededPolicy(seed) });
        expect(r.failures, `seed ${seed}\n${r.summary.join("\n")}`).toEqual([]);
      }
    });
  }
});
