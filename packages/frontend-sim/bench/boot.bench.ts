// sim.boot_vif_vbd_per_s: full boots per second of wall time on one core — domain create, then a
// vif and a vbd each through its handshake to Connected/Connected — with the trace off. Beside it,
// in the same run, bare domain creations on the same machine shape (the ratio says what the two
// device handshakes cost on top of building and introducing a domain).
import { FifoPolicy } from "@xensim/evtchn";
import { type BenchOptions, timeAsync } from "../../../scripts/bench-kit.ts";
import { Blkfront } from "../src/guest/blkfront/index.ts";
import { NetfrontDriver } from "../src/guest/netfront/index.ts";
import { Blkback, BlockDevices, MemoryDisk } from "../src/host/blkback/index.ts";
import { Machine } from "../src/host/machine.ts";
import { NetbackDriver } from "../src/host/netback/index.ts";
import { vbdSpec, vifSpec } from "../src/host/toolstack/device-spec.ts";
import { XenbusState } from "../src/xenbus/xenbus-state.ts";

const PER_MACHINE = 8;

async function boots(n: number, devices: boolean): Promise<number> {
  let done = 0;
  const secs = await timeAsync(async () => {
    while (done < n) {
      const disks = new BlockDevices();
      const m = new Machine({
        policy: new FifoPolicy(),
        recordTrace: false,
        backends: [new NetbackDriver(), new Blkback({ disks })],
      });
      await m.settle(
        (async () => {
          await m.startDom0();
          for (let d = 1; d <= PER_MACHINE && done < n; d++, done++) {
            const blkfront = new Blkfront();
            await m.createGuest(d, [new NetfrontDriver(), blkfront]);
            if (!devices) continue;
            const mac = `00:16:3e:00:01:${d.toString(16).padStart(2, "0")}`;
            await m.toolstack.addDevice(vifSpec({ domid: d, devid: 0, mac }));
            await m.toolstack.addDevice(
              vbdSpec({ domid: d, physical: disks.attach(new MemoryDisk({ sectors: 2048 })) }),
            );
            await m.toolstack.waitForState(
              `/local/domain/0/backend/vif/${d}/0/state`,
              (s) => s === XenbusState.Connected,
              1e11,
            );
            await blkfront.device("xvda");
          }
        })(),
      );
    }
  });
  return n / secs;
}

export async function run({ quick }: BenchOptions): Promise<Record<string, number>> {
  const n = quick ? 8 : 48;
  await boots(quick ? 4 : 48, true); // warm-up: the JIT settles after a few dozen boots
  const full = await boots(n, true);
  const bare = await boots(n, false);
  return {
    "sim.boot_vif_vbd_per_s": full,
    "sim.boot_vif_vbd_ratio_vs_domain_boot": full / bare,
  };
}
