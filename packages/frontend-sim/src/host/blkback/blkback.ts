// blkback: dom0's block backend, mirroring Linux drivers/block/xen-blkback/xenbus.c —
// xen_blkbk_probe, backend_changed (the `physical-device` watch), frontend_changed,
// connect_ring/read_per_ring_refs/xen_blkif_map, connect, xen_update_blkif_status,
// xen_blkif_disconnect, xen_vbd_resize — with peer profiles as variants of the same driver.
import type { ForeignMapping } from "@xensim/ring";
import {
  BLKIF_ABI_X86_64,
  type BlkifAbi,
  blkifAbi,
  VDISK_CDROM,
  VDISK_READONLY,
  VDISK_REMOVABLE,
} from "../../guest/blkfront/blkif-abi.ts";
import { isExistErr } from "../../guest/xenbus/xenbus-error.ts";
import { XBT_NIL } from "../../guest/xenbus/xs-client.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import { ktrace } from "../../xenbus/kernel.ts";
import { errOf, type XenbusDevice } from "../../xenbus/xenbus-device.ts";
import { XenbusState as S, type XenbusState } from "../../xenbus/xenbus-state.ts";
import { BlkbackRing, type BlkbackStats, type RingOwner } from "./blkback-ring.ts";
import type { BlockDevices, DiskImage } from "./disk-image.ts";

/**
 * Backend peer profiles (hostile-peers B15, D15; blkif.md §5):
 * - `linux`: xen-blkback — limits at probe, InitWait, opens the device when the hotplug script
 *   writes `physical-device`, connects when both the device and the rings are ready.
 * - `skip-initwait`: never enters InitWait: opens its image by `params` at probe, publishes the
 *   device properties and goes 1 → 4 at once (default transport: 1 page, 1 queue); maps the
 *   rings whenever the frontend publishes them.
 * - `already-connected`: the same backend, meant to be Connected before any frontend driver
 *   binds (the frontend's first view of it is Connected).
 * - `qemu`: QEMU xen-block style: no hotplug script (opens `params`), grant copy only (data pages
 *   are never mapped), single-page single-queue rings, no indirect descriptors, no persistent
 *   grants.
 */
export type BackendProfile = "linux" | "skip-initwait" | "already-connected" | "qemu";

export interface BlkbackOptions {
  /** dom0's block devices: `physical-device` and `params` resolve here. */
  readonly disks: BlockDevices;
  /** Profile for every device, or per device. Default `linux`. */
  readonly profile?:
    | BackendProfile
    | ((be: { domid: number; devid: number; nodename: string }) => BackendProfile);
  /** xen_blkif_max_ring_order (Linux 4). */
  readonly maxRingPageOrder?: number;
  /** xenblk_max_queues (Linux: dom0's online CPUs; default 4). */
  readonly maxQueues?: number;
  /** MAX_INDIRECT_SEGMENTS (256). */
  readonly maxIndirectSegments?: number;
  /** feature_persistent module parameter (default on). */
  readonly persistent?: boolean;
  /** xen_blkif_max_pgrants (1056). */
  readonly maxPersistentGrants?: number;
  /** Virtual time a request spends in the disk before its response (default 0: synchronous). */
  readonly ioLatencyNs?: number;
}

interface Traits {
  readonly initWait: boolean;
  readonly openByParams: boolean;
  readonly grantCopy: boolean;
  readonly maxRingPageOrder: number;
  readonly maxQueues: number;
  readonly maxIndirectSegments: number;
  readonly persistent: boolean;
  /** Publish transport limits (skip-InitWait backends must leave the defaults in effect). */
  readonly publishLimits: boolean;
}

function traitsOf(p: BackendProfile, o: Required<Omit<BlkbackOptions, "disks" | "profile">>): Traits {
  switch (p) {
    case "linux":
      return {
        initWait: true,
        openByParams: false,
        grantCopy: false,
        maxRingPageOrder: o.maxRingPageOrder,
        maxQueues: o.maxQueues,
        maxIndirectSegments: o.maxIndirectSegments,
        persistent: o.persistent,
        publishLimits: true,
      };
    case "skip-initwait":
    case "already-connected":
      return {
        initWait: false,
        openByParams: true,
        grantCopy: false,
        maxRingPageOrder: 0,
        maxQueues: 1,
        maxIndirectSegments: o.maxIndirectSegments,
        persistent: o.persistent,
        publishLimits: false,
      };
    case "qemu":
      return {
        initWait: true,
        openByParams: true,
        grantCopy: true,
        maxRingPageOrder: 0,
        maxQueues: 1,
        maxIndirectSegments: 0,
        persistent: false,
        publishLimits: false,
      };
  }
}

