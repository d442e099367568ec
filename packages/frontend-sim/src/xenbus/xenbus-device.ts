import { XEN_ERRNO, type XenErrno } from "@xensim/evtchn";
import {
  BackRing,
  type ForeignMapping,
  FrontRing,
  type Gfn,
  GNTST_okay,
  type GrantRef,
  initSharedRing,
  PAGE_SIZE,
  PageSequence,
  type RingProtocol,
  type WritablePage,
} from "@xensim/ring";
import { XenbusError } from "../guest/xenbus/xenbus-error.ts";
import { type Tx, XBT_NIL, type XenbusWatch } from "../guest/xenbus/xs-client.ts";
import { scheduleDeferredRetry } from "./deferred-grants.ts";
import { type Kernel, ktrace } from "./kernel.ts";
import { parseXenbusState, XenbusState, xenbusStateName } from "./xenbus-state.ts";

/** XENBUS_MAX_RING_GRANTS: the most ring pages a backend maps for one ring. */
export const XENBUS_MAX_RING_GRANTS = 16;

/** An errno as drivers pass it to dev_error: a name, or a negative number (errno or GNTST_*). */
export type DevErr = XenErrno | number;

function errNumber(err: DevErr): number {
  return typeof err === "number" ? err : -XEN_ERRNO[err];
}

/** Granted ring pages of one ring (xenbus_setup_ring's result). */
export interface GrantedRing {
  readonly gfns: readonly Gfn[];
  readonly refs: readonly GrantRef[];
  readonly pages: PageSequence;
}

/** Mapped ring pages of one ring (xenbus_map_ring_valloc's result, backend side). */
export interface MappedRing {
  readonly mappings: readonly ForeignMapping<WritablePage>[];
  readonly pages: PageSequence;
}

/**
 * struct xenbus_device plus the helpers of drivers/xen/xenbus/xenbus_client.c. A device knows its
 * node (`device/vif/0` for a frontend, `backend/vif/1/0` for a backend — relative to the owning
 * domain's home), its other end, and its *cached* state; helpers report failures the way Linux
 * does: an `error/<nodename>/error` node and, when fatal, a switch to Closing.
 */
export class XenbusDevice {
  /** The driver's cached state (dev->state): switch_state compares against this, not XenStore. */
  state: XenbusState = XenbusState.Initialising;
  otherend = "";
  otherendId = 0;
  /** Watches this device registered (dropped on removal). */
  private readonly watches: XenbusWatch[] = [];
  /** Driver-private data (dev_set_drvdata). */
  data: unknown = undefined;
  /** Set once the device is unregistered: callbacks must not touch it any more. */
  removed = false;
  /** Installed by the bus that bound the device; see `unregister`. */
  unregisterHook: (() => Promise<void>) | undefined = undefined;
  /**
   * States `switchState` keeps in the cache only, never writing them to XenStore: how the peer
   * profiles (peer-profiles.ts) make a driver's own InitWait invisible to the other end — a
   * backend that "skips InitWait" (hostile-peers B15) while its driver runs its usual logic.
   * Undefined (the default) for every real driver.
   */
  hiddenStates: ReadonlySet<XenbusState> | undefined = undefined;

  constructor(
    readonly kernel: Kernel,
    readonly nodename: string,
    readonly devicetype: string,
    readonly role: "frontend" | "backend",
  ) {}

  /**
   * device_unregister(&dev->dev) from inside a driver (netfront after a failed talk_to_netback,
   * netback on a vanished or offline frontend): the bus drops the device as if its node had gone
   * (driver `remove`, then Closed unless rebind is allowed). No-op if not bound.
   */
  async unregister(): Promise<void> {
    await this.unregisterHook?.();
  }

  get xb() {
    return this.kernel.xenbus;
  }

  /** `frontend-vif-0` style name for traces. */
  get busId(): string {
    return `${this.role === "frontend" ? "fe" : "be"}:${this.nodename}`;
  }

  trace(kind: string, details: Record<string, string | number | boolean | undefined> = {}): void {
    ktrace(this.kernel, kind, { dev: this.nodename, ...details });
  }

