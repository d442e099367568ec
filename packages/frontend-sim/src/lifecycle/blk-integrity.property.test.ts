// Data integrity: random request sizes and orders through blkfront → blkback, under random
// schedules and transport configurations, checked against a model of the disk; the image must
// equal the model afterwards and the machine must end clean.
import { Prng, SeededPolicy } from "@xensim/evtchn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlkMachine } from "./blk-harness.ts";
import { DiskModel, firstDiff, randomWorkload } from "./disk-model.ts";

const config = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  queues: fc.constantFrom(1, 2, 4),
  order: fc.integer({ min: 0, max: 3 }),
  persistent: fc.boolean(),
  backendPersistent: fc.boolean(),
  indirect: fc.constantFrom(0, 16, 32, 64),
  protocol: fc.constantFrom("x86_64-abi" as const, "x86_32-abi" as const),
  sectorSize: fc.constantFrom(512, 4096),
  latency: fc.constantFrom(0, 3_000),
  profile: fc.constantFrom("linux" as const, "qemu" as const),
  maxSectors: fc.constantFrom(8, 40, 200, 600),
});

describe("blkif data integrity against a disk model", () => {
  it("every read returns what the model holds, whatever the sizes, order and transport", async () => {
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        const sectors = 8192;
        const bm = new BlkMachine({
          policy: new SeededPolicy(c.seed),
          recordTrace: false,
          blkback: {
            profile: c.profile,
            persistent: c.backendPersistent,
            ioLatencyNs: c.latency,
            maxPersistentGrants: 64, // small: exercises the non-persistent fallback of a full table
          },
        });
        const { disk: image, physical } = bm.image({ sectors, sectorSize: c.sectorSize });
        const model = new DiskModel(sectors);
        const out = await bm.m.settle(
          (async () => {
            await bm.m.startDom0();
            const { blkfront } = await bm.guest(1, {
              maxQueues: c.queues,
              maxRingPageOrder: c.order,
              persistent: c.persistent,
              maxIndirectSegments: c.indirect,
              protocol: c.protocol,
            });
            const { spec, disk } = await bm.plug(blkfront, {
              domid: 1,
              physical,
              ...(c.profile === "qemu" ? { type: "qdisk" as const } : {}),
            });
            const w = await randomWorkload(disk, model, new Prng(c.seed), {
              batches: 5,
              concurrency: 8,
              maxSectors: c.maxSectors,
              discard: true,
            });
            const outcome = await bm.m.toolstack.removeDevice(spec);
            return { w, outcome, features: disk.features };
          })(),
        );
        expect(out.w.failures).toEqual([]);
        expect(out.outcome).toBe("clean");
        expect(firstDiff(image.peek(0, sectors * 512), model.bytes)).toBe(-1);
        expect(bm.invariants()).toEqual([]);
      }),
      { numRuns: 12 },
    );
  });
});
