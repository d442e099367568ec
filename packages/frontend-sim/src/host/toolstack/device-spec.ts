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