  /**
   * xenbus_switch_state: no-op when the cached state already matches; otherwise write it in a
   * private transaction (restarting on EAGAIN), but never resurrect a node that has vanished —
   * then only the cache is updated. Failures become switch_fatal (error node + Closing, once).
   */
  async switchState(state: XenbusState, depth = 0): Promise<void> {
    if (state === this.state) return;
    if (this.hiddenStates?.has(state) === true) {
      this.trace("xenbus.state_skipped", { state: xenbusStateName(state), why: "hidden by peer profile" });
      this.state = state;
      return;
    }
    const path = `${this.nodename}/state`;
    for (;;) {
      let tx: Tx;
      try {
        tx = await this.xb.transactionStart();
      } catch (e) {
        await this.switchFatal(depth, e, "starting transaction");
        return;
      }
      try {
        await this.xb.read(tx, path);
      } catch {
        // The directory is being removed: do not recreate it.
        await this.xb.transactionEnd(tx, true).catch(() => undefined);
        this.trace("xenbus.state_skipped", { state: xenbusStateName(state), why: "node gone" });
        this.state = state;
        return;
      }
      try {
        await this.xb.write(tx, path, String(state));
      } catch (e) {
        await this.xb.transactionEnd(tx, true).catch(() => undefined);
        await this.switchFatal(depth, e, "writing new state");
        return;
      }
      try {
        await this.xb.transactionEnd(tx, false);
      } catch (e) {
        if (e instanceof XenbusError && e.errno === "EAGAIN") continue;
        await this.switchFatal(depth, e, "ending transaction");
        return;
      }
      const old = this.state;
      this.state = state;
      this.trace("xenbus.state", { role: this.role, from: xenbusStateName(old), to: xenbusStateName(state) });
      return;
    }
  }

  private async switchFatal(depth: number, e: unknown, msg: string): Promise<void> {
    await this.devError(errOf(e), msg);
    if (depth === 0) await this.switchState(XenbusState.Closing, 1);
  }

  /**
   * xenbus_dev_error: "<errno> <message>" written, without a transaction, to
   * `error/<nodename>/error` relative to this kernel's home.
   */
  async devError(err: DevErr, message: string): Promise<void> {
    const text = `${-errNumber(err)} ${message}`.slice(0, 4096);
    this.trace("xenbus.dev_error", { error: text });
    try {
      await this.xb.write(XBT_NIL, `error/${this.nodename}/error`, text);
    } catch {
      // Linux: "xenbus: failed to write error node for %s (%s)" — logged only.
      this.trace("xenbus.dev_error_unwritten", { error: text });
    }
  }

  /** xenbus_dev_fatal: dev_error, then switch to Closing. */
  async devFatal(err: DevErr, message: string): Promise<void> {
    await this.devError(err, message);
    await this.switchState(XenbusState.Closing);
  }

  /** xenbus_read_driver_state: Unknown when missing or unparsable. */
  async readDriverState(dir: string): Promise<XenbusState> {
    try {
      return parseXenbusState(await this.xb.readString(XBT_NIL, `${dir}/state`));
    } catch {
      return XenbusState.Unknown;
    }
  }

  /** xenbus_watch_path: registration fires once at once; failure is fatal for the device. */
  async watchPath(
    path: string,
    callback: (path: string) => void | Promise<void>,
  ): Promise<XenbusWatch | null> {
    try {
      const w = await this.xb.watch(path, (p) => (this.removed ? undefined : callback(p)));
      this.watches.push(w);
      return w;
    } catch (e) {
      await this.devFatal(errOf(e), `adding watch on ${path}`);
      return null;
    }
  }

  async unwatch(w: XenbusWatch): Promise<void> {
    const i = this.watches.indexOf(w);
    if (i >= 0) this.watches.splice(i, 1);
    await this.xb.unwatch(w);
  }

  /** Drops every watch of the device (on unregister). */
  async unwatchAll(): Promise<void> {
    for (const w of this.watches.splice(0)) await this.xb.unwatch(w);
  }

  get watchCount(): number {
    return this.watches.length;
  }

  /** xenbus_alloc_evtchn: an unbound port offered to the other end; fatal on failure. */
  async allocEvtchn(): Promise<number | null> {
    const r = this.kernel.events.allocUnbound(this.otherendId);
    if (!r.ok) {
      await this.devFatal(r.errno, "allocating event channel");
      return null;
    }
    return r.value;
  }

  /** xenbus_free_evtchn: failure is only reported. */
  async freeEvtchn(port: number): Promise<void> {
    const r = this.kernel.events.close(port);
    if (!r.ok) await this.devError(r.errno, `freeing event channel ${port}`);
  }

  /**
   * xenbus_setup_ring: allocate `nrPages` zeroed pages and grant each to the other end
   * (read-write). On failure everything granted so far is revoked and the device goes fatal.
   */
  async setupRing(nrPages: number): Promise<GrantedRing | null> {
    const mem = this.kernel.memory;
    const gt = this.kernel.grantTable;
    const gfns: Gfn[] = [];
    const refs: GrantRef[] = [];
    const undo = (): void => {
      for (const r of refs) gt.endForeignAccessRef(r);
      for (const r of refs) gt.freeRef(r);
      for (const g of gfns) mem.release(g);
    };
    for (let i = 0; i < nrPages; i++) {
      const g = mem.allocate();
      if (typeof g !== "number") {
        undo();
        await this.devFatal("ENOMEM", `allocating ring page`);
        return null;
      }
      gfns.push(g as Gfn);
      mem.page(g as Gfn).fill(0);
      const ref = gt.grantForeignAccess(this.otherendId, g as Gfn, false);
      if (typeof ref !== "number") {
        undo();
        await this.devFatal("ENOSPC", `granting access to ${nrPages} ring pages`);
        return null;
      }
      refs.push(ref);
    }
    this.trace("xenbus.grant_ring", { pages: nrPages, refs: refs.join(",") });
    return { gfns, refs, pages: PageSequence.of(gfns.map((g) => mem.page(g))) };
  }

