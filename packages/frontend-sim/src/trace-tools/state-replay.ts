// Rebuilds, at each step of a trace, what the machine looked like: the XenStore tree, both ends'
// XenBus states per device, ring indices, grants and mappings, event-channel ports, watches.
// A pure function of the records (no clock, no randomness); the viewer's client bundles it.
//
// XenStore mutations (WRITE, MKDIR, RM, SET_PERMS) are applied when their reply is not ERROR;
// inside a transaction they are kept aside and applied at a TRANSACTION_END "T" whose reply is OK.
import type { TraceRecord } from "@xensim/evtchn";
import {
  absPath,
  actorDomid,
  deviceKey,
  deviceOfPath,
  deviceOfRecord,
  evtchnDomid,
  parseRemote,
  stateName,
  XS_TREE_MUTATIONS,
  xsArgs,
} from "./classify.ts";

export interface XsNode {
  readonly value: string;
  readonly perms: readonly string[] | null;
  /** Index of the record whose effect last changed this node (value, perms or creation). */
  readonly changedAt: number;
}

export interface XsWatch {
  readonly domid: number;
  readonly conn: number;
  readonly path: string;
  readonly token: string;
}

export interface RingView {
  /** `xenstore/dom1` or `<device key>/<ring>` (`vif/1/0/tx`). */
  readonly id: string;
  readonly kind: "xenstore" | "device";
  /** req_prod, req_cons, rsp_prod, rsp_cons, req_event, rsp_event, req_prod_pvt, rsp_prod_pvt … */
  readonly indices: Readonly<Record<string, number>>;
  readonly updatedAt: number;
}

export interface GrantView {
  readonly granter: number;
  readonly ref: number;
  /** The domain allowed to map it (null when the trace does not say). */
  readonly grantee: number | null;
  /** What the page is: `ring device/vif/0`, `xenstore page`, … */
  readonly what: string;
  /** The granter asked to end access while the page was still mapped (revocation deferred). */
  readonly deferred: boolean;
  readonly since: number;
}

export interface MappingView {
  readonly mapper: number;
  readonly granter: number;
  readonly ref: number;
  readonly what: string;
  readonly since: number;
}

export interface PortView {
  readonly domid: number;
  readonly port: number;
  readonly status: "unbound" | "interdomain" | "virq";
  /** unbound: the domain allowed to bind; interdomain: the peer. */
  readonly remoteDomid: number | null;
  readonly remotePort: number | null;
  readonly virq: number | null;
  readonly pending: boolean;
  readonly masked: boolean;
  /** evtchn.send on this port so far. */
  readonly sends: number;
  /** Handler label from the last upcall, if any. */
  readonly handler: string | null;
}

export interface DriverStateView {
  readonly state: string;
  readonly changedAt: number;
}

interface PendingRequest {
  readonly type: string;
  readonly domid: number;
  readonly tx: number;
  readonly args: readonly string[];
}

interface TreeOp {
  readonly type: string;
  readonly domid: number;
  readonly args: readonly string[];
}

/** The replayed machine after some prefix of the trace. Entries are immutable; maps are copied on clone. */
export class ReplayState {
  /** Index of the last applied record (-1: nothing yet). */
  step = -1;
  nodes = new Map<string, XsNode>();
  /** Paths whose node the last record changed (written, created, permissions). */
  changed: string[] = [];
  /** Paths the last record removed. */
  removed: string[] = [];
  watches = new Map<string, XsWatch>();
  connections = new Map<number, { domid: number; label: string }>();
  rings = new Map<string, RingView>();
  grants = new Map<string, GrantView>();
  mappings = new Map<string, MappingView>();
  ports = new Map<string, PortView>();
  /** `<device key>|frontend` → the driver's cached state from xenbus.state records. */
  drivers = new Map<string, DriverStateView>();
  private pending = new Map<string, PendingRequest>();
  private txs = new Map<string, TreeOp[]>();
  /** `<mapper>|<device dir>` → mapping keys, for xenbus.unmap_ring (which names no refs). */
  private deviceMaps = new Map<string, string[]>();

