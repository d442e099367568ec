// A Mermaid sequenceDiagram of a trace: lanes for the frontend domains, xenstored, the backend
// domain, the toolstack and the hypervisor; XenStore writes (reads on request), watch events,
// event-channel kicks, grants and maps, state changes as notes. Filters keep a diagram readable.
import type { TraceRecord } from "@xensim/evtchn";
import {
  absPath,
  actorDomid,
  type DeviceRef,
  deviceOfPath,
  deviceOfRecord,
  evtchnDomid,
  formatDetailsShort,
  parseRemote,
  requestPath,
  XS_DOMAIN_OPS,
  XS_READS,
  XS_TREE_MUTATIONS,
  xsArgs,
  xsFirst,
} from "./classify.ts";

export interface MermaidOptions {
  /** Keep only records about this device: `vif/1/0` (type/frontend domid/devid), or `vif`, or `vif/1`. */
  readonly device?: string;
  /** Keep only these kinds; an entry ending in `.` or `*` is a prefix (`xenbus.*`, `xs.`). */
  readonly kinds?: readonly string[];
  readonly excludeKinds?: readonly string[];
  /** Virtual-time window in ns, inclusive. */
  readonly from?: number;
  readonly to?: number;
  /** Draw READ/DIRECTORY/GET_PERMS too (off by default). */
  readonly reads?: boolean;
  /** Draw every reply (by default only errors and transaction ids). */
  readonly replies?: boolean;
  /** Draw the kicks that carry XenStore ring traffic (implied by the xs arrows; off by default). */
  readonly xsKicks?: boolean;
  /** Keep `domN:xenwatch` as its own lane instead of merging it into `domN`. */
  readonly threads?: boolean;
  /** Most messages drawn (default 600); the rest is cut with a note. */
  readonly maxMessages?: number;
  /** Title line. */
  readonly title?: string;
}

interface Lane {
  readonly id: string;
  readonly label: string;
  readonly order: number;
}