/** struct backend_info + struct xen_blkif + struct xen_vbd for one vbd. */
export class BlkbackDevice implements RingOwner {
  readonly stats: BlkbackStats = { requests: 0, errors: 0, persistentHits: 0, maps: 0, copies: 0 };
  image: DiskImage | undefined = undefined;
  major: number | undefined = undefined;
  minor: number | undefined = undefined;
  readonly = false;
  cdrom = false;
  removable = false;
  persistent = false;
  discardEnabled = true;
  abi: BlkifAbi = BLKIF_ABI_X86_64;
  rings: BlkbackRing[] = [];
  /** Rings stopped with I/O in flight, torn down when it completes. */
  readonly draining = new Set<BlkbackRing>();
  /** Frontend published rings while old ones were still draining: connect once drained. */
  private pendingConnect = false;
  /** Unregistered (`online` = 0 at Closed): ignore the frontend from now on. */
  private offline = false;
  readonly domid: number;
  readonly devid: number;

  constructor(
    readonly dev: XenbusDevice,
    readonly profile: BackendProfile,
    readonly traits: Traits,
    readonly driver: Blkback,
  ) {
    const parts = dev.nodename.split("/");
    this.domid = Number(parts[2]);
    this.devid = Number(parts[3]);
  }

  get grantCopy(): boolean {
    return this.traits.grantCopy;
  }
  get maxIndirectSegments(): number {
    return this.traits.maxIndirectSegments;
  }
  get maxPersistentGrants(): number {
    return this.driver.options.maxPersistentGrants;
  }
  get latencyNs(): number {
    return this.driver.options.ioLatencyNs;
  }

  private trace(kind: string, details: Record<string, string | number | boolean | undefined> = {}): void {
    if (this.dev.kernel.sched.trace.enabled) this.dev.trace(kind, details);
  }

  /** xen_blkbk_probe (and the profile's variant of it). */
  async probe(): Promise<void> {
    const dev = this.dev;
    const xb = dev.xb;
    const t = this.traits;
    this.trace("blkback.probe", { profile: this.profile });
    if (t.maxIndirectSegments > 0) {
      try {
        await xb.printf(XBT_NIL, dev.nodename, "feature-max-indirect-segments", "%u", t.maxIndirectSegments);
      } catch {
        this.trace("blkback.warn", { msg: "writing feature-max-indirect-segments" });
      }
    }
    if (t.publishLimits) {
      try {
        await xb.printf(XBT_NIL, dev.nodename, "multi-queue-max-queues", "%u", t.maxQueues);
      } catch {
        this.trace("blkback.warn", { msg: "writing multi-queue-max-queues" });
      }
    }
    if (!t.openByParams) {
      const w = await dev.watchPath(`${dev.nodename}/physical-device`, () => this.backendChanged());
      if (w === null) return;
    }
    if (t.publishLimits) {
      try {
        await xb.printf(XBT_NIL, dev.nodename, "max-ring-page-order", "%u", t.maxRingPageOrder);
      } catch {
        this.trace("blkback.warn", { msg: "writing max-ring-page-order" });
      }
    }
    if (t.openByParams && !(await this.openByParams())) return;
    if (t.initWait) {
      await dev.switchState(S.InitWait);
      return;
    }
    // Skip InitWait: publish the device at once and go 1 → 4.
    await this.connect();
  }

  /** A backend without a hotplug script opens its target itself (QEMU: `params`). */
  private async openByParams(): Promise<boolean> {
    const dev = this.dev;
    let params: string;
    try {
      params = await dev.xb.readString(XBT_NIL, `${dev.nodename}/params`);
    } catch (e) {
      await dev.devFatal(errOf(e), "reading params");
      return false;
    }
    const image = this.driver.options.disks.lookupPath(params);
    if (image === undefined) {
      await dev.devFatal("ENOENT", `opening ${params}`);
      return false;
    }
    return this.createVbd(image);
  }

