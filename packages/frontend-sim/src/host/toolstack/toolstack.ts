import { domainHomeNodes, homeRoots } from "@xensim/xenstore-core/domain-home";
import type { StartInfo } from "../../guest/start-info.ts";
import { isXenbusError } from "../../guest/xenbus/xenbus-error.ts";
import { type Tx, XBT_NIL, type XenbusClient } from "../../guest/xenbus/xs-client.ts";
import { parseXenbusState, XenbusState } from "../../xenbus/xenbus-state.ts";
import type { Platform } from "../platform.ts";
import { backendPath, type DeviceSpec, frontendPath, libxlPath } from "./device-spec.ts";

/** libxl's timeouts (libxl_internal.h), in virtual nanoseconds. */
export const LIBXL_INIT_TIMEOUT_NS = 10_000_000_000;
export const LIBXL_DESTROY_TIMEOUT_NS = 10_000_000_000;

export interface CreateDomainOptions {
  readonly name?: string;
  readonly memoryKiB?: number;
}

export class ToolstackError extends Error {
  override readonly name = "ToolstackError";
}

/**
 * The dom0 toolstack (libxl): creates and destroys domains and devices by writing XenStore in
 * transactions retried on EAGAIN, and runs the (simulated) hotplug scripts. Every write goes
 * through its own XenStore connection, as xl's does.
 */
export class Toolstack {
  readonly xb: XenbusClient;
  readonly actor = "toolstack";

  constructor(readonly platform: Platform) {
    this.xb = platform.dom0Client(this.actor);
  }

  private trace(kind: string, details: Record<string, string | number | boolean>): void {
    this.platform.sched.trace.emit(this.actor, kind, details);
  }

  /**
   * libxl__domain_make + libxl__build_post: build the domain, write its home (one transaction),
   * the store keys (another), then INTRODUCE it to xenstored. Returns the guest's start_info.
   */
  async createDomain(domid: number, options: CreateDomainOptions = {}): Promise<StartInfo> {
    const start = this.platform.buildDomain(domid);
    this.trace("toolstack.create_domain", { domid });
    await this.xb.transaction(async (tx) => {
      for (const root of homeRoots(domid, {})) await this.rmIfPresent(tx, root);
      for (const n of domainHomeNodes(domid, { ...(options.name ? { name: options.name } : {}) })) {
        await this.xb.write(tx, n.path, n.value);
        if (n.perms) await this.xb.setPerms(tx, n.path, n.perms);
      }
    });
    const home = `/local/domain/${domid}`;
    const kib = String(options.memoryKiB ?? 262144);
    await this.xb.transaction(async (tx) => {
      await this.xb.write(tx, `${home}/memory/static-max`, kib);
      await this.xb.write(tx, `${home}/memory/target`, kib);
      await this.xb.write(tx, `${home}/memory/videoram`, "0");
      await this.xb.write(tx, `${home}/store/port`, String(start.storePort));
      await this.xb.write(tx, `${home}/store/ring-ref`, String(start.storeGfn));
      await this.xb.write(tx, `${home}/cpu/0/availability`, "online");
    });
    await this.xb.introduceDomain(domid, start.storeGfn, start.storePort);
    return start;
  }

  /**
   * libxl__xs_path_cleanup: remove `path`, then each parent while it is empty — never a domain's
   * home (`/local/domain/<n>`) or anything above it.
   */
  private async rmWithCleanup(tx: Tx, path: string): Promise<void> {
    await this.rmIfPresent(tx, path);
    const parts = path.split("/");
    for (let n = parts.length - 1; n > 1; n--) {
      const parent = parts.slice(0, n).join("/");
      if (/^\/local\/domain\/\d+$/.test(parent) || parent === "/local/domain" || parent === "/libxl") return;
      let children: string[];
      try {
        children = await this.xb.directory(tx, parent);
      } catch (e) {
        if (isXenbusError(e, "ENOENT")) continue;
        throw e;
      }
      if (children.length > 0) return;
      await this.rmIfPresent(tx, parent);
    }
  }

