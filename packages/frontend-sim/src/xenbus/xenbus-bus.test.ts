import { SeededPolicy } from "@xensim/evtchn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XBT_NIL } from "../guest/xenbus/xs-client.ts";
import { checkQuiescentInvariants } from "../host/invariants.ts";
import { Machine } from "../host/machine.ts";
import type { DeviceSpec } from "../host/toolstack/device-spec.ts";
import type { XenbusDriver } from "./driver.ts";
import type { XenbusDevice } from "./xenbus-device.ts";
import { XenbusState as S } from "./xenbus-state.ts";

/** A toy frontend: on backend InitWait publish an event channel and go Connected (netfront-like). */
const toyFront: XenbusDriver = {
  type: "toy",
  async probe() {},
  async otherendChanged(dev: XenbusDevice, be) {
    if (be === S.InitWait && dev.state === S.Initialising) {
      const port = await dev.allocEvtchn();
      if (port === null) return;
      dev.data = port;
      await dev.xb.write(XBT_NIL, `${dev.nodename}/event-channel`, String(port));
      await dev.switchState(S.Connected);
    } else if (be === S.Closing || be === S.Closed) {
      if (typeof dev.data === "number") await dev.freeEvtchn(dev.data);
      dev.data = undefined;
      await dev.switchState(S.Closed);
    }
  },
  async remove(dev) {
    if (typeof dev.data === "number") await dev.freeEvtchn(dev.data);
  },
};

/** A toy backend: InitWait at probe; on frontend Connected bind its port and connect. */
const toyBack: XenbusDriver = {
  type: "toy",
  async probe(dev) {
    await dev.switchState(S.InitWait);
  },
  async otherendChanged(dev, fe) {
    if (fe === S.Connected && dev.state === S.InitWait) {
      const port = Number(await dev.xb.readString(XBT_NIL, `${dev.otherend}/event-channel`));
      const r = dev.kernel.events.bindInterdomain(dev.otherendId, port);
      if (!r.ok) return dev.devFatal(r.errno, "binding event channel");
      dev.data = r.value;
      await dev.switchState(S.Connected);
    } else if (fe === S.Closed || fe === S.Closing) {
      if (typeof dev.data === "number") dev.kernel.events.close(dev.data);
      dev.data = undefined;
      await dev.switchState(S.Closed);
    }
  },
  async remove(dev) {
    if (typeof dev.data === "number") dev.kernel.events.close(dev.data);
  },
};

const toySpec = (domid: number): DeviceSpec => ({
  kind: "toy",
  domid,
  devid: 0,
  backendDomid: 0,
  frontend: { flavour: "plain" },
  backend: { mode: "w" },
});

async function plugAndUnplug(seed: number) {
  const m = new Machine({ policy: new SeededPolicy(seed), backends: [toyBack] });
  const states: string[] = [];
  const run = (async () => {
    await m.startDom0();
    const g = await m.createGuest(1, [toyFront]);
    await m.toolstack.addDevice(toySpec(1));
    // Wait until both ends are Connected, as a user's test would: by watching state.
    await m.toolstack.waitForState("/local/domain/1/device/toy/0/state", (s) => s === S.Connected, 1e9);
    await m.toolstack.waitForState("/local/domain/0/backend/toy/1/0/state", (s) => s === S.Connected, 1e9);
    states.push("connected");
    const fe = g.bus.device("device/toy/0")!;
    const be = m.backendBus.device("backend/toy/1/0")!;
    expect(fe.otherend).toBe("/local/domain/0/backend/toy/1/0");
    expect(be.otherend).toBe("/local/domain/1/device/toy/0");
    expect(m.platform.evtchn.domain(0).status(be.data as number)).toMatchObject({
      ok: true,
      value: { status: "interdomain", remoteDom: 1, remotePort: fe.data },
    });
    const outcome = await m.toolstack.removeDevice(toySpec(1));
    states.push(outcome);
    return g;
  })();
  const g = await m.settle(run);
  return { m, g, states };
}

