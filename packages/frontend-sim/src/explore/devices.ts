// Device types the explorer drives. A device type is everything the explorer needs to exercise
// one kind of split driver: the frontend and backend drivers, the toolstack spec, an I/O burst,
// the data checks, and where the frontend publishes its ring refs. `vif` and `vbd` are the
// built-in ones; a user's own driver pair plugs in the same way (the engine of exploreHandshake).
import { Blkfront } from "../guest/blkfront/blkfront.ts";
import { BlockIoError } from "../guest/blkfront/block-io.ts";
import { ethernetFrame, NetfrontDriver, netfrontOf, parseMac } from "../guest/netfront/index.ts";
import type { NetfrontDevice } from "../guest/netfront/netfront.ts";
import { Blkback } from "../host/blkback/blkback.ts";
import { BlockDevices, MemoryDisk, type PhysicalDevice } from "../host/blkback/disk-image.ts";
import type { Guest, Machine } from "../host/machine.ts";
import { NetbackDriver } from "../host/netback/netback.ts";
import type { Skb } from "../host/netback/skb.ts";
import { type SwitchPort, SwitchRegistry } from "../host/netback/vswitch.ts";
import { type DeviceSpec, vbdSpec, vifSpec } from "../host/toolstack/device-spec.ts";
import type { XenbusDriver } from "../xenbus/driver.ts";

/** Read access to XenStore for checks (dom0's direct view). */
export interface StoreReader {
  readString(path: string): string | undefined;
  list(path: string): string[];
}

/** One device type, instantiated per run. */
export interface DeviceKit {
  /** Name in commands and tokens (`vif`, `vbd`). */
  readonly name: string;
  /** Frontend driver loaded in the guest; backend driver loaded in dom0. Mutants may wrap them. */
  frontend: XenbusDriver;
  backend: XenbusDriver;
  /** Called once the machine exists (attach a sink, etc.). */
  attach(m: Machine, domid: number): void;
  /** The toolstack spec of the next plug; `hotplugFails` models a failing hotplug script. */
  spec(domid: number, hotplugFails: boolean): DeviceSpec;
  /** Starts an I/O burst of `n` units; resolves when it completed (or failed with an I/O error). */
  io(guest: Guest, n: number): Promise<void>;
  /** Data-integrity violations so far (never-sent or duplicated frames, wrong data read back). */
  safety(): string[];
  /** After heal: I/O queued on the final connection must have completed. */
  liveness(guest: Guest): string[];
  /** Ring refs the frontend published in its directory (empty when none). */
  ringRefs(store: StoreReader, feDir: string): number[];
  /** Whether the frontend's device object reports itself broken (hostile-peer verdicts). */
  frontBroken(guest: Guest): string | undefined;
  /** The real netback (hostile peers act on its queues), when this type has one. */
  readonly netback?: NetbackDriver;
  /** The real blkfront and blkback (hostile vbd peers act on their rings), when this type has them. */
  readonly blkfront?: Blkfront;
  readonly blkback?: Blkback;
  /** The backend goes away (Closing) and comes back, if the type supports it. */
  restartBackend?(domid: number): Promise<void>;
  /** Frontend-initiated reconnect (Closing → Closed → Initialising → …), if supported. */
  reconnectFrontend?(): Promise<void>;
}

export function macOf(domid: number): string {
  return `00:16:3e:00:00:${domid.toString(16).padStart(2, "0")}`;
}

const SINK_MAC = "00:16:3e:ff:ff:01";

/** A port on the bridge that records the frames it receives (the vif's peer). */
class FrameSink implements SwitchPort {
  readonly name = "sink";
  readonly got = new Map<number, number>();
  readonly foreign: string[] = [];
  receive(skb: Skb): void {
    const bytes = skb.toBytes();
    skb.release();
    const text = new TextDecoder().decode(bytes.subarray(14, 14 + 32));
    const m = /^xensim-fuzz (\d+)/.exec(text);
    if (m === null) {
      if (text.startsWith("hostile")) return; // the hostile-peer actions' own probe frames
      this.foreign.push(text.slice(0, 24));
      return;
    }
    const seq = Number(m[1]);
    this.got.set(seq, (this.got.get(seq) ?? 0) + 1);
  }
}

