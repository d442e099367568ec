// Test helpers: a machine with one connected vbd, and raw access to both ends of its ring for
// tests that play a hostile peer.
import { SeededPolicy } from "@xensim/evtchn";
import type { Blkfront, BlkfrontDevice, BlkfrontOptions } from "../guest/blkfront/blkfront.ts";
import type { BlkbackDevice } from "../host/blkback/blkback.ts";
import type { MemoryDisk } from "../host/blkback/disk-image.ts";
import type { Guest } from "../host/machine.ts";
import type { DeviceSpec, VbdConfig } from "../host/toolstack/device-spec.ts";
import { BlkMachine, type BlkMachineOptions } from "./blk-harness.ts";

export interface Connected {
  readonly bm: BlkMachine;
  readonly guest: Guest;
  readonly blkfront: Blkfront;
  readonly disk: BlkfrontDevice;
  readonly image: MemoryDisk;
  readonly spec: DeviceSpec;
  readonly be: BlkbackDevice;
}

/** Boots dom0 and guest 1 and plugs xvda (4096 sectors) until both ends are Connected. */
export async function connectedVbd(
  options: {
    machine?: BlkMachineOptions;
    front?: BlkfrontOptions;
    vbd?: Partial<VbdConfig>;
    sectors?: number;
  } = {},
): Promise<Connected> {
  const bm = new BlkMachine({ policy: new SeededPolicy(1), ...options.machine });
  const { disk: image, physical } = bm.image({ sectors: options.sectors ?? 4096 });
  return bm.m.settle(
    (async () => {
      await bm.m.startDom0();
      const { guest, blkfront } = await bm.guest(1, options.front);
      const { spec, disk } = await bm.plug(blkfront, { domid: 1, physical, ...options.vbd });
      const be = bm.blkback.device(1, spec.devid)!;
      return { bm, guest, blkfront, disk, image, spec, be };
    })(),
  );
}

/** Reads a node as dom0 sees it (undefined when absent). */
export function readNode(bm: BlkMachine, path: string): string | undefined {
  const r = bm.m.platform.xenstored.direct(0).readString(path);
  return r.ok ? r.value : undefined;
}
