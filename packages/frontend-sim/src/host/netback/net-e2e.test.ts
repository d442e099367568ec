import { FifoPolicy, SeededPolicy } from "@xensim/evtchn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BROADCAST_MAC, formatMac, XEN_NETIF_GSO_TYPE_TCPV4 } from "../../guest/netfront/index.ts";
import { type NetGuest, NetRig, testFrame } from "./net-test-kit.ts";

const BCAST = formatMac(BROADCAST_MAC);

/** Frames a→b and b→a, delivered and compared byte for byte (sorted by their sequence byte). */
async function exchange(rig: NetRig, a: NetGuest, b: NetGuest, sizes: readonly number[]): Promise<void> {
  const fa = rig.front(a);
  const fb = rig.front(b);
  const ab = sizes.map((n, i) => testFrame(b.mac, a.mac, n, i));
  const ba = sizes.map((n, i) => testFrame(a.mac, b.mac, n, 100 + i));
  for (let i = 0; i < sizes.length; i++) {
    expect(fa.send(ab[i]!)).toBe(true);
    expect(fb.send(ba[i]!)).toBe(true);
  }
  await rig.drain();
  const key = (f: Uint8Array): string => `${f.length}:${f[20]}:${f[40]}`;
  const sort = (fs: Uint8Array[]): Uint8Array[] => [...fs].sort((x, y) => (key(x) < key(y) ? -1 : 1));
  expect(sort(fb.takeReceived().map((f) => f.data))).toEqual(sort(ab));
  expect(sort(fa.takeReceived().map((f) => f.data))).toEqual(sort(ba));
}

async function unplugAll(rig: NetRig, gs: readonly NetGuest[]): Promise<void> {
  const ts = rig.machine.toolstack;
  const out = await rig.machine.settle(Promise.all(gs.map((g) => ts.removeDevice(g.spec))));
  expect(out).toEqual(gs.map(() => "clean"));
  for (const g of gs) expect(rig.leaks(g)).toEqual([]);
  expect(rig.dom0Leaks()).toEqual([]);
}

