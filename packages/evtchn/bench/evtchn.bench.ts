// Scheduler and event-channel throughput. Baseline in the same run: a bare JS loop calling the same
// number of closures, so `sched.ratio_vs_closure_loop` says what the scheduler's bookkeeping costs.

import { type BenchOptions, opsPerSecond, timeAsync } from "../../../scripts/bench-kit.ts";
import { EventChannels, Scheduler, SeededPolicy } from "../src/index.ts";

export async function run({ quick }: BenchOptions): Promise<Record<string, number>> {
  const minMs = quick ? 50 : 300;

  // Scheduler: tasks/s with 4 actors re-posting themselves (no trace recording).
  const tasksPerSec = opsPerSecond((n) => {
    const s = new Scheduler({ policy: new SeededPolicy(1), trace: { record: false } });
    let left = n;
    const actors = ["a", "b", "c", "d"];
    for (const a of actors) {
      const tick = (): void => {
        if (left-- > 0) s.post(a, "t", tick);
      };
      s.post(a, "t", tick);
    }
    s.runSync();
    return n;
  }, minMs);

  const closuresPerSec = opsPerSecond((n) => {
    const q: (() => void)[] = [];
    let left = n;
    const tick = (): void => {
      if (left-- > 0) q.push(tick);
    };
    q.push(tick);
    for (let i = 0; i < q.length; i++) q[i]!();
    return n;
  }, minMs);

  // Async run loop (settles promise continuations between steps).
  const asyncN = quick ? 20_000 : 100_000;
  const asyncSecs = await timeAsync(async () => {
    const s = new Scheduler({ trace: { record: false } });
    let left = asyncN;
    const tick = async (): Promise<void> => {
      await null;
      if (left-- > 0) s.post("a", "t", tick);
    };
    s.post("a", "t", tick);
    await s.run();
  });

  // Event channels: send → upcall round trips between two domains (ping-pong).
  const sendsPerSec = opsPerSecond((n) => {
    const s = new Scheduler({ trace: { record: false } });
    const ev = new EventChannels(s);
    const d0 = ev.addDomain(0, { privileged: true });
    const d1 = ev.addDomain(1);
    const fp = d1.allocUnbound(0);
    const bp = d0.bindInterdomain(1, fp.ok ? fp.value : 0);
    const f = fp.ok ? fp.value : 0;
    const b = bp.ok ? bp.value : 0;
    let left = n;
    d0.bindHandler(b, () => {
      if (left-- > 0) d0.send(b);
    });
    d1.bindHandler(f, () => {
      if (left-- > 0) d1.send(f);
    });
    d1.send(f);
    s.runSync();
    return n;
  }, minMs);

  return {
    "sched.tasks_per_s": tasksPerSec,
    "sched.ratio_vs_closure_loop": tasksPerSec / closuresPerSec,
    "sched.async_tasks_per_s": asyncN / asyncSecs,
    "evtchn.send_upcall_per_s": sendsPerSec,
  };
}
