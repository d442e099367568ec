// Shared rings whose free-running indices start just below 2³² (the `ring-index-wrap` fault):
// netfront/netback and blkfront/blkback keep working across the wrap, because frontends start
// where their kernel says and backends attach at the header's rsp_prod (Linux BACK_RING_ATTACH).
import { SeededPolicy } from "@xensim/evtchn";
import {
  checkQuiescentInvariants,
  ethernetFrame,
  Machine,
  NetbackDriver,
  NetfrontDriver,
  netfrontOf,
  parseMac,
  vifSpec,
  XenbusState,
} from "@xensim/frontend-sim";
import { describe, expect, it } from "vitest";
import { Blkfront } from "../packages/frontend-sim/src/guest/blkfront/index.ts";
import { Blkback, BlockDevices, MemoryDisk } from "../packages/frontend-sim/src/host/blkback/index.ts";
import { vbdSpec } from "../packages/frontend-sim/src/host/toolstack/device-spec.ts";
import { vbdPatternCheck } from "../packages/frontend-sim/src/lifecycle/blk-lifecycle.ts";

describe("ring indices starting near 2^32", () => {
  it("carries frames and disk I/O across the wrap and tears down cleanly", async () => {
    const disks = new BlockDevices();
    const m = new Machine({
      policy: new SeededPolicy(3),
      backends: [new NetbackDriver(), new Blkback({ disks })],
    });
    const start = 0xffff_fffb;
    const seen: number[] = [];
    const failures: string[] = [];
    const vif = vifSpec({ domid: 1, devid: 0, mac: "00:16:3e:00:00:01" });
    const vif2 = vifSpec({ domid: 2, devid: 0, mac: "00:16:3e:00:00:02" });
    await m.settle(
      (async () => {
        await m.startDom0();
        const blkfront = new Blkfront();
        const g1 = await m.createGuest(1, [new NetfrontDriver(), blkfront]);
        await m.createGuest(2, [new NetfrontDriver()]);
        g1.kernel.ringStartIndex = start;
        const vbd = vbdSpec({ domid: 1, physical: disks.attach(new MemoryDisk({ sectors: 4096 })) });
        for (const s of [vif, vif2, vbd]) await m.toolstack.addDevice(s);
        for (const d of [1, 2])
          await m.toolstack.waitForState(
            `/local/domain/0/backend/vif/${d}/0/state`,
            (s) => s === XenbusState.Connected,
            1e10,
          );
        netfrontOf(m.guests.get(2)!.bus, 0)!.onReceive((f) => seen.push(f.data[14]!));
        const nf = netfrontOf(g1.bus, 0)!;
        for (let i = 0; i < 20; i++) {
          nf.send(
            ethernetFrame(
              parseMac("00:16:3e:00:00:02")!,
              parseMac("00:16:3e:00:00:01")!,
              0x88b5,
              new Uint8Array(60).fill(i),
            ),
          );
          await m.sched.sleep("test", 10_000);
        }
        const disk = await blkfront.device("xvda");
        for (let i = 0; i < 8; i++) failures.push(...(await vbdPatternCheck(disk, i * 64, 16)));
        for (const s of [vif, vif2, vbd]) await m.toolstack.removeDevice(s);
      })(),
    );
    expect(seen).toEqual([...Array(20).keys()]);
    expect(failures).toEqual([]);
    // The indices really wrapped: the trace shows the tx ring's producer past 2^32 (mod: small).
    const wrapped = m.sched.trace
      .all()
      .filter((r) => r.kind === "ring.indices" && String(r.details.dev).startsWith("backend/vif/1/"))
      .some((r) => (r.details.req_prod as number) < 1000);
    expect(wrapped).toBe(true);
    expect(checkQuiescentInvariants(m)).toEqual([]);
  });
});