describe("netfront ↔ netback end to end", () => {
  it("plugs two guests, exchanges frames both ways byte for byte, unplugs cleanly (FIFO)", async () => {
    const rig = new NetRig({ policy: new FifoPolicy() });
    const [a, b] = await rig.boot([1, 2]);
    // Both ends Connected, the libxl/netif keys in place.
    expect(rig.read("/local/domain/1/device/vif/0/state")).toBe("4");
    expect(rig.read("/local/domain/0/backend/vif/1/0/state")).toBe("4");
    expect(rig.read("/local/domain/0/backend/vif/1/0/hotplug-status")).toBe("connected");
    expect(rig.read("/local/domain/1/device/vif/0/request-rx-copy")).toBe("1");
    expect(rig.read("/local/domain/1/device/vif/0/multi-queue-num-queues")).toBe("1");
    expect(rig.read("/local/domain/1/device/vif/0/xdp-headroom")).toBe("0");
    expect(rig.read("/local/domain/1/error/device/vif/0/error")).toBeUndefined();
    expect(rig.front(a!).macText).toBe(a!.mac);
    // 60 … 1514 bytes in one slot, 9000 in three, 65535 in sixteen (more_data chains both ways).
    await exchange(rig, a!, b!, [60, 1514, 4096, 4097, 9000, 65535]);
    expect(rig.netback.liveSkbs).toBe(0);
    // The switch learnt both addresses.
    const br = rig.netback.switches.get("xenbr0");
    expect(br.lookup(a!.mac)?.name).toBe("vif1.0");
    expect(br.lookup(b!.mac)?.name).toBe("vif2.0");
    // FE never writes Initialised; BE goes Connected only after hotplug.
    const states = rig.sched.trace
      .all()
      .filter((r) => r.kind === "xenbus.state" && String(r.details.dev).endsWith("vif/1/0"))
      .map((r) => `${r.actor}:${r.details.to}`);
    expect(states).toEqual(["dom0:InitWait", "dom0:Connected"]);
    const fe = rig.sched.trace
      .all()
      .filter((r) => r.kind === "xenbus.state" && r.actor === "dom1")
      .map((r) => r.details.to);
    expect(fe).toEqual(["Connected"]);
    await unplugAll(rig, [a!, b!]);
  });

  it("carries a GSO extra-info slot both ways and floods broadcasts to every other guest", async () => {
    const rig = new NetRig();
    const [a, b, c] = await rig.boot([1, 2, 3]);
    const fa = rig.front(a!);
    const big = testFrame(b!.mac, a!.mac, 9000, 7);
    expect(fa.send(big, { gso: { size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 } })).toBe(true);
    const bc = testFrame(BCAST, a!.mac, 342, 9);
    expect(fa.send(bc)).toBe(true);
    await rig.drain();
    const gotB = rig.front(b!).takeReceived();
    expect(gotB.map((f) => f.data)).toEqual([big, bc]);
    expect(gotB[0]!.gso).toEqual({ size: 1448, type: XEN_NETIF_GSO_TYPE_TCPV4 });
    // c saw the unknown-destination flood of `big` and the broadcast.
    expect(
      rig
        .front(c!)
        .takeReceived()
        .map((f) => f.data),
    ).toEqual([big, bc]);
    const tx = rig.sched.trace.all().find((r) => r.kind === "netfront.tx" && r.details.len === 9000);
    expect(tx?.details.slots).toBe(4); // 3 data slots + the extra
    expect(rig.netback.liveSkbs).toBe(0);
    await unplugAll(rig, [a!, b!, c!]);
  });

  it("reaches the same outcome under many random schedules", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const rig = new NetRig({ policy: new SeededPolicy(seed) });
        const [a, b] = await rig.boot([1, 2]);
        await exchange(rig, a!, b!, [60, 1500, 9000]);
        await unplugAll(rig, [a!, b!]);
      }),
      { numRuns: 12 },
    );
  });

  for (const queues of [1, 2, 4]) {
    for (const split of [true, false]) {
      it(`${queues} queue(s), ${split ? "split" : "shared"} event channels: keys, traffic on every queue, unplug`, async () => {
        const rig = new NetRig({
          netback: { maxQueues: 4, splitEventChannels: split },
          netfront: { maxQueues: queues },
        });
        const [a, b] = await rig.boot([1, 2]);
        const fe = "/local/domain/1/device/vif/0";
        expect(rig.read(`${fe}/multi-queue-num-queues`)).toBe(String(queues));
        const dirs = queues === 1 ? [fe] : Array.from({ length: queues }, (_, i) => `${fe}/queue-${i}`);
        if (queues > 1) expect(rig.read(`${fe}/tx-ring-ref`)).toBeUndefined();
        for (const d of dirs) {
          expect(rig.read(`${d}/tx-ring-ref`)).toMatch(/^\d+$/);
          expect(rig.read(`${d}/rx-ring-ref`)).toMatch(/^\d+$/);
          expect(rig.read(`${d}/event-channel`) !== undefined).toBe(!split);
          expect(rig.read(`${d}/event-channel-tx`) !== undefined).toBe(split);
          expect(rig.read(`${d}/event-channel-rx`) !== undefined).toBe(split);
        }
        expect(rig.netback.vif(1)?.queues.length).toBe(queues);
        // Many flows: every queue carries some, in both directions.
        await exchange(
          rig,
          a!,
          b!,
          Array.from({ length: 24 }, (_, i) => 60 + i * 61),
        );
        for (const g of [a!, b!]) {
          for (const q of rig.front(g).queues) {
            expect(q.stats.txPackets).toBeGreaterThan(0);
            expect(q.stats.rxPackets).toBeGreaterThan(0);
          }
        }
        await unplugAll(rig, [a!, b!]);
      });
    }
  }

  it("survives destroying a domain whose vif is connected", async () => {
    const rig = new NetRig();
    const [a, b] = await rig.boot([1, 2]);
    expect(rig.front(a!).send(testFrame(b!.mac, a!.mac, 100))).toBe(true);
    await rig.drain();
    await rig.machine.settle(rig.machine.toolstack.destroyDomain(1, [a!.spec]));
    // Backend gone; dom0 holds no mapping of dom1's grants and no port bound to dom1. (dom1's own
    // kernel dies with the domain: its XenStore connection is released before it could clean up.)
    expect(rig.read("/local/domain/0/backend/vif/1/0")).toBeUndefined();
    expect(rig.read("/local/domain/1")).toBeUndefined();
    expect(rig.netback.vif(1)).toBeUndefined();
    expect(rig.machine.backendBus.devices.has("backend/vif/1/0")).toBe(false);
    const hv = rig.machine.platform.hypervisor;
    expect(hv.activeMappings(0).filter((m) => m.granter === 1)).toEqual([]);
    const dom0 = rig.machine.platform.evtchn.domain(0);
    const toDom1 = dom0.openPorts().filter((p) => {
      const st = dom0.status(p.port);
      return st.ok && "remoteDom" in st.value && st.value.remoteDom === 1;
    });
    expect(toDom1).toEqual([]);
    // The other guest still talks to the switch (it has nobody to talk to: frames are dropped).
    const fb = rig.front(b!);
    expect(fb.send(testFrame(a!.mac, b!.mac, 100))).toBe(true);
    await rig.drain();
    expect(fb.broken).toBe(false);
    expect(rig.netback.liveSkbs).toBe(0);
    await rig.machine.settle(rig.machine.toolstack.removeDevice(b!.spec));
    expect(rig.leaks(b!)).toEqual([]);
  });
});