  private async rmIfPresent(tx: Tx, path: string): Promise<void> {
    try {
      await this.xb.rm(tx, path);
    } catch (e) {
      if (!isXenbusError(e, "ENOENT")) throw e;
    }
  }

  /**
   * libxl__device_generic_add in one transaction (retried): the libxl copy, then the frontend
   * (`nD rB`, read-only keys `nB rD`), then the backend (`nB rD`), both `state` = 1. Then, like
   * libxl, wait for the backend to reach InitWait and run the hotplug script.
   */
  async addDevice(spec: DeviceSpec, options: { waitHotplug?: boolean } = {}): Promise<void> {
    const fe = frontendPath(spec);
    const be = backendPath(spec);
    const lx = libxlPath(spec);
    const D = spec.domid;
    const B = spec.backendDomid;
    this.trace("toolstack.add_device", { type: spec.kind, domid: D, devid: spec.devid });
    await this.xb.transaction(async (tx) => {
      if (await this.xb.exists(tx, be)) throw new ToolstackError(`device ${spec.kind}/${spec.devid} exists`);
      await this.rmIfPresent(tx, lx);
      await this.xb.write(tx, `${lx}/frontend`, fe);
      await this.xb.write(tx, `${lx}/backend`, be);
      await this.rmIfPresent(tx, fe);
      await this.xb.mkdir(tx, fe);
      await this.xb.setPerms(tx, fe, [`n${D}`, `r${B}`]);
      await this.xb.write(tx, `${fe}/backend`, be);
      const feKeys: Record<string, string> = { ...spec.frontend, "backend-id": String(B), state: "1" };
      for (const [k, v] of Object.entries(feKeys)) {
        await this.xb.write(tx, `${fe}/${k}`, v);
        await this.xb.setPerms(tx, `${fe}/${k}`, [`n${D}`, `r${B}`]);
      }
      for (const [k, v] of Object.entries(spec.frontendReadOnly ?? {})) {
        await this.xb.write(tx, `${fe}/${k}`, v);
        await this.xb.setPerms(tx, `${fe}/${k}`, [`n${B}`, `r${D}`]);
      }
      await this.rmIfPresent(tx, be);
      await this.xb.mkdir(tx, be);
      await this.xb.setPerms(tx, be, [`n${B}`, `r${D}`]);
      await this.xb.write(tx, `${be}/frontend`, fe);
      const beKeys: Record<string, string> = {
        ...spec.backend,
        "frontend-id": String(D),
        online: "1",
        state: "1",
      };
      for (const [k, v] of Object.entries(beKeys)) await this.xb.write(tx, `${be}/${k}`, v);
    });
    if (spec.hotplug !== undefined && options.waitHotplug !== false) {
      // libxl__wait_device_connection: backend InitWait, then the hotplug script.
      await this.waitForState(`${be}/state`, (s) => s === XenbusState.InitWait, LIBXL_INIT_TIMEOUT_NS);
      this.trace("toolstack.hotplug", { type: spec.kind, domid: D, devid: spec.devid, action: "add" });
      for (const [k, v] of Object.entries(spec.hotplug)) await this.xb.write(XBT_NIL, `${be}/${k}`, v);
    }
  }

