import { describe, expect, it } from "vitest";
import { BlkMachine } from "./blk-harness.ts";

describe("blkfront ↔ blkback, smallest case", () => {
  it("connects and moves data", async () => {
    const bm = new BlkMachine({ seed: 1 });
    const { disk: image, physical } = bm.image({ sectors: 2048 });
    const out = await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        const { blkfront } = await bm.guest(1);
        const { spec, disk } = await bm.plug(blkfront, { domid: 1, physical });
        const data = new Uint8Array(4096 * 3).map((_, i) => (i * 7) & 0xff);
        await disk.write(3, data);
        await disk.flush();
        const back = await disk.read(3, data.length / 512);
        const outcome = await bm.m.toolstack.removeDevice(spec);
        return { data, back, outcome, stats: { ...disk.stats }, features: disk.features };
      })(),
    );
    expect(out.back).toEqual(out.data);
    expect(image.peek(3 * 512, out.data.length)).toEqual(out.data);
    expect(image.flushes).toBe(1);
    expect(out.outcome).toBe("clean");
    expect(bm.invariants()).toEqual([]);
    expect(out.stats.persistentHits).toBeGreaterThan(0);
    expect(out.features.persistent).toBe(true);
  });
});