  /** backend_changed: the hotplug script wrote `physical-device` (the initial firing is ignored). */
  async backendChanged(): Promise<void> {
    const dev = this.dev;
    if (dev.removed) return;
    let text: string;
    try {
      text = await dev.xb.readString(XBT_NIL, `${dev.nodename}/physical-device`);
    } catch (e) {
      if (isExistErr(e)) return; // not there yet: the hotplug script has not run
      await dev.devFatal(errOf(e), "reading physical-device");
      return;
    }
    const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+)$/.exec(text.trim());
    if (m === null) {
      await dev.devFatal("EINVAL", "reading physical-device");
      return;
    }
    const major = Number.parseInt(m[1]!, 16);
    const minor = Number.parseInt(m[2]!, 16);
    if (this.major !== undefined) {
      if (this.major !== major || this.minor !== minor) {
        this.trace("blkback.warn", {
          msg: `changing physical device (from ${this.major}:${this.minor} to ${major}:${minor}) not supported.`,
        });
      }
      return;
    }
    const image = this.driver.options.disks.lookup(major, minor);
    if (image === undefined) {
      await dev.devFatal("ENOENT", "creating vbd structure");
      return;
    }
    this.major = major;
    this.minor = minor;
    if (!(await this.createVbd(image))) return;
    await this.updateStatus();
  }

  /** xen_vbd_create: mode, device type, removable; the image becomes this vbd's device. */
  private async createVbd(image: DiskImage): Promise<boolean> {
    const dev = this.dev;
    const xb = dev.xb;
    let mode: string;
    try {
      mode = await xb.readString(XBT_NIL, `${dev.nodename}/mode`);
    } catch (e) {
      await dev.devFatal(errOf(e), "reading mode");
      return false;
    }
    const type = await xb.scanf(XBT_NIL, dev.otherend, "device-type", (s) => s);
    this.cdrom = type === "cdrom";
    this.removable = (await xb.readUnsigned(dev.nodename, "removable", 0)) !== 0;
    this.readonly = !mode.includes("w");
    this.image = image;
    this.trace("blkback.vbd", {
      sectors: image.sectors,
      readonly: this.readonly,
      cdrom: this.cdrom,
      major: this.major,
      minor: this.minor,
    });
    return true;
  }

  /** frontend_changed */
  async frontendChanged(fe: XenbusState): Promise<void> {
    const dev = this.dev;
    if (this.offline) return;
    switch (fe) {
      case S.Initialising:
        if (dev.state === S.Closed) {
          this.trace("blkback.reconnect", { msg: `${dev.nodename}: prepare for reconnect` });
          if (this.traits.initWait) await dev.switchState(S.InitWait);
          else await this.connect();
        }
        return;
      case S.Initialised:
      case S.Connected:
        // Ensure we connect even when two watches fire in close succession.
        if (dev.state === S.Connected && this.rings.length > 0) return;
        if (!this.disconnect()) {
          // Linux fails with "pending I/O"; the simulated backend waits for the drain instead.
          this.pendingConnect = true;
          this.trace("blkback.wait_pending_io", { draining: this.draining.size });
          return;
        }
        if (!(await this.connectRing())) {
          this.disconnect();
          return;
        }
        await this.updateStatus();
        return;
      case S.Closing:
        await dev.switchState(S.Closing);
        return;
      case S.Closed: {
        this.disconnect();
        await dev.switchState(S.Closed);
        const online = await dev.xb.readUnsigned(dev.nodename, "online", 1);
        if (online === 0) {
          // device_unregister: the toolstack deletes the directories next.
          this.offline = true;
          this.trace("blkback.offline", {});
        }
        return;
      }
      case S.Unknown:
        // The frontend vanished (forced removal): unregister.
        this.offline = true;
        this.disconnect();
        await dev.switchState(S.Closed);
        return;
      default:
        await dev.devFatal("EINVAL", `saw state ${fe} at frontend`);
        return;
    }
  }

  /** connect_ring + read_per_ring_refs + xen_blkif_map. */
  private async connectRing(): Promise<boolean> {
    const dev = this.dev;
    const xb = dev.xb;
    const fe = dev.otherend;
    const t = this.traits;
    const protocol = await xb.scanf(XBT_NIL, fe, "protocol", (s) => s);
    const abi = protocol === undefined ? BLKIF_ABI_X86_64 : blkifAbi(protocol);
    if (abi === undefined) {
      await dev.devFatal("ENOSYS", `unknown fe protocol ${protocol}`);
      return false;
    }
    this.abi = abi;
    this.persistent = t.persistent && (await xb.readUnsigned(fe, "feature-persistent", 0)) !== 0;
    const nq = await xb.readUnsigned(fe, "multi-queue-num-queues", 1);
    if (nq === 0 || nq > t.maxQueues) {
      await dev.devFatal("ENOSYS", `guest requested ${nq} queues, exceeding the maximum of ${t.maxQueues}.`);
      return false;
    }
    const order = await xb.scanf(XBT_NIL, fe, "ring-page-order", (s) =>
      /^\d+$/.test(s) ? Number(s) : undefined,
    );
    let pages = 1;
    let multiRef = false;
    if (order !== undefined) {
      if (order > t.maxRingPageOrder) {
        await dev.devFatal("EINVAL", `requested ring page order ${order} exceed max:${t.maxRingPageOrder}`);
        return false;
      }
      pages = 1 << order;
      multiRef = true;
    }
    this.discardEnabled = (await xb.readUnsigned(dev.nodename, "discard-enable", 1)) !== 0;
    this.trace("blkback.connect_ring", {
      queues: nq,
      pages,
      protocol: abi.name,
      persistent: this.persistent,
    });
    const rings: BlkbackRing[] = [];
    const fail = (): false => {
      for (const r of rings) r.stop();
      return false;
    };
    for (let i = 0; i < nq; i++) {
      const dir = nq === 1 ? fe : `${fe}/queue-${i}`;
      const evtchn = await xb.scanf(XBT_NIL, dir, "event-channel", parseU);
      if (evtchn === undefined) {
        await dev.devFatal("EINVAL", `reading ${dir}/event-channel`);
        return fail();
      }
      const refs: number[] = [];
      for (let k = 0; k < pages; k++) {
        const name = multiRef ? `ring-ref${k}` : "ring-ref";
        const ref = await xb.scanf(XBT_NIL, dir, name, parseU);
        if (ref === undefined) {
          await dev.devFatal("EINVAL", `reading ${dir}/${name}`);
          return fail();
        }
        refs.push(ref);
      }
      // xen_blkif_map: map the ring, attach the back ring for the ABI, bind the port.
      const mapped = await dev.mapRing(refs);
      if (mapped === null) return fail();
      const back = dev.attachBackRing(mapped.pages, abi.ring);
      if (back === null) {
        await dev.unmapRing(mapped);
        await dev.devFatal("EIO", `ring ${i}: req_prod − rsp_prod exceeds the ring size`);
        return fail();
      }
      const b = dev.kernel.events.bindInterdomain(dev.otherendId, evtchn);
      if (!b.ok) {
        await dev.unmapRing(mapped);
        await dev.devFatal(b.errno, `mapping ring-ref port ${evtchn}`);
        return fail();
      }
      const actor = `dom0:blkback.${this.domid}.${this.devid}-${i}`;
      rings.push(new BlkbackRing(this, i, mapped, back, b.value, abi, actor));
    }
    this.rings = rings;
    return true;
  }

  /** xen_update_blkif_status: connect once both the vbd and ring 0 are ready; start the threads. */
  private async updateStatus(): Promise<void> {
    if (this.rings.length === 0 || this.image === undefined) return;
    if (this.dev.state !== S.Connected) {
      await this.connect();
      if ((this.dev.state as XenbusState) !== S.Connected) return;
    }
    for (const r of this.rings) r.start();
  }

  /** connect(): publish the device properties in one transaction, then Connected. */
  private async connect(): Promise<void> {
    const dev = this.dev;
    const xb = dev.xb;
    const image = this.image;
    if (image === undefined) return;
    const flush = image.writeCache ? 1 : 0;
    const discard = (await xb.readUnsigned(dev.nodename, "discard-enable", 1)) !== 0 && image.discardable;
    const info =
      (this.readonly ? VDISK_READONLY : 0) |
      (this.cdrom ? VDISK_CDROM : 0) |
      (this.removable ? VDISK_REMOVABLE : 0);
    let step = "ending transaction";
    try {
      await xb.transaction(async (tx) => {
        const n = dev.nodename;
        step = "writing feature-flush-cache";
        await xb.printf(tx, n, "feature-flush-cache", "%d", flush);
        if (discard) {
          await xb.printf(tx, n, "discard-granularity", "%u", image.physicalSectorSize);
          await xb.printf(tx, n, "discard-alignment", "%u", 0);
          await xb.printf(tx, n, "discard-secure", "%d", 0);
          await xb.printf(tx, n, "feature-discard", "%d", 1);
        }
        step = "writing feature-barrier";
        await xb.printf(tx, n, "feature-barrier", "%d", flush);
        if (!this.traits.grantCopy) {
          step = "writing feature-persistent";
          await xb.printf(tx, n, "feature-persistent", "%u", this.traits.persistent ? 1 : 0);
        }
        step = `writing ${n}/sectors`;
        await xb.printf(tx, n, "sectors", "%u", image.sectors);
        step = `writing ${n}/info`;
        await xb.printf(tx, n, "info", "%u", info);
        step = `writing ${n}/sector-size`;
        await xb.printf(tx, n, "sector-size", "%u", image.sectorSize);
        await xb.printf(tx, n, "physical-sector-size", "%u", image.physicalSectorSize);
        step = "ending transaction";
      });
    } catch (e) {
      await dev.devFatal(errOf(e), step);
      return;
    }
    await dev.switchState(S.Connected);
    this.trace("blkback.connect", {
      sectors: image.sectors,
      rings: this.rings.length,
      persistent: this.persistent,
    });
  }

  /** xen_blkif_disconnect: stop every ring; true when all are torn down (none left draining). */
  disconnect(): boolean {
    for (const r of this.rings) if (!r.stop()) this.draining.add(r);
    if (this.rings.length > 0)
      this.trace("blkback.disconnect", { rings: this.rings.length, draining: this.draining.size });
    this.rings = [];
    return this.draining.size === 0;
  }

  ringDrained(ring: BlkbackRing): void {
    this.draining.delete(ring);
    if (this.draining.size > 0 || !this.pendingConnect) return;
    this.pendingConnect = false;
    // Now do what the frontend asked for while the old rings drained.
    void (async () => {
      const fe = await this.dev.readDriverState(this.dev.otherend);
      if (!this.dev.removed && (fe === S.Initialised || fe === S.Connected)) await this.frontendChanged(fe);
    })().catch(() => undefined);
  }

  /** xen_vbd_resize: new capacity → rewrite `sectors` and `state` (the frontend re-reads). */
  async resize(sectors: number): Promise<void> {
    const dev = this.dev;
    const image = this.image;
    if (image === undefined) throw new Error(`${dev.nodename}: no vbd`);
    image.resize(sectors);
    this.trace("blkback.resize", { sectors });
    if (dev.state !== S.Connected) return;
    await dev.xb.transaction(async (tx) => {
      await dev.xb.printf(tx, dev.nodename, "sectors", "%u", image.sectors);
      await dev.xb.printf(tx, dev.nodename, "state", "%d", dev.state);
    });
  }

  /** The backend goes away (switches to Closing) and comes back when the frontend reinitialises. */
  async restart(): Promise<void> {
    this.trace("blkback.restart", {});
    await this.dev.switchState(S.Closing);
  }

  /** xen_blkbk_remove */
  remove(): void {
    this.offline = true;
    this.disconnect();
  }

  /** Persistent grants currently mapped, over all rings. */
  get persistentMappings(): ForeignMapping[] {
    return this.rings.flatMap((r) => [...r.persistentGrants.values()]);
  }
}