  /**
   * libxl__initiate_device_generic_remove: `online` = 0 and backend `state` = 5 (unless already 6)
   * in a transaction; wait for the backend to reach Closed; then delete the frontend, backend and
   * libxl copy. With `force`, the frontend directory goes first (its driver sees it vanish).
   */
  async removeDevice(
    spec: Pick<DeviceSpec, "kind" | "domid" | "devid" | "backendDomid">,
    options: { force?: boolean } = {},
  ): Promise<"clean" | "forced" | "backend-gone"> {
    const fe = frontendPath(spec);
    const be = backendPath(spec);
    this.trace("toolstack.remove_device", { type: spec.kind, domid: spec.domid, devid: spec.devid });
    const gone = await this.xb.transaction(async (tx) => {
      if (options.force) await this.rmIfPresent(tx, fe);
      let state: string;
      try {
        state = await this.xb.readString(tx, `${be}/state`);
      } catch (e) {
        if (isXenbusError(e, "ENOENT")) return true;
        throw e;
      }
      await this.xb.write(tx, `${be}/online`, "0");
      if (parseXenbusState(state) !== XenbusState.Closed) await this.xb.write(tx, `${be}/state`, "5");
      return false;
    });
    let outcome: "clean" | "forced" | "backend-gone" = options.force ? "forced" : "clean";
    if (gone) {
      outcome = "backend-gone";
    } else {
      try {
        await this.waitForState(`${be}/state`, (s) => s === XenbusState.Closed, LIBXL_DESTROY_TIMEOUT_NS);
      } catch (e) {
        if (!(e instanceof ToolstackError) || options.force) throw e;
        // Timed out: retry forced, as libxl does with force = auto.
        return this.removeDevice(spec, { force: true });
      }
    }
    if (spec.kind === "vif" || spec.kind === "vbd") {
      this.trace("toolstack.hotplug", {
        type: spec.kind,
        domid: spec.domid,
        devid: spec.devid,
        action: "remove",
      });
    }
    // libxl__device_destroy: frontend, libxl copy and backend go away, with their empty parents.
    await this.xb.transaction(async (tx) => {
      await this.rmWithCleanup(tx, fe);
      await this.rmWithCleanup(tx, libxlPath(spec));
      await this.rmWithCleanup(tx, be);
    });
    return outcome;
  }

  /**
   * libxl__destroy_domid: devices first (libxl__devices_destroy, forced: the domain is already
   * paused and will not answer), then the home, then RELEASE.
   */
  async destroyDomain(domid: number, devices: readonly DeviceSpec[] = []): Promise<void> {
    this.trace("toolstack.destroy_domain", { domid });
    for (const d of devices) await this.removeDevice(d, { force: true });
    for (const root of homeRoots(domid, {})) await this.rmIfPresent(XBT_NIL, root);
    await this.xb.releaseDomain(domid);
  }

  /**
   * Waits until the node's state satisfies `pred`, following it with a watch (libxl's
   * libxl__xswait); rejects with ToolstackError after `timeoutNs` of virtual time.
   */
  async waitForState(
    path: string,
    pred: (s: XenbusState) => boolean,
    timeoutNs: number,
  ): Promise<XenbusState> {
    const sched = this.platform.sched;
    return new Promise<XenbusState>((resolve, reject) => {
      let done = false;
      let watch: Awaited<ReturnType<XenbusClient["watch"]>> | null = null;
      const finish = (ok: boolean, v: XenbusState | Error): void => {
        if (done) return;
        done = true;
        timer.cancel();
        const w = watch;
        void (w ? this.xb.unwatch(w) : Promise.resolve()).then(() =>
          ok ? resolve(v as XenbusState) : reject(v as Error),
        );
      };
      const timer = sched.post(
        this.actor,
        "xswait-timeout",
        () => finish(false, new ToolstackError(`timed out waiting for ${path}`)),
        timeoutNs,
      );
      this.xb
        .watch(path, async () => {
          if (done) return;
          let s: XenbusState;
          try {
            s = parseXenbusState(await this.xb.readString(XBT_NIL, path));
          } catch {
            s = XenbusState.Unknown;
          }
          if (pred(s)) finish(true, s);
        })
        .then(
          (w) => {
            watch = w;
            if (done) void this.xb.unwatch(w);
          },
          (e: unknown) => finish(false, e instanceof Error ? e : new Error(String(e))),
        );
    });
  }
}
