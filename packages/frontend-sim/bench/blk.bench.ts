// Block I/O through the whole simulated stack and vbd boots per second of wall time.
// - blk.iops_4k / blk.iops_4k.q4: 4 KiB random reads and writes (half each) from a guest through
//   blkfront → ring → blkback → in-memory disk and back, 32 in flight, one queue and four.
// - sim.boot_vbd_per_s: domain create + vbd handshake to Connected/Connected, trace off (several
//   guests per machine, as a host boots them).
// - Baselines measured in the same run: blk.ratio_vs_memcpy compares iops_4k with copying 4 KiB
//   twice per request (the data movement a bounce-buffered request does) in a plain loop;
//   sim.boot_vbd_ratio_vs_domain compares boots with bare domain creations (no device).
import { FifoPolicy, Prng } from "@xensim/evtchn";
import { type BenchOptions, timeAsync, timeSync } from "../../../scripts/bench-kit.ts";
import type { BlkfrontDevice } from "../src/guest/blkfront/blkfront.ts";
import { BlkMachine } from "../src/lifecycle/blk-harness.ts";

async function iops(queues: number, requests: number, depth: number): Promise<number> {
  const bm = new BlkMachine({ policy: new FifoPolicy(), recordTrace: false, blkback: { maxQueues: queues } });
  const sectors = 1 << 18; // 128 MiB, sparse
  const { physical } = bm.image({ sectors });
  let disk: BlkfrontDevice | undefined;
  await bm.m.settle(
    (async () => {
      await bm.m.startDom0();
      const { blkfront } = await bm.guest(1, { maxQueues: queues });
      disk = (await bm.plug(blkfront, { domid: 1, physical })).disk;
    })(),
  );
  const d = disk!;
  const rng = new Prng(42);
  const buf = new Uint8Array(4096).fill(0x5a);
  // The data path is callback-driven (ring pushes, event channels, handlers), so the scheduler
  // runs synchronously: `depth` requests are submitted, the machine runs until idle, repeat.
  const sched = bm.m.sched;
  let done = 0;
  const secs = await timeAsync(async () => {
    while (done < requests) {
      const batch: Promise<unknown>[] = [];
      for (let k = 0; k < depth; k++) {
        const sector = rng.int(sectors / 8) * 8;
        batch.push(rng.chance(0.5) ? d.read(sector, 8) : d.write(sector, buf));
      }
      sched.runSync();
      await Promise.all(batch);
      done += depth;
    }
  });
  return done / secs;
}

async function boots(n: number, withVbd: boolean): Promise<number> {
  const perMachine = 8;
  let done = 0;
  const secs = await timeAsync(async () => {
    while (done < n) {
      const bm = new BlkMachine({ policy: new FifoPolicy(), recordTrace: false });
      await bm.m.settle(
        (async () => {
          await bm.m.startDom0();
          for (let d = 1; d <= perMachine && done < n; d++, done++) {
            const { physical } = bm.image({ sectors: 2048 });
            const { blkfront } = await bm.guest(d);
            if (withVbd) await bm.plug(blkfront, { domid: d, physical });
          }
        })(),
      );
    }
  });
  return n / secs;
}

export async function run({ quick }: BenchOptions): Promise<Record<string, number>> {
  const n = quick ? 4_000 : 40_000;
  await iops(1, 2_000, 32); // warm-up
  const q1 = await iops(1, n, 32);
  const q4 = await iops(4, n, 32);

  // Baseline: the bytes a bounce-buffered 4 KiB request moves (user → granted page → disk).
  const a = new Uint8Array(4096).fill(1);
  const b = new Uint8Array(4096);
  const c = new Uint8Array(1 << 20);
  const m = n * 10;
  const memSecs = timeSync(() => {
    for (let i = 0; i < m; i++) {
      b.set(a);
      c.set(b, (i & 255) * 4096);
    }
  });
  const memcpy = m / memSecs;

  const nb = quick ? 48 : 240;
  await boots(24, true); // warm-up
  const vbd = await boots(nb, true);
  const bare = await boots(nb, false);
  return {
    "blk.iops_4k": q1,
    "blk.iops_4k.q4": q4,
    "blk.ratio_vs_memcpy": q1 / memcpy,
    "sim.boot_vbd_per_s": vbd,
    "sim.boot_vbd_ratio_vs_domain": vbd / bare,
  };
}