  clone(): ReplayState {
    const c = new ReplayState();
    c.step = this.step;
    c.nodes = new Map(this.nodes);
    c.changed = [...this.changed];
    c.removed = [...this.removed];
    c.watches = new Map(this.watches);
    c.connections = new Map(this.connections);
    c.rings = new Map(this.rings);
    c.grants = new Map(this.grants);
    c.mappings = new Map(this.mappings);
    c.ports = new Map(this.ports);
    c.drivers = new Map(this.drivers);
    c.pending = new Map(this.pending);
    c.txs = new Map([...this.txs].map(([k, v]) => [k, [...v]]));
    c.deviceMaps = new Map([...this.deviceMaps].map(([k, v]) => [k, [...v]]));
    return c;
  }

  /** Applies record `index` (records must be applied in order). */
  apply(r: TraceRecord, index: number): void {
    this.step = index;
    this.changed = [];
    this.removed = [];
    const d = r.details;
    switch (r.kind) {
      case "xs.request":
        this.onRequest(r);
        return;
      case "xs.reply":
        this.onReply(r);
        return;
      case "xs.connection-open": {
        const conn = Number(d.conn ?? d.connId);
        this.connections.set(conn, { domid: Number(d.domid), label: String(d.label ?? "") });
        return;
      }
      case "xs.connection-close":
        this.dropConnection(Number(d.conn ?? d.connId));
        return;
      case "xs.domain-introduced": {
        const domid = Number(d.domid);
        this.grants.set(`${domid}:1`, {
          granter: domid,
          ref: 1,
          grantee: 0,
          what: "xenstore page",
          deferred: false,
          since: index,
        });
        this.mappings.set(`0:${domid}:1`, {
          mapper: 0,
          granter: domid,
          ref: 1,
          what: "xenstore page",
          since: index,
        });
        return;
      }
      case "xs.domain-released":
        this.mappings.delete(`0:${Number(d.domid)}:1`);
        this.grants.delete(`${Number(d.domid)}:1`);
        return;
      case "xs.ring.req_produced":
      case "xs.ring.rsp_consumed":
      case "xs.ring.req":
      case "xs.ring.rsp":
      case "xs.ring.reset":
      case "xs.ring.reconnect":
      case "xs.ring.reconnected":
        this.onXsRing(r, index);
        return;
      case "ring.indices":
        this.onRingIndices(r, index);
        return;
      case "xenbus.state": {
        const dev = deviceOfRecord(r);
        if (dev === null) return;
        this.drivers.set(`${deviceKey(dev)}|${dev.role}`, { state: String(d.to), changedAt: index });
        return;
      }
      case "xenbus.grant_ring":
        this.onGrantRing(r, index);
        return;
      case "xenbus.grant_still_mapped":
        for (const ref of refList(d.refs)) {
          const key = `${actorDomid(r.actor)}:${ref}`;
          const g = this.grants.get(key);
          if (g !== undefined) this.grants.set(key, { ...g, deferred: true });
        }
        return;
      case "xenbus.ungrant_ring":
      case "gnttab.end_access": {
        // Refs still mapped by the grantee stay, marked deferred, until their unmap.
        const deferred = new Set(refList(d.deferred));
        for (const ref of refList(d.refs ?? d.ref)) {
          const key = `${actorDomid(r.actor)}:${ref}`;
          const g = this.grants.get(key);
          if (deferred.has(ref)) {
            if (g !== undefined) this.grants.set(key, { ...g, deferred: true });
          } else this.grants.delete(key);
        }
        return;
      }
      case "gnttab.grant": {
        const granter = actorDomid(r.actor) ?? 0;
        const ref = Number(d.ref);
        const what =
          typeof d.what === "string" ? d.what : typeof d.dev === "string" ? `page ${d.dev}` : "page";
        this.grants.set(`${granter}:${ref}`, {
          granter,
          ref,
          grantee: typeof d.to === "number" ? d.to : null,
          what,
          deferred: false,
          since: index,
        });
        return;
      }
      case "xenbus.map_ring":
      case "gnttab.map":
        this.onMap(r, index);
        return;
      case "xenbus.unmap_ring":
      case "gnttab.unmap":
        this.onUnmap(r);
        return;
      case "evtchn.alloc_unbound":
      case "evtchn.bind_interdomain":
      case "evtchn.bind_virq":
      case "evtchn.send":
      case "evtchn.upcall":
      case "evtchn.close":
      case "evtchn.mask":
      case "evtchn.unmask":
      case "evtchn.domain_destroyed":
        this.onEvtchn(r);
        return;
      default:
        return;
    }
  }

