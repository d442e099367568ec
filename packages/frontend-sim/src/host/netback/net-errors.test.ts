import { describe, expect, it } from "vitest";
import { NetfrontDriver } from "../../guest/netfront/index.ts";
import { XenbusError } from "../../guest/xenbus/xenbus-error.ts";
import { XBT_NIL } from "../../guest/xenbus/xs-client.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import { XenbusState as S } from "../../xenbus/xenbus-state.ts";
import { Machine } from "../machine.ts";
import { vifSpec } from "../toolstack/device-spec.ts";
import { macFor, NetRig } from "./net-test-kit.ts";
import { NetbackDriver } from "./netback.ts";

const FE = "/local/domain/1/device/vif/0";
const BE = "/local/domain/0/backend/vif/1/0";

async function waitBoth(rig: NetRig, fe: number, be: number): Promise<void> {
  const ts = rig.machine.toolstack;
  await ts.waitForState(`${FE}/state`, (s) => s === fe, 1e11);
  await ts.waitForState(`${BE}/state`, (s) => s === be, 1e11);
}

describe("netfront/netback error paths", () => {
  for (const [what, mac] of [
    ["missing", undefined],
    ["five octets", "00:16:3e:00:01"],
    ["not hex", "00:16:3e:00:zz:01"],
  ] as const) {
    it(`mac ${what}: "2 parsing device/vif/0/mac", frontend Closed and unregistered, backend Closed`, async () => {
      const rig = new NetRig();
      const spec = vifSpec({ domid: 1, devid: 0, mac: macFor(1) });
      const frontend: Record<string, string> = { ...spec.frontend };
      if (mac === undefined) delete frontend.mac;
      else frontend.mac = mac;
      const g = await rig.machine.settle(
        (async () => {
          await rig.machine.startDom0();
          const g = await rig.createGuest(1);
          await rig.machine.toolstack.addDevice({ ...spec, frontend });
          await waitBoth(rig, S.Closed, S.Closed);
          return g;
        })(),
      );
      await rig.drain();
      expect(rig.read(`/local/domain/1/error/device/vif/0/error`)).toBe("2 parsing device/vif/0/mac");
      expect(rig.read(`${FE}/state`)).toBe("6");
      expect(rig.read(`${BE}/state`)).toBe("6");
      expect(rig.read(`${FE}/tx-ring-ref`)).toBeUndefined();
      // The frontend went Closing (the fatal), then Closed; the backend followed.
      const fe = rig.sched.trace
        .all()
        .filter((r) => r.kind === "xenbus.state" && r.actor === "dom1")
        .map((r) => r.details.to);
      expect(fe).toEqual(["Closing", "Closed"]);
      expect(g.guest.bus.devices.size).toBe(0);
      expect(g.driver.devices.size).toBe(0);
      expect(g.guest.kernel.grantTable.allocatedRefs()).toEqual([]);
      expect(rig.machine.platform.evtchn.openPorts().filter((p) => p.domid === 1)).toHaveLength(1);
      // The toolstack can still remove what is left.
      expect(await rig.machine.settle(rig.machine.toolstack.removeDevice(spec))).toBe("clean");
      expect(rig.leaks(g)).toEqual([]);
    });
  }

  it("backend without feature-rx-copy: frontend stays Initialising and writes nothing", async () => {
    // A backend that reaches InitWait offering everything but the copying receive path.
    const noRxCopy: XenbusDriver = {
      type: "vif",
      async probe(dev) {
        await dev.xb.write(XBT_NIL, `${dev.nodename}/feature-sg`, "1");
        await dev.xb.write(XBT_NIL, `${dev.nodename}/feature-rx-flip`, "0");
      },
      async otherendChanged(dev, fe) {
        if (fe === S.Initialising) await dev.switchState(S.InitWait);
      },
      async remove() {},
    };
    const m = new Machine({ backends: [noRxCopy] });
    const driver = new NetfrontDriver();
    const g = await m.settle(
      (async () => {
        await m.startDom0();
        const g = await m.createGuest(1, [driver]);
        await m.toolstack.addDevice(vifSpec({ domid: 1, devid: 0, mac: macFor(1) }));
        return g;
      })(),
    );
    const s = m.platform.xenstored.direct(0);
    expect(s.readString(`${BE}/state`)).toEqual({ ok: true, value: "2" });
    expect(s.readString(`${FE}/state`)).toEqual({ ok: true, value: "1" });
    expect(s.directory(FE)).toEqual({
      ok: true,
      value: ["backend", "handle", "mac", "trusted", "backend-id", "state", "mtu"],
    });
    expect(s.read("/local/domain/1/error/device/vif/0/error").ok).toBe(false);
    const dev = driver.device(0)!;
    expect(dev.queues).toEqual([]);
    expect(dev.connected).toBe(false);
    expect(dev.send(new Uint8Array(60))).toBe(false);
    expect(g.kernel.grantTable.allocatedRefs()).toEqual([]);
    expect(m.platform.evtchn.openPorts().filter((p) => p.domid === 1)).toHaveLength(1);
    expect(m.sched.trace.all().some((r) => r.kind === "netfront.no_rx_copy")).toBe(true);
  });

  it('frontend asking more queues than offered: backend fatal "guest requested 9 queues, exceeding the maximum of 4."', async () => {
    // A hostile frontend: claims 9 queues and goes Connected; closes when the backend does.
    const greedy: XenbusDriver = {
      type: "vif",
      async probe() {},
      async otherendChanged(dev, be) {
        if (be === S.InitWait && dev.state === S.Initialising) {
          await dev.xb.write(XBT_NIL, `${dev.nodename}/multi-queue-num-queues`, "9");
          await dev.xb.write(XBT_NIL, `${dev.nodename}/request-rx-copy`, "1");
          await dev.switchState(S.Connected);
        } else if (be === S.Closing) {
          await dev.switchState(S.Closed);
        }
      },
      async remove() {},
    };
    const netback = new NetbackDriver({ maxQueues: 4 });
    const m = new Machine({ backends: [netback] });
    await m.settle(
      (async () => {
        await m.startDom0();
        await m.createGuest(1, [greedy]);
        await m.toolstack.addDevice(vifSpec({ domid: 1, devid: 0, mac: macFor(1) }));
        await m.toolstack.waitForState(`${BE}/state`, (st) => st === S.Closed, 1e11);
      })(),
    );
    const s = m.platform.xenstored.direct(0);
    expect(s.readString("/local/domain/0/error/backend/vif/1/0/error")).toEqual({
      ok: true,
      value: "22 guest requested 9 queues, exceeding the maximum of 4.",
    });
    expect(s.readString(`${BE}/multi-queue-max-queues`)).toEqual({ ok: true, value: "4" });
    expect(s.readString(`${FE}/state`)).toEqual({ ok: true, value: "6" });
    const be = m.sched.trace
      .all()
      .filter((r) => r.kind === "xenbus.state" && r.actor === "dom0")
      .map((r) => r.details.to);
    expect(be).toEqual(["InitWait", "Closing", "Closed"]);
    expect(netback.vif(1)?.queues).toEqual([]);
    expect(m.platform.hypervisor.activeMappings(0).filter((x) => x.granter === 1 && x.ref !== 1)).toEqual([]);
  });

  it("backend writes Connected only once the hotplug script reports connected", async () => {
    const rig = new NetRig();
    const spec = vifSpec({ domid: 1, devid: 0, mac: macFor(1) });
    const ts = rig.machine.toolstack;
    await rig.machine.settle(
      (async () => {
        await rig.machine.startDom0();
        await rig.createGuest(1);
        // libxl without its hotplug step: nobody writes hotplug-status yet.
        await ts.addDevice(spec, { waitHotplug: false });
        await ts.waitForState(`${FE}/state`, (st) => st === S.Connected, 1e11);
      })(),
    );
    await rig.drain();
    expect(rig.read(`${BE}/state`)).toBe("2");
    expect(rig.netback.vif(1)?.queues).toHaveLength(1); // connected underneath, state deferred
    await rig.machine.settle(
      (async () => {
        await ts.xb.write(XBT_NIL, `${BE}/hotplug-status`, "connected");
        await ts.waitForState(`${BE}/state`, (st) => st === S.Connected, 1e11);
      })(),
    );
    expect(rig.read(`${BE}/state`)).toBe("4");
  });

  it("a failed hotplug script leaves the backend at InitWait (the frontend waits)", async () => {
    const rig = new NetRig();
    const spec = vifSpec({ domid: 1, devid: 0, mac: macFor(1), hotplugStatus: "error" });
    await rig.machine.settle(
      (async () => {
        await rig.machine.startDom0();
        await rig.createGuest(1);
        await rig.machine.toolstack.addDevice(spec);
        await rig.machine.toolstack.waitForState(`${FE}/state`, (st) => st === S.Connected, 1e11);
      })(),
    );
    await rig.drain();
    expect(rig.read(`${BE}/state`)).toBe("2");
    expect(rig.read(`${BE}/hotplug-status`)).toBe("error");
  });

  it("talk_to_netback redoes its writes on EAGAIN without reallocating rings or ports", async () => {
    const rig = new NetRig();
    const spec = vifSpec({ domid: 1, devid: 0, mac: macFor(1) });
    const g = await rig.machine.settle(
      (async () => {
        await rig.machine.startDom0();
        return rig.createGuest(1);
      })(),
    );
    // The guest's first commit fails with EAGAIN, as when xenstored saw a conflicting write.
    const xb = g.guest.kernel.xenbus;
    const end = xb.transactionEnd.bind(xb);
    let commits = 0;
    xb.transactionEnd = async (tx, abort) => {
      if (!abort && commits++ === 0) {
        await end(tx, true);
        throw new XenbusError("EAGAIN", "transaction_end");
      }
      return end(tx, abort);
    };
    await rig.machine.settle(rig.plug(g, spec));
    expect(commits).toBe(3); // the failed commit, the retry, then switch_state(Connected)
    expect(rig.sched.trace.all().filter((r) => r.kind === "netfront.tx_retry")).toHaveLength(1);
    const grants = rig.sched.trace.all().filter((r) => r.kind === "xenbus.grant_ring" && r.actor === "dom1");
    expect(grants).toHaveLength(2); // one TX and one RX ring, granted once
    const q = rig.front(g).queues[0]!;
    expect(rig.read(`${FE}/tx-ring-ref`)).toBe(String(q.txRing!.refs[0]));
    expect(rig.read(`${FE}/event-channel-tx`)).toBe(String(q.txEvtchn));
    expect(rig.machine.platform.evtchn.openPorts().filter((p) => p.domid === 1)).toHaveLength(3);
    expect(await rig.machine.settle(rig.machine.toolstack.removeDevice(spec))).toBe("clean");
    expect(rig.leaks(g)).toEqual([]);
  });
});
