/**
 * A device as the toolstack creates it (libxl__device + the per-kind keys of libxl_nic.c,
 * libxl_disk.c, …). `kind` is the XenStore device type; the frontend lives in the guest's
 * `device/<kind>/<devid>`, the backend in `/local/domain/<backend>/backend/<kind>/<domid>/<devid>`.
 */
export interface DeviceSpec {
  readonly kind: string;
  readonly domid: number;
  readonly devid: number;
  readonly backendDomid: number;
  /** Frontend keys, owned by the guest, readable by the backend (`nD rB`). */
  readonly frontend: Readonly<Record<string, string>>;
  /** Frontend keys the guest may only read (`nB rD`), e.g. vif `mtu`. */
  readonly frontendReadOnly?: Readonly<Record<string, string>>;
  /** Backend keys (inherit `nB rD`). */
  readonly backend: Readonly<Record<string, string>>;
  /**
   * The simulated hotplug script libxl runs once the backend reached InitWait: the keys it
   * writes into the backend directory (vif: hotplug-status; block: physical-device, …).
   * Undefined: no script (e.g. QEMU backends).
   */
  readonly hotplug?: Readonly<Record<string, string>>;
}

export function frontendPath(d: Pick<DeviceSpec, "kind" | "domid" | "devid">): string {
  return `/local/domain/${d.domid}/device/${d.kind}/${d.devid}`;
}

export function backendPath(d: Pick<DeviceSpec, "kind" | "domid" | "devid" | "backendDomid">): string {
  return `/local/domain/${d.backendDomid}/backend/${d.kind}/${d.domid}/${d.devid}`;
}

/** libxl's private copy of the device (`/libxl/D/device/<kind>/<devid>`). */
export function libxlPath(d: Pick<DeviceSpec, "kind" | "domid" | "devid">): string {
  return `/libxl/${d.domid}/device/${d.kind}/${d.devid}`;
}

export interface VifConfig {
  readonly domid: number;
  readonly devid: number;
  readonly mac: string;
  readonly backendDomid?: number;
  readonly bridge?: string;
  readonly mtu?: number;
  /** What the hotplug script reports (default "connected"; "error" models a failed script). */
  readonly hotplugStatus?: string;
  /** Extra backend keys (tests use them to model misconfigured or unusual backends). */
  readonly extraBackend?: Readonly<Record<string, string>>;
}

/** A vif as libxl_nic.c writes it (toolstack.md §4). */
export function vifSpec(c: VifConfig): DeviceSpec {
  const backendDomid = c.backendDomid ?? 0;
  const mtu = String(c.mtu ?? 1500);
  return {
    kind: "vif",
    domid: c.domid,
    devid: c.devid,
    backendDomid,
    frontend: { handle: String(c.devid), mac: c.mac, trusted: "1" },
    frontendReadOnly: { mtu },
    backend: {
      script: "/etc/xen/scripts/vif-bridge",
      mac: c.mac,
      bridge: c.bridge ?? "xenbr0",
      handle: String(c.devid),
      type: "vif",
      mtu,
      "hotplug-status": "",
      ...c.extraBackend,
    },
    hotplug: { "hotplug-status": c.hotplugStatus ?? "connected" },
  };
}

/** The hotplug result of the block script: the device it set up (`physical-device`). */
export interface VbdPhysical {
  readonly major: number;
  readonly minor: number;
  readonly path: string;
}

export interface VbdConfig {
  readonly domid: number;
  /** Guest device name (`dev`), e.g. "xvda"; the devid is its xen-vbd-interface number. */
  readonly vdev?: string;
  readonly backendDomid?: number;
  /** Target (`params`): the image path, e.g. "/var/lib/xen/images/guest.img". */
  readonly params?: string;
  /** Backend type (`type`): "phy" (blkback, block script) or "qdisk" (QEMU, no script). */
  readonly type?: "phy" | "qdisk";
  readonly mode?: "w" | "r";
  readonly deviceType?: "disk" | "cdrom";
  readonly removable?: boolean;
  readonly discardEnable?: boolean;
  readonly trusted?: boolean;
  /** What the block hotplug script sets up; undefined (or type "qdisk") = no script runs. */
  readonly physical?: VbdPhysical;
  /** Extra backend keys (tests model misconfigured or unusual backends). */
  readonly extraBackend?: Readonly<Record<string, string>>;
}

/**
 * xen-vbd-interface.pandoc: the devid of a Xen virtual disk name. `xvd<letters>` with index < 16
 * → (202 << 8) | (index << 4); larger → (1 << 28) | (index << 8). Partitions are not modelled.
 */
export function vbdDevid(vdev: string): number {
  const m = /^xvd([a-z]+)$/.exec(vdev);
  if (m === null) throw new RangeError(`not a xvd name: ${vdev}`);
  let index = 0;
  for (const ch of m[1]!) index = index * 26 + (ch.charCodeAt(0) - 96);
  index -= 1;
  return index < 16 ? (202 << 8) | (index << 4) : (1 << 28) | (index << 8);
}

/** A vbd as libxl_disk.c writes it (toolstack.md §4); the block script's keys as `hotplug`. */
export function vbdSpec(c: VbdConfig): DeviceSpec {
  const backendDomid = c.backendDomid ?? 0;
  const vdev = c.vdev ?? "xvda";
  const devid = vbdDevid(vdev);
  const type = c.type ?? "phy";
  const deviceType = c.deviceType ?? "disk";
  const script = type === "phy" && c.physical !== undefined;
  return {
    kind: "vbd",
    domid: c.domid,
    devid,
    backendDomid,
    // libxl_disk.c device_disk_add: PV guests also get the native `protocol` (old frontends
    // relied on it; new ones overwrite it).
    frontend: {
      "virtual-device": String(devid),
      "device-type": deviceType,
      trusted: c.trusted === false ? "0" : "1",
      protocol: "x86_64-abi",
    },
    backend: {
      params: c.params ?? c.physical?.path ?? `/var/lib/xen/images/dom${c.domid}-${vdev}.img`,
      ...(type === "phy" ? { script: "/etc/xen/scripts/block" } : {}),
      removable: c.removable ? "1" : "0",
      bootable: "1",
      dev: vdev,
      type,
      mode: c.mode ?? "w",
      "device-type": deviceType,
      "discard-enable": c.discardEnable === false ? "0" : "1",
      specification: "xen",
      ...c.extraBackend,
    },
    ...(script && c.physical !== undefined
      ? {
          hotplug: {
            "physical-device": `${c.physical.major.toString(16)}:${c.physical.minor.toString(16)}`,
            "physical-device-path": c.physical.path,
            "hotplug-status": "connected",
          },
        }
      : {}),
  };
}