  // ---- XenStore ----

  private onRequest(r: TraceRecord): void {
    const d = r.details;
    const type = String(d.type);
    this.pending.set(`${d.conn}/${d.req_id}`, {
      type,
      domid: Number(d.domid ?? 0),
      tx: Number(d.tx_id ?? 0),
      args: xsArgs(d.payload),
    });
  }

  private onReply(r: TraceRecord): void {
    const d = r.details;
    const key = `${d.conn}/${d.req_id}`;
    const req = this.pending.get(key);
    if (req === undefined) return;
    this.pending.delete(key);
    if (d.type === "ERROR") return;
    const conn = Number(d.conn);
    if (req.type === "TRANSACTION_START") {
      this.txs.set(`${conn}/${xsArgs(d.payload)[0]}`, []);
    } else if (req.type === "TRANSACTION_END") {
      const ops = this.txs.get(`${conn}/${req.tx}`);
      this.txs.delete(`${conn}/${req.tx}`);
      if (ops !== undefined && req.args[0] === "T") for (const op of ops) this.applyTreeOp(op);
    } else if (XS_TREE_MUTATIONS.has(req.type)) {
      const op = { type: req.type, domid: req.domid, args: req.args };
      if (req.tx !== 0) this.txs.get(`${conn}/${req.tx}`)?.push(op);
      else this.applyTreeOp(op);
    } else if (req.type === "WATCH" || req.type === "UNWATCH") {
      const [path = "", token = ""] = req.args;
      const wkey = `${conn}|${path}|${token}`;
      if (req.type === "WATCH") this.watches.set(wkey, { domid: req.domid, conn, path, token });
      else this.watches.delete(wkey);
    } else if (req.type === "RESET_WATCHES") {
      for (const [k, w] of this.watches) if (w.conn === conn) this.watches.delete(k);
    }
  }

  private dropConnection(conn: number): void {
    this.connections.delete(conn);
    for (const [k, w] of this.watches) if (w.conn === conn) this.watches.delete(k);
    for (const k of [...this.txs.keys()]) if (k.startsWith(`${conn}/`)) this.txs.delete(k);
    for (const k of [...this.pending.keys()]) if (k.startsWith(`${conn}/`)) this.pending.delete(k);
  }

  private applyTreeOp(op: TreeOp): void {
    const path = absPath(op.domid, op.args[0] ?? "");
    switch (op.type) {
      case "WRITE":
        this.setNode(path, op.args.slice(1).join("\\0"), undefined);
        return;
      case "MKDIR":
        if (!this.nodes.has(path)) this.setNode(path, "", undefined);
        return;
      case "SET_PERMS":
        this.setNode(
          path,
          undefined,
          op.args.slice(1).filter((a) => a !== ""),
        );
        return;
      case "RM":
        for (const p of [...this.nodes.keys()]) {
          if (p === path || p.startsWith(`${path}/`)) {
            this.nodes.delete(p);
            this.removed.push(p);
          }
        }
        return;
    }
  }