/** vif: netfront ↔ netback; I/O = numbered frames to a sink on xenbr0, each must arrive once. */
export function vifKit(): DeviceKit {
  const switches = new SwitchRegistry();
  const sink = new FrameSink();
  const sent = new Map<number, { dev: NetfrontDevice; connects: number }>();
  let seq = 0;
  const netback = new NetbackDriver({ switches, maxQueues: 1 });
  return {
    name: "vif",
    frontend: new NetfrontDriver(),
    backend: netback,
    netback,
    attach() {
      switches.get("xenbr0").attach(sink);
    },
    spec(domid, hotplugFails) {
      return vifSpec({
        domid,
        devid: 0,
        mac: macOf(domid),
        ...(hotplugFails ? { hotplugStatus: "error" } : {}),
      });
    },
    async io(guest, n) {
      const nf = netfrontOf(guest.bus, 0);
      if (nf === undefined || !nf.connected) return;
      for (let i = 0; i < n; i++) {
        const s = seq++;
        const payload = new TextEncoder().encode(`xensim-fuzz ${s}`.padEnd(46, "."));
        const frame = ethernetFrame(
          parseMac(SINK_MAC)!,
          parseMac(macOf(guest.kernel.domid))!,
          0x88b5,
          payload,
        );
        if (nf.transmit(frame) === "queued") sent.set(s, { dev: nf, connects: nf.connects });
      }
    },
    safety() {
      const out: string[] = [];
      for (const [s, n] of sink.got) {
        if (!sent.has(s)) out.push(`vif: frame ${s} received but never sent`);
        else if (n > 1) out.push(`vif: frame ${s} received ${n} times`);
      }
      for (const f of sink.foreign) out.push(`vif: unexpected frame ${JSON.stringify(f)}`);
      return out;
    },
    liveness(guest) {
      const nf = netfrontOf(guest.bus, 0);
      if (nf === undefined || !nf.connected) return [];
      const lost: number[] = [];
      for (const [s, at] of sent)
        if (at.dev === nf && at.connects === nf.connects && !sink.got.has(s)) lost.push(s);
      return lost.length === 0
        ? []
        : [
            `vif: ${lost.length} frame(s) queued on the live connection never arrived (${lost.slice(0, 5).join(",")})`,
          ];
    },
    ringRefs(store, fe) {
      const refs: number[] = [];
      for (const dir of [
        fe,
        ...store
          .list(fe)
          .filter((k) => k.startsWith("queue-"))
          .map((k) => `${fe}/${k}`),
      ]) {
        for (const k of ["tx-ring-ref", "rx-ring-ref"]) {
          const v = store.readString(`${dir}/${k}`);
          if (v !== undefined) refs.push(Number(v));
        }
      }
      return refs;
    },
    frontBroken(guest) {
      const nf = netfrontOf(guest.bus, 0);
      return nf?.broken ? (nf.brokenReason ?? "broken") : undefined;
    },
  };
}

const VBD_SLOTS = 64;
const VBD_SLOT_SECTORS = 8;

/** vbd: blkfront ↔ blkback over an in-memory disk; I/O = write a unique pattern, read it back. */
export function vbdKit(): DeviceKit {
  const disks = new BlockDevices();
  let physical: PhysicalDevice | undefined;
  const blkfront = new Blkfront({ reconnect: true });
  const failures: string[] = [];
  const live = new Set<Promise<void>>();
  let seq = 0;
  const blkback = new Blkback({ disks, maxQueues: 1, maxRingPageOrder: 1 });
  return {
    name: "vbd",
    frontend: blkfront,
    backend: blkback,
    blkfront,
    blkback,
    async restartBackend(domid) {
      for (const d of blkback.all.values()) if (d.dev.otherendId === domid) await d.restart();
    },
    async reconnectFrontend() {
      const disk = blkfront.find("xvda");
      if (disk !== undefined && disk.state === "connected") await disk.reconnect();
    },
    attach() {
      physical = disks.attach(new MemoryDisk({ sectors: VBD_SLOTS * VBD_SLOT_SECTORS }));
    },
    spec(domid, hotplugFails) {
      const spec = vbdSpec({ domid, physical: physical! });
      // A failed block script reports an error and never writes physical-device.
      return hotplugFails ? { ...spec, hotplug: { "hotplug-status": "error" } } : spec;
    },
    async io(_guest, n) {
      const disk = blkfront.find("xvda");
      if (disk === undefined || disk.state !== "connected") return;
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const s = seq++;
        const sector = (s % VBD_SLOTS) * VBD_SLOT_SECTORS;
        const data = new Uint8Array(VBD_SLOT_SECTORS * 512);
        for (let b = 0; b < data.length; b++) data[b] = (s * 131 + b * 7 + (b >> 9)) & 0xff;
        jobs.push(
          (async () => {
            try {
              await disk.write(sector, data);
              const back = await disk.read(sector, VBD_SLOT_SECTORS);
              for (let b = 0; b < data.length; b++) {
                if (back[b] !== data[b]) {
                  failures.push(
                    `vbd: sector ${sector + (b >> 9)} read back differs from write ${s} at byte ${b}`,
                  );
                  return;
                }
              }
            } catch (e) {
              if (!(e instanceof BlockIoError)) throw e;
            }
          })(),
        );
      }
      const all = Promise.all(jobs).then(() => undefined);
      live.add(all);
      await all;
      live.delete(all);
    },
    safety() {
      return [...failures];
    },
    liveness() {
      return live.size === 0 ? [] : [`vbd: ${live.size} I/O burst(s) never completed`];
    },
    ringRefs(store, fe) {
      const refs: number[] = [];
      for (const dir of [
        fe,
        ...store
          .list(fe)
          .filter((k) => k.startsWith("queue-"))
          .map((k) => `${fe}/${k}`),
      ]) {
        for (const k of store.list(dir)) {
          if (!/^ring-ref\d*$/.test(k)) continue;
          const v = store.readString(`${dir}/${k}`);
          if (v !== undefined) refs.push(Number(v));
        }
      }
      return refs;
    },
    frontBroken() {
      const disk = blkfront.find("xvda");
      return disk?.conn === "error" ? "error" : undefined;
    },
  };
}

/** The built-in device types by name. */
export const DEVICE_KITS: Readonly<Record<string, () => DeviceKit>> = { vif: vifKit, vbd: vbdKit };

/** A workload name (`vif+vbd`, `vif`, `vbd`) → its device type names. */
export function workloadDevices(workload: string): string[] {
  const names = workload.split("+").filter((x) => x !== "");
  for (const n of names) if (!(n in DEVICE_KITS)) throw new Error(`unknown device type ${JSON.stringify(n)}`);
  if (names.length === 0) throw new Error("empty workload");
  return names;
}