  /**
   * SHARED_RING_INIT + FRONT_RING_INIT on granted pages, starting the free-running indices where
   * the kernel says (0 normally; near 2³² under the `ring-index-wrap` fault).
   */
  initFrontRing<P extends RingProtocol>(pages: PageSequence, protocol: P): FrontRing<P> {
    const start = (this.kernel.ringStartIndex ?? 0) >>> 0;
    initSharedRing(pages, start);
    return FrontRing.attach(pages, protocol, start);
  }

  /**
   * BACK_RING_ATTACH at the shared header's `rsp_prod`, as Linux backends do since 5.9
   * (xen_blkif_map, xenvif_map_frontend_data_rings): the frontend may not have started at 0.
   * Refuses a header whose `req_prod − rsp_prod` exceeds the ring size (netback's "Illegal
   * number of requests" check); the caller then fails the connect.
   */
  attachBackRing<P extends RingProtocol>(pages: PageSequence, protocol: P): BackRing<P> | null {
    const ring = BackRing.attach(pages, protocol, 0);
    const h = ring.header;
    const rspProd = h.rspProd;
    if ((h.reqProd - rspProd) >>> 0 > ring.size) return null;
    return rspProd === 0 ? ring : BackRing.attach(pages, protocol, rspProd);
  }

  /**
   * Frontend teardown of a granted ring: revoke each grant (gnttab_end_foreign_access). A grant
   * the backend still maps cannot be revoked: it is deferred (Linux keeps the page until the
   * backend lets go) and reported, and the page is freed only once revoked.
   */
  releaseRing(ring: GrantedRing): { deferred: GrantRef[] } {
    const gt = this.kernel.grantTable;
    const deferred: GrantRef[] = [];
    ring.refs.forEach((ref, i) => {
      if (gt.endForeignAccess(ref, ring.gfns[i]) === "deferred") deferred.push(ref);
    });
    if (deferred.length > 0) this.trace("xenbus.grant_still_mapped", { refs: deferred.join(",") });
    this.trace("xenbus.ungrant_ring", { refs: ring.refs.join(","), deferred: deferred.join(",") });
    if (deferred.length > 0) scheduleDeferredRetry(this.kernel);
    return { deferred };
  }

  /**
   * xenbus_map_ring_valloc (backend): map the other end's ring grants. More than 16 → EINVAL; any
   * failed map → fatal "mapping in shared page …", the good ones unmapped, ENOENT.
   */
  async mapRing(refs: readonly GrantRef[]): Promise<MappedRing | null> {
    if (refs.length === 0 || refs.length > XENBUS_MAX_RING_GRANTS) {
      await this.devFatal("EINVAL", `mapping ${refs.length} ring pages`);
      return null;
    }
    const mappings: ForeignMapping<WritablePage>[] = [];
    for (const ref of refs) {
      const r = this.kernel.gnttab.map(this.otherendId, ref);
      if (r.status !== GNTST_okay) {
        for (const m of mappings) this.kernel.gnttab.unmap(m.handle);
        await this.devFatal(r.status, `mapping in shared page ${ref} from domain ${this.otherendId}`);
        return null;
      }
      mappings.push(r.mapping);
    }
    this.trace("xenbus.map_ring", { refs: refs.join(","), from: this.otherendId });
    return { mappings, pages: PageSequence.of(mappings.map((m) => m.page)) };
  }

  /** xenbus_unmap_ring_vfree: errors are reported, not fatal. */
  async unmapRing(ring: MappedRing): Promise<void> {
    for (const m of ring.mappings) {
      const st = this.kernel.gnttab.unmap(m.handle);
      if (st !== GNTST_okay) await this.devError(st, `unmapping page at handle ${m.handle} error ${st}`);
    }
    this.trace("xenbus.unmap_ring", { pages: ring.mappings.length });
  }
}

/** The negative errno a failure carries (XenbusError → its errno; anything else → EIO). */
export function errOf(e: unknown): number {
  if (e instanceof XenbusError) return e.code;
  return -XEN_ERRNO.EIO;
}

export { PAGE_SIZE };