function parseU(s: string): number | undefined {
  return /^\d+$/.test(s) ? Number(s) : undefined;
}

/**
 * The blkback XenBus driver (type "vbd") for dom0's backend bus. Per-device profiles select the
 * peer behaviour; `device(domid, devid)` reaches a device for resize/restart.
 */
export class Blkback implements XenbusDriver {
  readonly type = "vbd";
  readonly options: Required<Omit<BlkbackOptions, "profile">>;
  private readonly profileOf: (be: { domid: number; devid: number; nodename: string }) => BackendProfile;
  private readonly devices = new Map<string, BlkbackDevice>();

  constructor(options: BlkbackOptions) {
    this.options = {
      disks: options.disks,
      maxRingPageOrder: Math.min(options.maxRingPageOrder ?? 4, 4),
      maxQueues: options.maxQueues ?? 4,
      maxIndirectSegments: options.maxIndirectSegments ?? 256,
      persistent: options.persistent ?? true,
      maxPersistentGrants: options.maxPersistentGrants ?? 1056,
      ioLatencyNs: options.ioLatencyNs ?? 0,
    };
    const p = options.profile ?? "linux";
    this.profileOf = typeof p === "function" ? p : () => p;
  }

  get all(): ReadonlyMap<string, BlkbackDevice> {
    return this.devices;
  }

  device(domid: number, devid: number): BlkbackDevice | undefined {
    return this.devices.get(`backend/vbd/${domid}/${devid}`);
  }

  async probe(dev: XenbusDevice): Promise<void> {
    const parts = dev.nodename.split("/");
    const id = { domid: Number(parts[2]), devid: Number(parts[3]), nodename: dev.nodename };
    const profile = this.profileOf(id);
    const be = new BlkbackDevice(dev, profile, traitsOf(profile, this.options), this);
    dev.data = be;
    this.devices.set(dev.nodename, be);
    await be.probe();
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const be = dev.data;
    if (be instanceof BlkbackDevice) await be.frontendChanged(state);
  }

  async remove(dev: XenbusDevice): Promise<void> {
    const be = dev.data;
    if (!(be instanceof BlkbackDevice)) return;
    be.remove();
    ktrace(dev.kernel, "blkback.remove", { dev: dev.nodename });
    this.devices.delete(dev.nodename);
    dev.data = undefined;
  }
}