  /** Writes a node (value and/or perms), creating missing parents as xenstored does. */
  private setNode(path: string, value: string | undefined, perms: string[] | undefined): void {
    const parts = path.split("/").filter((p) => p !== "");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      cur += `/${parts[i]}`;
      if (!this.nodes.has(cur)) {
        this.nodes.set(cur, { value: "", perms: null, changedAt: this.step });
        this.changed.push(cur);
      }
    }
    const old = this.nodes.get(path);
    this.nodes.set(path, {
      value: value ?? old?.value ?? "",
      perms: perms ?? old?.perms ?? null,
      changedAt: this.step,
    });
    this.changed.push(path);
  }

  // ---- rings ----

  private onXsRing(r: TraceRecord, index: number): void {
    const d = r.details;
    const domid = r.actor === "xenstored" ? Number(d.domid) : (actorDomid(r.actor) ?? 0);
    const id = `xenstore/dom${domid}`;
    const old = this.rings.get(id)?.indices ?? {};
    let indices: Record<string, number>;
    switch (r.kind) {
      case "xs.ring.req_produced":
        indices = { ...old, req_prod: Number(d.req_prod) };
        break;
      case "xs.ring.rsp_consumed":
        indices = { ...old, rsp_cons: Number(d.rsp_cons) };
        break;
      case "xs.ring.req":
        indices = { ...old, req_cons: Number(d.req_cons) };
        break;
      case "xs.ring.rsp":
        indices = { ...old, rsp_prod: Number(d.rsp_prod) };
        break;
      default:
        indices = { req_prod: 0, req_cons: 0, rsp_prod: 0, rsp_cons: 0 };
    }
    this.rings.set(id, { id, kind: "xenstore", indices, updatedAt: index });
  }

  private onRingIndices(r: TraceRecord, index: number): void {
    const dev = deviceOfRecord(r);
    const name = String(r.details.ring ?? "ring");
    const id = dev ? `${deviceKey(dev)}/${name}` : `${r.actor}/${String(r.details.dev ?? "?")}/${name}`;
    const indices: Record<string, number> = { ...(this.rings.get(id)?.indices ?? {}) };
    for (const [k, v] of Object.entries(r.details)) {
      if (k !== "dev" && k !== "ring" && typeof v === "number") indices[k] = v;
    }
    this.rings.set(id, { id, kind: "device", indices, updatedAt: index });
  }

  // ---- grants ----

  private onGrantRing(r: TraceRecord, index: number): void {
    const granter = actorDomid(r.actor) ?? 0;
    const dev = deviceOfRecord(r);
    const backendId = dev ? this.nodes.get(`${dev.dir}/backend-id`)?.value : undefined;
    const grantee = backendId !== undefined && /^\d+$/.test(backendId) ? Number(backendId) : null;
    for (const ref of refList(r.details.refs)) {
      this.grants.set(`${granter}:${ref}`, {
        granter,
        ref,
        grantee,
        what: `ring ${String(r.details.dev)}`,
        deferred: false,
        since: index,
      });
    }
  }

  private onMap(r: TraceRecord, index: number): void {
    const mapper = actorDomid(r.actor) ?? 0;
    const granter = Number(r.details.from);
    const dev = typeof r.details.dev === "string" ? r.details.dev : "";
    const keys: string[] = [];
    for (const ref of refList(r.details.refs ?? r.details.ref)) {
      const key = `${mapper}:${granter}:${ref}`;
      const what = this.grants.get(`${granter}:${ref}`)?.what ?? (dev ? `ring ${dev}` : "page");
      this.mappings.set(key, { mapper, granter, ref, what, since: index });
      keys.push(key);
    }
    if (dev !== "") {
      const mk = `${mapper}|${dev}`;
      this.deviceMaps.set(mk, [...(this.deviceMaps.get(mk) ?? []), ...keys]);
    }
  }

  private onUnmap(r: TraceRecord): void {
    const mapper = actorDomid(r.actor) ?? 0;
    const d = r.details;
    let keys: string[];
    if (d.refs !== undefined || d.ref !== undefined) {
      keys = refList(d.refs ?? d.ref).map((ref) => `${mapper}:${Number(d.from)}:${ref}`);
    } else {
      const mk = `${mapper}|${String(d.dev ?? "")}`;
      keys = this.deviceMaps.get(mk) ?? [];
      this.deviceMaps.delete(mk);
    }
    for (const k of keys) {
      const m = this.mappings.get(k);
      this.mappings.delete(k);
      if (m === undefined) continue;
      // A revocation that waited for this unmap completes now (Linux frees the page then).
      const gk = `${m.granter}:${m.ref}`;
      if (this.grants.get(gk)?.deferred) this.grants.delete(gk);
    }
  }

  // ---- event channels ----

  private onEvtchn(r: TraceRecord): void {
    const d = r.details;
    const domid = evtchnDomid(r);
    if (r.kind === "evtchn.domain_destroyed") {
      const dead = Number(d.domid);
      for (const [k, p] of this.ports) {
        if (p.domid === dead) this.ports.delete(k);
        else if (p.status === "interdomain" && p.remoteDomid === dead)
          this.ports.set(k, { ...p, status: "unbound", remotePort: null });
      }
      for (const [k, g] of this.grants) if (g.granter === dead) this.grants.delete(k);
      for (const [k, m] of this.mappings) if (m.mapper === dead) this.mappings.delete(k);
      return;
    }
    if (domid === null) return;
    const port = Number(d.port);
    const key = `${domid}:${port}`;
    const old = this.ports.get(key);
    const fresh = (p: Partial<PortView>): PortView => ({
      domid,
      port,
      status: "unbound",
      remoteDomid: null,
      remotePort: null,
      virq: null,
      pending: false,
      masked: false,
      sends: 0,
      handler: null,
      ...p,
    });
    switch (r.kind) {
      case "evtchn.alloc_unbound":
        this.ports.set(key, fresh({ remoteDomid: Number(d.remote_dom) }));
        return;
      case "evtchn.bind_interdomain": {
        const remote = parseRemote(d.remote);
        if (remote === null) return;
        // Xen: the new local port starts pending ("notifications may have been lost").
        this.ports.set(
          key,
          fresh({ status: "interdomain", remoteDomid: remote.domid, remotePort: remote.port, pending: true }),
        );
        const rk = `${remote.domid}:${remote.port}`;
        const peer = this.ports.get(rk);
        this.ports.set(rk, {
          ...(peer ?? fresh({})),
          domid: remote.domid,
          port: remote.port,
          status: "interdomain",
          remoteDomid: domid,
          remotePort: port,
        });
        return;
      }
      case "evtchn.bind_virq":
        this.ports.set(key, fresh({ status: "virq", virq: Number(d.virq) }));
        return;
      case "evtchn.send": {
        if (old !== undefined) this.ports.set(key, { ...old, sends: old.sends + 1 });
        const remote = parseRemote(d.remote);
        if (remote === null) return;
        const rk = `${remote.domid}:${remote.port}`;
        const peer = this.ports.get(rk);
        if (peer !== undefined) this.ports.set(rk, { ...peer, pending: true });
        return;
      }
      case "evtchn.upcall":
        if (old !== undefined)
          this.ports.set(key, { ...old, pending: false, handler: String(d.handler ?? old.handler) });
        return;
      case "evtchn.mask":
      case "evtchn.unmask":
        if (old !== undefined) this.ports.set(key, { ...old, masked: r.kind === "evtchn.mask" });
        return;
      case "evtchn.close": {
        this.ports.delete(key);
        if (old?.status === "interdomain" && old.remoteDomid !== null && old.remotePort !== null) {
          const rk = `${old.remoteDomid}:${old.remotePort}`;
          const peer = this.ports.get(rk);
          // The peer goes back to unbound, bindable again by the closer.
          if (peer !== undefined)
            this.ports.set(rk, { ...peer, status: "unbound", remoteDomid: domid, remotePort: null });
        }
        return;
      }
    }
  }
}