describe("XenBus framework: buses, toolstack, switch_state", () => {
  it("plugs a device to Connected/Connected and unplugs it cleanly", async () => {
    const { m, g, states } = await plugAndUnplug(1);
    expect(states).toEqual(["connected", "clean"]);
    expect(checkQuiescentInvariants(m)).toEqual([]);
    expect(g.bus.devices.size).toBe(0);
    expect(m.backendBus.devices.size).toBe(0);
    const store = m.platform.xenstored.direct(0);
    expect(store.read("/local/domain/1/device/toy/0")).toEqual({ ok: false, errno: "ENOENT" });
    expect(store.read("/local/domain/0/backend/toy/1/0")).toEqual({ ok: false, errno: "ENOENT" });
    // No event channel left between the two (the store port of dom1 remains).
    expect(
      m.platform.evtchn.openPorts().filter((p) => p.domid === 0 && p.status === "interdomain").length,
    ).toBe(1);
    const kinds = m.sched.trace
      .all()
      .filter((r) => r.kind === "xenbus.state")
      .map((r) => `${r.actor}:${r.details.to}`);
    expect(kinds).toEqual([
      "dom0:InitWait",
      "dom1:Connected",
      "dom0:Connected",
      "dom1:Closed",
      "dom0:Closed",
    ]);
  });

  it("reaches the same end states under many schedules", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const { states, g, m } = await plugAndUnplug(seed);
        expect(states).toEqual(["connected", "clean"]);
        expect(g.bus.devices.size + m.backendBus.devices.size).toBe(0);
        expect(checkQuiescentInvariants(m)).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it("writes the libxl layout and permissions for a device", async () => {
    const m = new Machine({ backends: [] });
    const spec = toySpec(2);
    await m.settle(
      (async () => {
        await m.createGuest(2, []);
        await m.toolstack.addDevice(spec, { waitHotplug: false });
      })(),
    );
    const s = m.platform.xenstored.direct(0);
    expect(s.getPerms("/local/domain/2/device/toy/0")).toEqual({ ok: true, value: ["n2", "r0"] });
    expect(s.getPerms("/local/domain/0/backend/toy/2/0")).toEqual({ ok: true, value: ["n0", "r2"] });
    expect(s.readString("/local/domain/2/device/toy/0/backend")).toEqual({
      ok: true,
      value: "/local/domain/0/backend/toy/2/0",
    });
    expect(s.readString("/local/domain/0/backend/toy/2/0/frontend-id")).toEqual({ ok: true, value: "2" });
    expect(s.readString("/local/domain/2/device/toy/0/state")).toEqual({ ok: true, value: "1" });
    expect(s.readString("/local/domain/2/store/port").ok).toBe(true);
  });

  it("detects a leaked event channel and a leaked grant", async () => {
    const { m, g } = await plugAndUnplug(2);
    g.kernel.events.allocUnbound(0);
    const gfn = g.kernel.memory.allocate() as number;
    g.kernel.grantTable.grantForeignAccess(0, gfn, false);
    const f = checkQuiescentInvariants(m);
    expect(f.some((l) => l.startsWith("leaked event channel: dom1"))).toBe(true);
    expect(f.some((l) => l.startsWith("leaked grants: dom1"))).toBe(true);
  });

  it("reports dev_fatal as an error node and Closing", async () => {
    const failing: XenbusDriver = {
      ...toyFront,
      async otherendChanged(dev, be) {
        if (be === S.InitWait) await dev.devFatal("ENOENT", `parsing ${dev.nodename}/mac`);
      },
    };
    const m = new Machine({ backends: [toyBack] });
    await m.settle(
      (async () => {
        await m.startDom0();
        await m.createGuest(3, [failing]);
        await m.toolstack.addDevice(toySpec(3));
        await m.toolstack.waitForState("/local/domain/3/device/toy/0/state", (s) => s === S.Closing, 1e9);
      })(),
    );
    const s = m.platform.xenstored.direct(0);
    expect(s.readString("/local/domain/3/error/device/toy/0/error")).toEqual({
      ok: true,
      value: "2 parsing device/toy/0/mac",
    });
  });
});
