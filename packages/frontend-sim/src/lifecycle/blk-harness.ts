// A machine with dom0's blkback and guests running blkfront: the few lines a scenario needs to
// plug a vbd and do I/O, and what every lifecycle case builds on.
import { type ChoicePolicy, SeededPolicy } from "@xensim/evtchn";
import { Blkfront, type BlkfrontDevice, type BlkfrontOptions } from "../guest/blkfront/blkfront.ts";
import { type BackendProfile, Blkback, type BlkbackOptions } from "../host/blkback/blkback.ts";
import {
  BlockDevices,
  MemoryDisk,
  type MemoryDiskOptions,
  type PhysicalDevice,
} from "../host/blkback/disk-image.ts";
import { checkQuiescentInvariants } from "../host/invariants.ts";
import { type Guest, Machine } from "../host/machine.ts";
import { type DeviceSpec, type VbdConfig, vbdSpec } from "../host/toolstack/device-spec.ts";
import { XenbusState } from "../xenbus/xenbus-state.ts";

export interface BlkMachineOptions {
  readonly seed?: number;
  readonly policy?: ChoicePolicy;
  readonly recordTrace?: boolean;
  readonly blkback?: Omit<BlkbackOptions, "disks">;
}

/** A machine whose dom0 runs blkback over an in-memory block-device table. */
export class BlkMachine {
  readonly disks = new BlockDevices();
  readonly blkback: Blkback;
  readonly m: Machine;

  constructor(options: BlkMachineOptions = {}) {
    this.blkback = new Blkback({ ...options.blkback, disks: this.disks });
    this.m = new Machine({
      policy: options.policy ?? new SeededPolicy(options.seed ?? 1),
      backends: [this.blkback],
      ...(options.recordTrace === undefined ? {} : { recordTrace: options.recordTrace }),
    });
  }

  /** An in-memory disk attached as a loop device (what the block script would set up). */
  image(options: MemoryDiskOptions): { disk: MemoryDisk; physical: PhysicalDevice } {
    const disk = new MemoryDisk(options);
    return { disk, physical: this.disks.attach(disk) };
  }

  /** Boots a guest with a blkfront driver. */
  async guest(domid: number, options: BlkfrontOptions = {}): Promise<{ guest: Guest; blkfront: Blkfront }> {
    const blkfront = new Blkfront(options);
    const guest = await this.m.createGuest(domid, [blkfront]);
    return { guest, blkfront };
  }

  /**
   * Plugs a vbd backed by `physical` (libxl device_disk_add + the block script) and waits until
   * both ends are Connected; returns the guest's disk.
   */
  async plug(blkfront: Blkfront, config: VbdConfig): Promise<{ spec: DeviceSpec; disk: BlkfrontDevice }> {
    const spec = vbdSpec(config);
    await this.m.toolstack.addDevice(spec);
    const disk = await blkfront.device(config.vdev ?? "xvda");
    await this.m.toolstack.waitForState(
      `/local/domain/${spec.backendDomid}/backend/vbd/${spec.domid}/${spec.devid}/state`,
      (s) => s === XenbusState.Connected,
      1e10,
    );
    return { spec, disk };
  }

  invariants(): string[] {
    return checkQuiescentInvariants(this.m);
  }
}

export type { BackendProfile };