function refList(v: unknown): number[] {
  if (typeof v === "number") return [v];
  return String(v ?? "")
    .split(",")
    .filter((s) => /^\d+$/.test(s.trim()))
    .map(Number);
}

// ---- stepping ----

/**
 * Random access to the replayed state at any step, for thousands of records: a checkpoint every
 * `checkpointEvery` records, and a cursor so that stepping forward applies one record.
 */
export class Replayer {
  private readonly checkpoints: ReplayState[] = [];
  private cursor: ReplayState;
  /** Steps at which a device's state changed (a xenbus.state record or a `…/state` node written). */
  readonly stateChangeSteps: readonly number[];

  constructor(
    readonly records: readonly TraceRecord[],
    private readonly checkpointEvery = 256,
  ) {
    const s = new ReplayState();
    const steps: number[] = [];
    this.checkpoints.push(s.clone());
    for (let i = 0; i < records.length; i++) {
      s.apply(records[i]!, i);
      if (records[i]!.kind === "xenbus.state" || s.changed.some(isDeviceStatePath)) steps.push(i);
      if ((i + 1) % checkpointEvery === 0) this.checkpoints.push(s.clone());
    }
    this.stateChangeSteps = steps;
    this.cursor = this.checkpoints[0]!.clone();
  }

  get length(): number {
    return this.records.length;
  }