/** Renders the diagram text. Deterministic: same records and options, same text. */
export function toMermaid(records: readonly TraceRecord[], options: MermaidOptions = {}): string {
  const max = options.maxMessages ?? 600;
  const lanes = new Map<string, Lane>();
  const body: string[] = [];
  const conns = new Map<number, { domid: number; label: string }>();
  const devicePorts = new DevicePorts();
  let drawn = 0;
  let cut = 0;

  const laneForDomain = (domid: number, thread?: string): string => {
    const id = thread && options.threads ? `dom${domid}_${thread.replace(/\W/g, "_")}` : `dom${domid}`;
    if (!lanes.has(id)) {
      const role = domid === 0 ? "dom0 (backend)" : `dom${domid} (frontend)`;
      lanes.set(id, {
        id,
        label: thread && options.threads ? `${role} ${thread}` : role,
        order: domid === 0 ? 20 : 1 + domid / 1e6,
      });
    }
    return id;
  };
  const laneOf = (actor: string): string => {
    const domid = actorDomid(actor);
    if (domid !== null)
      return laneForDomain(domid, actor.includes(":") ? actor.slice(actor.indexOf(":") + 1) : undefined);
    const fixed: Record<string, [string, number]> = {
      xenstored: ["xenstored", 10],
      toolstack: ["toolstack (libxl)", 30],
      hypervisor: ["Xen", 40],
    };
    const id = actor.replace(/\W/g, "_");
    if (!lanes.has(id)) {
      const [label, order] = fixed[actor] ?? [actor, 35];
      lanes.set(id, { id, label, order });
    }
    return id;
  };
  /** The lane of a XenStore client: the toolstack's connection, a domain's, or (daemon) the connection. */
  const clientLane = (r: TraceRecord): string => {
    const conn = Number(r.details.conn ?? r.details.connId);
    const domid = Number(r.details.domid ?? 0);
    const c = conns.get(conn);
    if (c === undefined) return laneForDomain(domid); // opened before the trace started
    if (c.label === "toolstack") return laneOf("toolstack");
    if (c.label !== "" && c.label !== "null") return laneForDomain(c.domid);
    // The daemon's connections have no label: one lane per connection.
    const id = `conn${conn}`;
    if (!lanes.has(id))
      lanes.set(id, { id, label: `conn ${conn} (dom${domid})`, order: (domid === 0 ? 20 : 1) + conn / 1e3 });
    return id;
  };
  const useXs = (): string => laneOf("xenstored");

  const pendingTx = new Map<string, string>();
  const emit = (line: string): void => {
    if (drawn >= max) {
      cut++;
      return;
    }
    body.push(`  ${line}`);
    drawn++;
  };

  const device = options.device ? parseDeviceFilter(options.device) : null;
  const txWithDevice = new Set<string>();

  for (const r of records) {
    const d = r.details;
    // Bookkeeping that must see every record, filtered or not.
    if (r.kind === "xs.connection-open")
      conns.set(Number(d.conn ?? d.connId), { domid: Number(d.domid), label: String(d.label ?? "") });
    devicePorts.observe(r);
    if (options.from !== undefined && r.t < options.from) continue;
    if (options.to !== undefined && r.t > options.to) continue;
    if (!kindSelected(r.kind, options)) continue;
    if (device !== null) {
      // A transaction's end is kept when one of its requests about the device was.
      const txKey = `${d.conn}/${d.tx_id}`;
      const isTxEnd = r.kind === "xs.request" && d.type === "TRANSACTION_END" && txWithDevice.has(txKey);
      if (!isTxEnd && !devicePorts.concerns(r, device)) continue;
      if (r.kind === "xs.request" && typeof d.tx_id === "number" && d.tx_id !== 0) txWithDevice.add(txKey);
    }

    switch (r.kind) {
      case "xs.request": {
        const type = String(d.type);
        const args = xsArgs(d.payload);
        const tx = typeof d.tx_id === "number" && d.tx_id !== 0 ? ` [tx ${d.tx_id}]` : "";
        let text: string | null = null;
        if (type === "WRITE") text = `WRITE ${args[0]} = ${JSON.stringify(args.slice(1).join("\\0"))}${tx}`;
        else if (XS_TREE_MUTATIONS.has(type) || XS_DOMAIN_OPS.has(type))
          text = `${type} ${args.filter((a) => a !== "").join(" ")}${tx}`;
        else if (type === "TRANSACTION_START") {
          pendingTx.set(`${d.conn}/${d.req_id}`, "start");
          text = "TRANSACTION_START";
        } else if (type === "TRANSACTION_END")
          text = `TRANSACTION_END ${args[0] === "T" ? "commit" : "abort"}${tx}`;
        else if (type === "WATCH" || type === "UNWATCH") text = `${type} ${args[0]} (token ${args[1]})`;
        else if (XS_READS.has(type)) text = options.reads ? `${type} ${args[0]}${tx}` : null;
        else text = `${type} ${args.filter((a) => a !== "").join(" ")}`;
        if (text !== null) emit(`${clientLane(r)}->>${useXs()}: ${esc(text)}`);
        break;
      }
      case "xs.reply": {
        const type = String(d.type);
        const key = `${d.conn}/${d.req_id}`;
        if (type === "ERROR") emit(`${useXs()}--x${clientLane(r)}: ${esc(`ERROR ${xsFirst(d.payload)}`)}`);
        else if (pendingTx.has(key))
          emit(`${useXs()}-->>${clientLane(r)}: ${esc(`tx ${xsFirst(d.payload)}`)}`);
        else if (options.replies)
          emit(
            `${useXs()}-->>${clientLane(r)}: ${esc(
              `${type} ${xsArgs(d.payload)
                .filter((a) => a !== "")
                .join(" ")}`,
            )}`,
          );
        pendingTx.delete(key);
        break;
      }
      case "xs.watch_event":
        emit(`${useXs()}-->>${clientLane(r)}: ${esc(`watch ${d.path} (${d.token})`)}`);
        break;
      case "xenbus.state":
        emit(`Note over ${laneOf(r.actor)}: ${esc(`${d.dev}: ${d.from} → ${d.to}`)}`);
        break;
      case "xenbus.otherend_changed":
        emit(`Note over ${laneOf(r.actor)}: ${esc(`${d.dev} sees other end ${d.otherend_state}`)}`);
        break;
      case "xenbus.grant_ring":
        emit(`Note over ${laneOf(r.actor)}: ${esc(`grant ring ${d.dev}: ref ${d.refs}`)}`);
        break;
      case "xenbus.ungrant_ring":
        emit(
          `Note over ${laneOf(r.actor)}: ${esc(`end access ${d.refs}${d.deferred ? ` (deferred: ${d.deferred} still mapped)` : ""}`)}`,
        );
        break;
      case "xenbus.map_ring":
        emit(
          `${laneOf(r.actor)}->>${laneOf("hypervisor")}: ${esc(`map_grant_ref dom${d.from} ref ${d.refs} (${d.dev})`)}`,
        );
        break;
      case "xenbus.unmap_ring":
        emit(`${laneOf(r.actor)}->>${laneOf("hypervisor")}: ${esc(`unmap ${d.dev} (${d.pages} page)`)}`);
        break;
      case "evtchn.alloc_unbound":
        emit(
          `${laneOf(r.actor)}->>${laneOf("hypervisor")}: ${esc(`alloc_unbound → dom${d.dom} port ${d.port} for dom${d.remote_dom}`)}`,
        );
        break;
      case "evtchn.bind_interdomain":
        emit(
          `${laneOf(r.actor)}->>${laneOf("hypervisor")}: ${esc(`bind_interdomain ${d.remote} → port ${d.port}`)}`,
        );
        break;
      case "evtchn.close":
        emit(`${laneOf(r.actor)}->>${laneOf("hypervisor")}: ${esc(`close port ${d.port}`)}`);
        break;
      case "evtchn.send": {
        if (!options.xsKicks && devicePorts.isXenstorePort(r)) break;
        const remote = parseRemote(d.remote);
        if (remote === null)
          emit(`Note over ${laneOf(r.actor)}: ${esc(`kick port ${d.port} dropped (${d.dropped})`)}`);
        else
          emit(
            `${laneOf(r.actor)}-)${laneForDomain(remote.domid)}: ${esc(`kick port ${d.port} → ${d.remote}`)}`,
          );
        break;
      }
      case "evtchn.upcall":
      case "xs.ring.req":
      case "xs.ring.rsp":
      case "xs.ring.req_produced":
      case "xs.ring.rsp_consumed":
      case "xs.connection-open":
        break;
      case "ring.indices":
        emit(
          `Note over ${laneOf(r.actor)}: ${esc(`${d.dev} ${d.ring}: ${formatDetailsShort(Object.fromEntries(Object.entries(d).filter(([k]) => k !== "dev" && k !== "ring")))}`)}`,
        );
        break;
      default:
        if (r.kind.startsWith("toolstack."))
          emit(`Note over ${laneOf(r.actor)}: ${esc(`${r.kind.slice(10)} ${formatDetailsShort(d)}`)}`);
        else if (r.kind.startsWith("fault."))
          emit(`Note over ${laneOf(r.actor)}: ${esc(`FAULT ${r.kind.slice(6)} ${formatDetailsShort(d)}`)}`);
        else if (r.kind.startsWith("xs."))
          emit(`Note over ${useXs()}: ${esc(`${r.kind.slice(3)} ${formatDetailsShort(d)}`)}`);
        else emit(`Note over ${laneOf(r.actor)}: ${esc(`${r.kind} ${formatDetailsShort(d)}`)}`);
    }
  }
  if (cut > 0)
    body.push(
      `  Note over ${[...lanes.keys()][0] ?? "xenstored"}: ${esc(`… ${cut} more messages cut (raise --max or filter)`)}`,
    );
  const header = ["sequenceDiagram"];
  if (options.title) header.push(`  title ${esc(options.title)}`);
  for (const l of [...lanes.values()].sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : 1)))
    header.push(`  participant ${l.id} as ${esc(l.label)}`);
  if (body.length === 0) body.push(`  Note over ${[...lanes.keys()][0] ?? "xenstored"}: no records match`);
  if (lanes.size === 0) header.push("  participant xenstored");
  return `${[...header, ...body].join("\n")}\n`;
}

