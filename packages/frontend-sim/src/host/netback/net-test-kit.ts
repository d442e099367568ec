// Shared set-up for the netfront/netback tests and the net benchmark: a machine with netback in
// dom0, guests running netfront, vifs plugged through the toolstack, and the leak checks.
import type { ChoicePolicy } from "@xensim/evtchn";
import { GNTTAB_RESERVED_XENSTORE } from "@xensim/ring";
import {
  type NetfrontDevice,
  NetfrontDriver,
  type NetfrontOptions,
  netfrontOf,
} from "../../guest/netfront/index.ts";
import { XenbusState } from "../../xenbus/xenbus-state.ts";
import { type Guest, Machine } from "../machine.ts";
import { type DeviceSpec, vifSpec } from "../toolstack/device-spec.ts";
import { NetbackDriver, type NetbackOptions } from "./netback.ts";

export interface NetRigOptions {
  readonly policy?: ChoicePolicy;
  readonly netback?: NetbackOptions;
  readonly netfront?: NetfrontOptions;
  readonly recordTrace?: boolean;
}

export interface NetGuest {
  readonly domid: number;
  readonly guest: Guest;
  readonly driver: NetfrontDriver;
  readonly spec: DeviceSpec;
  readonly mac: string;
  /** Guest pages allocated before the vif was plugged (the XenStore page). */
  readonly pagesBefore: number;
}

export function macFor(domid: number): string {
  return `00:16:3e:00:00:${domid.toString(16).padStart(2, "0")}`;
}

export function macBytes(mac: string): Uint8Array {
  return new Uint8Array(mac.split(":").map((x) => Number.parseInt(x, 16)));
}

export class NetRig {
  readonly netback: NetbackDriver;
  readonly machine: Machine;
  readonly guests = new Map<number, NetGuest>();