  /** The state after applying records 0..step (step -1: before the first record). Do not mutate. */
  at(step: number): ReplayState {
    step = Math.max(-1, Math.min(step, this.records.length - 1));
    if (step < this.cursor.step || step - this.cursor.step > this.checkpointEvery) {
      const cp = this.checkpoints[Math.floor((step + 1) / this.checkpointEvery)]!;
      this.cursor = cp.clone();
    }
    while (this.cursor.step < step)
      this.cursor.apply(this.records[this.cursor.step + 1]!, this.cursor.step + 1);
    return this.cursor;
  }

  nextStateChange(step: number): number | null {
    return this.stateChangeSteps.find((s) => s > step) ?? null;
  }

  prevStateChange(step: number): number | null {
    for (let i = this.stateChangeSteps.length - 1; i >= 0; i--)
      if (this.stateChangeSteps[i]! < step) return this.stateChangeSteps[i]!;
    return null;
  }
}

/** The state after all of `records[0..step]` (a convenience for tests and the tutorial). */
export function replayTo(records: readonly TraceRecord[], step: number): ReplayState {
  const s = new ReplayState();
  for (let i = 0; i <= step && i < records.length; i++) s.apply(records[i]!, i);
  return s;
}

function isDeviceStatePath(p: string): boolean {
  if (!p.endsWith("/state")) return false;
  const dev = deviceOfPath(p);
  return dev !== null && p === `${dev.dir}/state`;
}

// ---- views (what the viewer and the tutorial display) ----

export interface TreeRow {
  readonly path: string;
  readonly name: string;
  readonly depth: number;
  readonly value: string;
  readonly perms: readonly string[] | null;
  readonly changedAt: number;
}

/** The tree in display order (children after their parent, numeric segments numerically). */
export function treeRows(s: ReplayState): TreeRow[] {
  const paths = [...s.nodes.keys()].sort(comparePaths);
  return paths.map((path) => {
    const n = s.nodes.get(path)!;
    const parts = path.split("/").filter((p) => p !== "");
    return {
      path,
      name: parts.at(-1) ?? "/",
      depth: parts.length - 1,
      value: n.value,
      perms: n.perms,
      changedAt: n.changedAt,
    };
  });
}

