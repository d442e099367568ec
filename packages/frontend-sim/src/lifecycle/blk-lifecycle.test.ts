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

describe("determinism and storage edges", () => {
  it("same seed ⇒ the same trace, record for record", async () => {
    const { blkBackendRestart } = await import("./blk-lifecycle.ts");
    const a = await blkBackendRestart.run({ seed: 5, policy: new SeededPolicy(5) });
    const b = await blkBackendRestart.run({ seed: 5, policy: new SeededPolicy(5) });
    expect(a.failures).toEqual([]);
    expect(a.sched.trace.toJsonLines()).toBe(b.sched.trace.toJsonLines());
    const c = await blkBackendRestart.run({ seed: 6, policy: new SeededPolicy(6) });
    expect(c.sched.trace.toJsonLines()).not.toBe(a.sched.trace.toJsonLines());
  });

  it("a file-backed image works the same (I/O edge only)", async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { FileDisk } = await import("../host/blkback/disk-image.ts");
    const { BlkMachine } = await import("./blk-harness.ts");
    const { vbdPatternCheck } = await import("./blk-lifecycle.ts");
    const dir = mkdtempSync(join(tmpdir(), "xensim-blk-"));
    try {
      const file = join(dir, "disk.img");
      const image = new FileDisk(file, { sectors: 256, create: true });
      const bm = new BlkMachine();
      const physical = bm.disks.attach(image);
      const failures = await bm.m.settle(
        (async () => {
          await bm.m.startDom0();
          const { blkfront } = await bm.guest(1);
          const { spec, disk } = await bm.plug(blkfront, { domid: 1, physical });
          const f = await vbdPatternCheck(disk, 16, 32);
          await bm.m.toolstack.removeDevice(spec);
          return f;
        })(),
      );
      image.close();
      expect(failures).toEqual([]);
      const bytes = readFileSync(file);
      expect(bytes.length).toBe(256 * 512);
      expect(bytes[16 * 512 + 1]).toBe(31);
      expect(bm.invariants()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
