import type { TraceRecord } from "@xensim/evtchn";

/**
 * A readable timeline of a run: one line per event a person follows a handshake by — XenStore
 * writes and watch events, grants and maps, event-channel kicks, state changes, toolstack steps —
 * instead of every ring chunk. `verbose` keeps every record.
 */
export interface TimelineOptions {
  readonly verbose?: boolean;
  /** Also show XenStore reads and directory listings (hidden by default). */
  readonly reads?: boolean;
}

const XS_MUTATIONS = new Set([
  "WRITE",
  "MKDIR",
  "RM",
  "SET_PERMS",
  "INTRODUCE",
  "RELEASE",
  "SET_TARGET",
  "RESUME",
]);
const XS_TX = new Set(["TRANSACTION_START", "TRANSACTION_END"]);
const XS_READS = new Set(["READ", "DIRECTORY", "DIRECTORY_PART", "GET_PERMS"]);

export function timelineLine(r: TraceRecord, options: TimelineOptions = {}): string | null {
  const d = r.details;
  const who =
    r.actor === "xenstored" && typeof d.domid === "number" ? `xenstored←${domName(d.domid)}` : r.actor;
  const head = `${formatTime(r.t)}  ${who.padEnd(16)}`;
  switch (r.kind) {
    case "xs.request": {
      const type = String(d.type);
      const args = String(d.payload ?? "").split("\\0");
      const tx = typeof d.tx_id === "number" && d.tx_id !== 0 ? ` [tx ${d.tx_id}]` : "";
      if (type === "WRITE")
        return `${head}xs WRITE ${args[0]} = ${JSON.stringify(args.slice(1).join("\\0"))}${tx}`;
      if (XS_MUTATIONS.has(type)) return `${head}xs ${type} ${args.filter((a) => a !== "").join(" ")}${tx}`;
      if (XS_TX.has(type)) return `${head}xs ${type}${type === "TRANSACTION_END" ? ` ${args[0]}` : ""}${tx}`;
      if (type === "WATCH" || type === "UNWATCH") return `${head}xs ${type} ${args[0]}`;
      if (XS_READS.has(type) && (options.reads || options.verbose))
        return `${head}xs ${type} ${args[0]}${tx}`;
      return options.verbose ? `${head}xs ${type} ${args.join(" ")}` : null;
    }
    case "xs.reply": {
      const p = String(d.payload ?? "");
      if (String(d.type) === "ERROR")
        return `${head}xs → ${domName(Number(d.domid))} ERROR ${p.replace(/\\0$/, "")}`;
      if (String(d.type) === "TRANSACTION_START") return `${head}xs → tx ${p.replace(/\\0$/, "")}`;
      return options.verbose ? `${head}xs → ${d.type} ${p}` : null;
    }
    case "xs.watch_event":
      return `${head}watch fires ${d.path} → ${domName(Number(d.domid))} (token ${d.token})`;
    case "xenbus.state":
      return `${head}STATE ${d.dev} (${d.role}): ${d.from} → ${d.to}`;
    case "xenbus.otherend_changed":
      return `${head}sees other end of ${d.dev} ${d.otherend_state}`;
    case "xenbus.dev_error":
      return `${head}ERROR NODE ${d.dev}: ${JSON.stringify(d.error)}`;
    case "xenbus.probe":
      return `${head}probe ${d.dev} (${d.driver})`;
    case "xenbus.remove":
      return `${head}remove ${d.dev}`;
    case "xenbus.grant_ring":
      return `${head}grant ring ${d.dev}: ${d.pages} page(s), refs ${d.refs}`;
    case "xenbus.map_ring":
      return `${head}map ring ${d.dev}: refs ${d.refs} of dom${d.from}`;
    case "xenbus.unmap_ring":
      return `${head}unmap ring ${d.dev}`;
    case "evtchn.alloc_unbound":
      return `${head}evtchn alloc port ${d.port} for dom${d.remote_dom}`;
    case "evtchn.bind_interdomain":
      return `${head}evtchn bind port ${d.port} ↔ ${d.remote}`;
    case "evtchn.close":
      return `${head}evtchn close port ${d.port}`;
    case "evtchn.send":
      return options.verbose || !isXenstoreKick(r)
        ? `${head}kick port ${d.port} → ${d.remote ?? d.dropped}`
        : null;
    default:
      if (r.kind.startsWith("toolstack.")) return `${head}${r.kind.slice(10).toUpperCase()} ${details(d)}`;
      if (r.kind.startsWith("demo.") || r.kind.startsWith("scenario."))
        return `${head}${r.kind} ${details(d)}`;
      if (r.kind.startsWith("netfront.") || r.kind.startsWith("netback.") || r.kind.startsWith("blk")) {
        return `${head}${r.kind} ${details(d)}`;
      }
      if (r.kind.startsWith("fault.")) return `${head}FAULT ${r.kind.slice(6)} ${details(d)}`;
      return options.verbose ? `${head}${r.kind} ${details(d)}` : null;
  }
}

/** Kicks on the XenStore channels are implied by the xs lines; hide them unless verbose. */
function isXenstoreKick(r: TraceRecord): boolean {
  const to = String(r.details.to ?? "");
  return r.actor === "xenstored" || to.startsWith("xs-ring:") || to === "xenbus";
}

export function renderTimeline(records: readonly TraceRecord[], options: TimelineOptions = {}): string {
  let out = "";
  for (const r of records) {
    const line = timelineLine(r, options);
    if (line !== null) out += `${line}\n`;
  }
  return out;
}

function domName(domid: number): string {
  return `dom${domid}`;
}

function formatTime(ns: number): string {
  return `${(ns / 1000).toFixed(1).padStart(10)}µs`;
}

function details(d: TraceRecord["details"]): string {
  return Object.entries(d)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}
