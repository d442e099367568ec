// xenstored live update (Platform.restartXenstored, the `xenstored-restart` fault and the
// explorer's `xsrestart` command): the daemon saves its whole state and a new one is restored
// from it while guests and dom0 processes keep their rings and sockets. Nothing a client can
// see may change: watches keep firing, open transactions commit, handshakes finish.
import { SeededPolicy } from "@xensim/evtchn";
import {
  checkQuiescentInvariants,
  Machine,
  NetbackDriver,
  NetfrontDriver,
  vifSpec,
  XBT_NIL,
  XenbusState,
} from "@xensim/frontend-sim";
import { describe, expect, it } from "vitest";
import { Blkfront } from "../packages/frontend-sim/src/guest/blkfront/index.ts";
import { Blkback, BlockDevices, MemoryDisk } from "../packages/frontend-sim/src/host/blkback/index.ts";
import { vbdSpec } from "../packages/frontend-sim/src/host/toolstack/device-spec.ts";
import { vbdPatternCheck } from "../packages/frontend-sim/src/lifecycle/blk-lifecycle.ts";

function restarts(m: Machine): number {
  return m.sched.trace.all().filter((r) => r.kind === "xs.restart").length;
}

describe("xenstored live update", () => {
  it("keeps a guest's watch and a dom0 transaction across a restart", async () => {
    const m = new Machine({ policy: new SeededPolicy(1), backends: [new NetbackDriver()] });
    const fired: string[] = [];
    let committed = "";
    await m.settle(
      (async () => {
        await m.startDom0();
        const g = await m.createGuest(1, [new NetfrontDriver()]);
        const xb = g.kernel.xenbus;
        await xb.write(XBT_NIL, "data/probe", "0");
        await xb.watch("data/probe", (path) => {
          fired.push(path);
        });
        const dom0 = m.platform.dom0Client("tester");
        const tx = await dom0.transactionStart();
        await dom0.write(tx, "/local/domain/1/data/probe", "in-tx");
        const before = m.platform.xenstored;
        await new Promise<void>((resolve) =>
          m.sched.post("xenstored", "xs.live-update", () => {
            m.platform.restartXenstored();
            resolve();
          }),
        );
        expect(m.platform.xenstored).not.toBe(before);
        await dom0.write(tx, "/local/domain/1/data/other", "also-in-tx");
        await dom0.transactionEnd(tx, false);
        committed = await xb.readString(XBT_NIL, "data/other");
      })(),
    );
    expect(committed).toBe("also-in-tx");
    // The initial event, then the commit's (relative path: the guest watched a relative one).
    expect(fired).toEqual(["data/probe", "data/probe"]);
    expect(restarts(m)).toBe(1);
  });

  it("boots a vif and a vbd to Connected while xenstored restarts every 5 µs, then tears down cleanly", async () => {
    const disks = new BlockDevices();
    const m = new Machine({
      policy: new SeededPolicy(4),
      backends: [new NetbackDriver(), new Blkback({ disks })],
    });
    const vif = vifSpec({ domid: 1, devid: 0, mac: "00:16:3e:00:00:01" });
    let done = false;
    const failures: string[] = [];
    await m.settle(
      (async () => {
        await m.startDom0();
        const blkfront = new Blkfront();
        await m.createGuest(1, [new NetfrontDriver(), blkfront]);
        // The updater: a live update on the xenstored actor every 5 µs of virtual time.
        void (async () => {
          while (!done) {
            await m.sched.sleep("live-updater", 5_000);
            if (!done) m.sched.post("xenstored", "xs.live-update", () => m.platform.restartXenstored());
          }
        })();
        const vbd = vbdSpec({ domid: 1, physical: disks.attach(new MemoryDisk({ sectors: 2048 })) });
        await m.toolstack.addDevice(vif);
        await m.toolstack.addDevice(vbd);
        await m.toolstack.waitForState(
          "/local/domain/0/backend/vif/1/0/state",
          (s) => s === XenbusState.Connected,
          1e11,
        );
        const disk = await blkfront.device("xvda");
        failures.push(...(await vbdPatternCheck(disk, 0, 16)));
        await m.toolstack.removeDevice(vif);
        await m.toolstack.removeDevice(vbd);
        done = true;
      })(),
    );
    expect(failures).toEqual([]);
    expect(restarts(m)).toBeGreaterThan(20);
    expect(checkQuiescentInvariants(m)).toEqual([]);
  });
});