export function comparePaths(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

export interface DeviceView {
  readonly key: string;
  readonly type: string;
  readonly frontDomid: number;
  readonly devid: number;
  readonly backDomid: number | null;
  readonly frontDir: string;
  readonly backDir: string | null;
  /** The `state` node's value in XenStore (undefined when absent). */
  readonly frontState: string | undefined;
  readonly backState: string | undefined;
  /** The drivers' cached states (xenbus.state records). */
  readonly frontDriver: DriverStateView | undefined;
  readonly backDriver: DriverStateView | undefined;
}

/** Every device the tree or the drivers know of, with both ends' states. */
export function deviceViews(s: ReplayState): DeviceView[] {
  const found = new Map<
    string,
    { type: string; frontDomid: number; devid: number; backDomid: number | null }
  >();
  const note = (type: string, frontDomid: number, devid: number, backDomid: number | null): void => {
    const key = deviceKey({ type, frontDomid, devid });
    const old = found.get(key);
    found.set(key, { type, frontDomid, devid, backDomid: backDomid ?? old?.backDomid ?? null });
  };
  for (const path of s.nodes.keys()) {
    const dev = deviceOfPath(path);
    if (dev === null || !path.startsWith("/local/domain/")) continue;
    if (path === dev.dir || path === `${dev.dir}/state`)
      note(dev.type, dev.frontDomid, dev.devid, dev.backDomid ?? null);
  }
  for (const key of s.drivers.keys()) {
    const [type, fe, id] = key.split("|")[0]!.split("/");
    note(type!, Number(fe), Number(id), null);
  }
  const out: DeviceView[] = [];
  for (const [key, f] of found) {
    const frontDir = `/local/domain/${f.frontDomid}/device/${f.type}/${f.devid}`;
    let backDomid = f.backDomid;
    const beNode = s.nodes.get(`${frontDir}/backend-id`)?.value;
    if (backDomid === null && beNode !== undefined && /^\d+$/.test(beNode)) backDomid = Number(beNode);
    const backDir =
      backDomid === null ? null : `/local/domain/${backDomid}/backend/${f.type}/${f.frontDomid}/${f.devid}`;
    out.push({
      key,
      type: f.type,
      frontDomid: f.frontDomid,
      devid: f.devid,
      backDomid,
      frontDir,
      backDir,
      frontState: s.nodes.get(`${frontDir}/state`)?.value,
      backState: backDir === null ? undefined : s.nodes.get(`${backDir}/state`)?.value,
      frontDriver: s.drivers.get(`${key}|frontend`),
      backDriver: s.drivers.get(`${key}|backend`),
    });
  }
  return out.sort((a, b) => comparePaths(a.key, b.key));
}

/** What a port is for, from XenStore: the store port, or a device's `event-channel*` key. */
export function portLabels(s: ReplayState): Map<string, string> {
  const labels = new Map<string, string>();
  for (const [path, n] of s.nodes) {
    if (!/^\d+$/.test(n.value)) continue;
    const store = /^\/local\/domain\/(\d+)\/store\/port$/.exec(path);
    if (store) {
      labels.set(`${store[1]}:${n.value}`, "xenstore");
      continue;
    }
    const dev = deviceOfPath(path);
    if (dev === null || dev.role !== "frontend") continue;
    const leaf = path.slice(dev.dir.length + 1);
    if (!/^(?:queue-\d+\/)?event-channel(?:-\w+)?$/.test(leaf)) continue;
    labels.set(`${dev.frontDomid}:${n.value}`, `${deviceKey(dev)} ${leaf}`);
  }
  // The backend's end of a labelled channel carries the same label.
  for (const p of s.ports.values()) {
    if (p.status !== "interdomain" || p.remoteDomid === null) continue;
    const l = labels.get(`${p.remoteDomid}:${p.remotePort}`);
    if (l !== undefined && !labels.has(`${p.domid}:${p.port}`)) labels.set(`${p.domid}:${p.port}`, l);
  }
  return labels;
}

export function sortedPorts(s: ReplayState): PortView[] {
  return [...s.ports.values()].sort((a, b) => a.domid - b.domid || a.port - b.port);
}

export function sortedGrants(s: ReplayState): GrantView[] {
  return [...s.grants.values()].sort((a, b) => a.granter - b.granter || a.ref - b.ref);
}

export function sortedMappings(s: ReplayState): MappingView[] {
  return [...s.mappings.values()].sort(
    (a, b) => a.mapper - b.mapper || a.granter - b.granter || a.ref - b.ref,
  );
}

export function sortedRings(s: ReplayState): RingView[] {
  return [...s.rings.values()].sort((a, b) => comparePaths(a.id, b.id));
}

export { stateName };