function kindSelected(kind: string, o: MermaidOptions): boolean {
  const match = (p: string) =>
    p.endsWith("*") || p.endsWith(".") ? kind.startsWith(p.replace(/\*$/, "")) : kind === p;
  if (o.kinds && o.kinds.length > 0 && !o.kinds.some(match)) return false;
  if (o.excludeKinds?.some(match)) return false;
  return true;
}

interface DeviceFilter {
  readonly type: string;
  readonly frontDomid: number | null;
  readonly devid: number | null;
}

function parseDeviceFilter(s: string): DeviceFilter {
  const [type = "", fe, id] = s.split("/");
  return {
    type,
    frontDomid: fe === undefined ? null : Number(fe),
    devid: id === undefined ? null : Number(id),
  };
}

function matches(f: DeviceFilter, d: DeviceRef | null): boolean {
  return (
    d !== null &&
    d.type === f.type &&
    (f.frontDomid === null || d.frontDomid === f.frontDomid) &&
    (f.devid === null || d.devid === f.devid)
  );
}

/**
 * Which event-channel ports belong to which device (from the `event-channel*` keys a frontend
 * writes and the bind that connects to them) and which carry XenStore (`store/port`), tracked
 * over the whole trace so that filters can place kicks.
 */
class DevicePorts {
  private readonly owner = new Map<string, DeviceRef | "xenstore">();
  private readonly writes = new Map<string, string>();