  constructor(readonly options: NetRigOptions = {}) {
    this.netback = new NetbackDriver(options.netback);
    this.machine = new Machine({
      backends: [this.netback],
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.recordTrace === false ? { recordTrace: false } : {}),
    });
  }

  get sched() {
    return this.machine.sched;
  }

  /** Creates the guest (netfront loaded) without plugging anything. */
  async createGuest(domid: number, netfront?: NetfrontOptions): Promise<NetGuest> {
    const driver = new NetfrontDriver(netfront ?? this.options.netfront);
    const guest = await this.machine.createGuest(domid, [driver]);
    const mac = macFor(domid);
    const ng: NetGuest = {
      domid,
      guest,
      driver,
      spec: vifSpec({ domid, devid: 0, mac }),
      mac,
      pagesBefore: guest.kernel.memory.allocatedCount,
    };
    this.guests.set(domid, ng);
    return ng;
  }

  /** Plugs `vif/0` and waits until both ends read Connected. */
  async plug(g: NetGuest, spec: DeviceSpec = g.spec): Promise<void> {
    const ts = this.machine.toolstack;
    await ts.addDevice(spec);
    await ts.waitForState(
      `/local/domain/${g.domid}/device/vif/0/state`,
      (s) => s === XenbusState.Connected,
      1e11,
    );
    await ts.waitForState(
      `/local/domain/0/backend/vif/${g.domid}/0/state`,
      (s) => s === XenbusState.Connected,
      1e11,
    );
  }

  /** dom0 up, guests created and their vifs Connected/Connected. */
  async boot(domids: readonly number[]): Promise<NetGuest[]> {
    return this.machine.settle(
      (async () => {
        await this.machine.startDom0();
        const out: NetGuest[] = [];
        for (const d of domids) {
          const g = await this.createGuest(d);
          await this.plug(g);
          out.push(g);
        }
        return out;
      })(),
    );
  }

  front(g: NetGuest): NetfrontDevice {
    const f = netfrontOf(g.guest.bus, 0);
    if (f === undefined) throw new Error(`dom${g.domid}: no netfront on vif/0`);
    return f;
  }

  /** Runs the machine until nothing is left to do. */
  async drain(): Promise<void> {
    await this.machine.settle(Promise.resolve());
  }

  /** XenStore value or undefined. */
  read(path: string): string | undefined {
    const r = this.machine.platform.xenstored.direct(0).readString(path);
    return r.ok ? r.value : undefined;
  }

  /** What would leak after `g`'s vif is gone: empty when clean. */
  leaks(g: NetGuest): string[] {
    const out: string[] = [];
    const hv = this.machine.platform.hypervisor;
    const maps = hv
      .activeMappings()
      .filter((m) => m.granter === g.domid && m.ref !== GNTTAB_RESERVED_XENSTORE);
    if (maps.length > 0) out.push(`mappings of dom${g.domid}: ${maps.map((m) => m.ref).join(",")}`);
    const gt = g.guest.kernel.grantTable;
    if (gt.allocatedRefs().length > 0) out.push(`dom${g.domid} grant refs: ${gt.allocatedRefs().length}`);
    if (gt.deferredRefs().length > 0) out.push(`dom${g.domid} deferred refs: ${gt.deferredRefs().join(",")}`);
    if (gt.pinnedRefs().some((r) => r !== GNTTAB_RESERVED_XENSTORE)) out.push(`dom${g.domid} pinned refs`);
    const ports = this.machine.platform.evtchn.openPorts().filter((p) => p.domid === g.domid);
    if (ports.length !== 1)
      out.push(`dom${g.domid} ports: ${ports.map((p) => `${p.port}:${p.status}`).join(",")}`);
    const mem = g.guest.kernel.memory.allocatedCount;
    if (mem !== g.pagesBefore) out.push(`dom${g.domid} pages: ${mem} (was ${g.pagesBefore})`);
    if (g.guest.bus.devices.size !== 0) out.push(`dom${g.domid} devices: ${[...g.guest.bus.devices.keys()]}`);
    if (g.guest.bus.watchCount !== 1) out.push(`dom${g.domid} bus watches: ${g.guest.bus.watchCount}`);
    if (g.guest.kernel.xenbus.watchCount !== 1) {
      out.push(`dom${g.domid} xenbus watches: ${g.guest.kernel.xenbus.watchCount}`);
    }
    if (this.netback.vif(g.domid) !== undefined) out.push(`vif${g.domid}.0 still exists`);
    if (hazardsOf(hv.hazards()).length > 0) out.push(`hazards: ${JSON.stringify(hv.hazards())}`);
    return out;
  }

  /** dom0-side leaks once every vif is gone. */
  dom0Leaks(): string[] {
    const out: string[] = [];
    const ports = this.machine.platform.evtchn.openPorts().filter((p) => p.domid === 0);
    // dom0 keeps one interdomain port per guest for the XenStore ring.
    const expected = [...this.guests.values()].length;
    const inter = ports.filter((p) => p.status === "interdomain").length;
    if (inter !== expected) out.push(`dom0 interdomain ports: ${inter}, expected ${expected}`);
    if (this.machine.backendBus.devices.size !== 0)
      out.push(`backends: ${[...this.machine.backendBus.devices.keys()]}`);
    if (this.machine.backendBus.watchCount !== 1)
      out.push(`backend bus watches: ${this.machine.backendBus.watchCount}`);
    if (this.netback.liveSkbs !== 0) out.push(`skbs held: ${this.netback.liveSkbs}`);
    return out;
  }
}

function hazardsOf<T>(h: readonly T[]): readonly T[] {
  return h;
}

/** A test frame: Ethernet header + `len - 14` bytes of a recognisable pattern. */
export function testFrame(dst: string, src: string, len: number, seed = 0, etherType = 0x88b5): Uint8Array {
  const f = new Uint8Array(len);
  f.set(macBytes(dst), 0);
  f.set(macBytes(src), 6);
  f[12] = etherType >> 8;
  f[13] = etherType & 0xff;
  for (let i = 14; i < len; i++) f[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return f;
}
