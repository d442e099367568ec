// Network benchmarks. sim.boot_vif_per_s: whole boots per second of wall time (machine, dom0,
// domain create, vif plugged until both ends are Connected), trace recording off; beside it, in
// the same run, boots of the same domain without a vif. net.packets_per_s: 1500-byte frames from
// one guest to another through netfront's TX ring, netback's grant copy in, the switch, netback's
// grant copy out and netfront's RX ring; beside it a plain Uint8Array.set loop over the same bytes.
import { FifoPolicy } from "@xensim/evtchn";
import { type BenchOptions, opsPerSecond, timeAsync } from "../../../scripts/bench-kit.ts";
import { Machine } from "../src/host/machine.ts";
import { NetRig, testFrame } from "../src/host/netback/net-test-kit.ts";

async function vifBoots(n: number): Promise<number> {
  const secs = await timeAsync(async () => {
    for (let i = 0; i < n; i++) {
      const rig = new NetRig({ policy: new FifoPolicy(), recordTrace: false });
      await rig.boot([1]);
    }
  });
  return n / secs;
}

async function domainBoots(n: number): Promise<number> {
  const secs = await timeAsync(async () => {
    for (let i = 0; i < n; i++) {
      const m = new Machine({ policy: new FifoPolicy(), recordTrace: false, backends: [] });
      await m.settle(
        (async () => {
          await m.startDom0();
          await m.createGuest(1, []);
        })(),
      );
    }
  });
  return n / secs;
}

/** Frames a → b per second; the data path is callback-driven, so the scheduler runs synchronously. */
async function packets(total: number): Promise<number> {
  const rig = new NetRig({ policy: new FifoPolicy(), recordTrace: false });
  const [a, b] = await rig.boot([1, 2]);
  const fa = rig.front(a!);
  const fb = rig.front(b!);
  let received = 0;
  fb.onReceive(() => {
    received++;
  });
  fa.onReceive(() => undefined);
  // Let the switch learn b's address first (otherwise the first frame floods).
  fb.send(testFrame(a!.mac, b!.mac, 60));
  rig.sched.runSync();
  const frame = testFrame(b!.mac, a!.mac, 1500);
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    for (let k = 0; k < 64 && sent < total; k++) {
      if (!fa.send(frame)) break;
      sent++;
    }
    rig.sched.runSync();
  }
  const secs = (performance.now() - t0) / 1000;
  if (received !== total) throw new Error(`net bench: ${received} of ${total} frames arrived`);
  return total / secs;
}

export async function run({ quick }: BenchOptions): Promise<Record<string, number>> {
  const boots = quick ? 10 : 60;
  await vifBoots(3); // warm-up
  const vif = await vifBoots(boots);
  const plain = await domainBoots(boots);
  const n = quick ? 5_000 : 50_000;
  await packets(2_000); // warm-up
  const pps = await packets(n);
  const src = testFrame("00:16:3e:00:00:02", "00:16:3e:00:00:01", 1500);
  const dst = new Uint8Array(1500);
  const memcpy = opsPerSecond((k) => {
    for (let i = 0; i < k; i++) {
      src[14] = i & 0xff;
      dst.set(src);
    }
    return k;
  });
  return {
    "sim.boot_vif_per_s": vif,
    "sim.boot_vif_ratio_vs_domain_boot": vif / plain,
    "net.packets_per_s": pps,
    "net.bytes_per_s": pps * 1500,
    "net.ratio_vs_memcpy": pps / memcpy,
  };
}