  observe(r: TraceRecord): void {
    const d = r.details;
    if (r.kind === "xs.request" && d.type === "WRITE") {
      this.writes.set(`${d.conn}/${d.req_id}`, String(d.payload));
    } else if (r.kind === "xs.reply") {
      const payload = this.writes.get(`${d.conn}/${d.req_id}`);
      this.writes.delete(`${d.conn}/${d.req_id}`);
      if (payload === undefined || d.type === "ERROR") return;
      const [p = "", v = ""] = xsArgs(payload);
      const path = absPath(Number(d.domid ?? 0), p);
      if (!/^\d+$/.test(v)) return;
      const store = /^\/local\/domain\/(\d+)\/store\/port$/.exec(path);
      if (store) this.owner.set(`${store[1]}:${v}`, "xenstore");
      const dev = deviceOfPath(path);
      if (dev?.role === "frontend" && /\/event-channel(-\w+)?$/.test(path))
        this.owner.set(`${dev.frontDomid}:${v}`, dev);
    } else if (r.kind === "evtchn.bind_interdomain") {
      const remote = parseRemote(d.remote);
      const o = remote ? this.owner.get(`${remote.domid}:${remote.port}`) : undefined;
      if (o !== undefined) this.owner.set(`${actorDomid(r.actor)}:${d.port}`, o);
    }
  }

  private ownerOf(r: TraceRecord): DeviceRef | "xenstore" | undefined {
    return this.owner.get(`${evtchnDomid(r)}:${r.details.port}`);
  }

  isXenstorePort(r: TraceRecord): boolean {
    if (r.actor === "xenstored") return true;
    const o = this.ownerOf(r);
    if (o === "xenstore") return true;
    const remote = parseRemote(r.details.remote);
    return remote !== null && this.owner.get(`${remote.domid}:${remote.port}`) === "xenstore";
  }

  concerns(r: TraceRecord, f: DeviceFilter): boolean {
    const d = r.details;
    if (r.kind === "xs.request") {
      const p = requestPath(r);
      // Transaction and domain requests name no device: left out under a device filter.
      return p !== null && matches(f, deviceOfPath(p));
    }
    if (r.kind === "xs.watch_event")
      return matches(f, deviceOfPath(absPath(Number(d.domid ?? 0), String(d.path))));
    if (r.kind === "xs.reply") return false;
    if (r.kind.startsWith("evtchn.")) {
      const o = this.ownerOf(r);
      const remote = parseRemote(d.remote);
      const ro = remote ? this.owner.get(`${remote.domid}:${remote.port}`) : undefined;
      return (
        (o !== undefined && o !== "xenstore" && matches(f, o)) ||
        (ro !== undefined && ro !== "xenstore" && matches(f, ro))
      );
    }
    if (r.kind.startsWith("toolstack.")) {
      return (
        (d.type === f.type || d.kind === f.type || d.devtype === f.type) &&
        (f.frontDomid === null || d.domid === f.frontDomid) &&
        (f.devid === null || d.devid === f.devid)
      );
    }
    return matches(f, deviceOfRecord(r));
  }
}

/**
 * Mermaid message text: no newlines, and `;` `#` `<` `>` written as entity codes (Mermaid reads
 * `;` as a statement end and `#…;` as an entity).
 */
export function esc(text: string): string {
  const codes: Record<string, string> = { "#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;" };
  return text.replace(/[\r\n]+/g, " ").replace(/[#;<>]/g, (c) => codes[c]!);
}
