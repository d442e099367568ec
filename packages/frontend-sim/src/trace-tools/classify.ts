// Shared vocabulary of the trace tools (Mermaid, state replay, viewer, tutorial): which XenStore
// requests mutate, how a payload splits, whose domain an actor is, which device a path or a
// record belongs to. Pure functions, no I/O: the viewer's client bundles this file too.
import type { TraceRecord } from "@xensim/evtchn";
import { XENBUS_STATE_NAMES } from "../xenbus/xenbus-state.ts";

/** Requests that change the tree (applied when their reply is not ERROR). */
export const XS_TREE_MUTATIONS: ReadonlySet<string> = new Set(["WRITE", "MKDIR", "RM", "SET_PERMS"]);
/** Requests that change the store's domains rather than its tree. */
export const XS_DOMAIN_OPS: ReadonlySet<string> = new Set(["INTRODUCE", "RELEASE", "SET_TARGET", "RESUME"]);
export const XS_TX_OPS: ReadonlySet<string> = new Set(["TRANSACTION_START", "TRANSACTION_END"]);
export const XS_READS: ReadonlySet<string> = new Set([
  "READ",
  "DIRECTORY",
  "DIRECTORY_PART",
  "GET_PERMS",
  "GET_DOMAIN_PATH",
  "IS_DOMAIN_INTRODUCED",
]);

export { XENBUS_STATE_NAMES };

export function stateName(value: string | number | undefined): string {
  if (value === undefined) return "—";
  const n = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  return XENBUS_STATE_NAMES[n] ?? String(value);
}

/** A simulator payload (NUL written `\0`) split into its NUL-separated arguments. */
export function xsArgs(payload: unknown): string[] {
  return String(payload ?? "").split("\\0");
}

/** The first argument without the trailing NUL (`"ENOENT\0"` → `ENOENT`, `"4\0"` → `4`). */
export function xsFirst(payload: unknown): string {
  return xsArgs(payload)[0] ?? "";
}

/** `dom1`, `dom1:xenwatch` → 1; anything else → null. */
export function actorDomid(actor: string): number | null {
  const m = /^dom(\d+)(?::|$)/.exec(actor);
  return m ? Number(m[1]) : null;
}

/** A XenStore path as xenstored resolves it: relative paths are under the domain's home. */
export function absPath(domid: number, path: string): string {
  if (path.startsWith("/") || path.startsWith("@")) return path;
  return `/local/domain/${domid}${path === "" ? "" : `/${path}`}`;
}

/** One split device: `vif/1/0` is dom1's vif 0, whatever domain serves it. */
export interface DeviceRef {
  readonly type: string;
  readonly frontDomid: number;
  readonly devid: number;
  /** Set when the path was the backend's. */
  readonly backDomid?: number;
  readonly role: "frontend" | "backend";
  /** The device directory (absolute). */
  readonly dir: string;
}

export function deviceKey(d: { type: string; frontDomid: number; devid: number }): string {
  return `${d.type}/${d.frontDomid}/${d.devid}`;
}

const FRONT_RE = /^\/local\/domain\/(\d+)\/device\/([^/]+)\/(\d+)(?:\/|$)/;
const BACK_RE = /^\/local\/domain\/(\d+)\/backend\/([^/]+)\/(\d+)\/(\d+)(?:\/|$)/;
const ERROR_RE = /^\/local\/domain\/(\d+)\/error\/(device|backend)\/(.*)$/;

/** The device an absolute path belongs to (its frontend or backend directory, or its error node). */
export function deviceOfPath(path: string): DeviceRef | null {
  let m = FRONT_RE.exec(path);
  if (m) {
    const [, d, type, id] = m;
    return { type: type!, frontDomid: Number(d), devid: Number(id), role: "frontend", dir: dirOf(m[0]) };
  }
  m = BACK_RE.exec(path);
  if (m) {
    const [, b, type, fe, id] = m;
    return {
      type: type!,
      frontDomid: Number(fe),
      devid: Number(id),
      backDomid: Number(b),
      role: "backend",
      dir: dirOf(m[0]),
    };
  }
  m = ERROR_RE.exec(path);
  if (m) return deviceOfPath(`/local/domain/${m[1]}/${m[2]}/${m[3]}`);
  return null;
}

function dirOf(matched: string): string {
  return matched.endsWith("/") ? matched.slice(0, -1) : matched;
}

/** The device of a record that names one (`dev` of xenbus.*, ring.*, netfront.*, …). */
export function deviceOfRecord(r: TraceRecord): DeviceRef | null {
  const dev = r.details.dev;
  if (typeof dev !== "string") return null;
  const domid = actorDomid(r.actor) ?? (typeof r.details.domid === "number" ? r.details.domid : 0);
  return deviceOfPath(absPath(domid, dev));
}

/** The absolute path a XenStore request names (its first argument), or null for path-less types. */
export function requestPath(r: TraceRecord): string | null {
  const type = String(r.details.type);
  if (XS_TX_OPS.has(type) || XS_DOMAIN_OPS.has(type) || type === "RESET_WATCHES" || type === "CONTROL")
    return null;
  const p = xsFirst(r.details.payload);
  if (p === "") return null;
  return absPath(Number(r.details.domid ?? 0), p);
}

/** Parses `dom1:3` (evtchn records' `remote`) into domain and port. */
export function parseRemote(remote: unknown): { domid: number; port: number } | null {
  const m = /^dom(\d+):(\d+)$/.exec(String(remote ?? ""));
  return m ? { domid: Number(m[1]), port: Number(m[2]) } : null;
}

/** The domain whose port an evtchn record is about (alloc_unbound names it in `dom`). */
export function evtchnDomid(r: TraceRecord): number | null {
  if (r.kind === "evtchn.alloc_unbound" && typeof r.details.dom === "number") return r.details.dom;
  return actorDomid(r.actor);
}

/** `12.345µs` for a virtual time in ns. */
export function formatTime(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(6)}s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)}ms`;
  return `${(ns / 1000).toFixed(1)}µs`;
}

/** `12us`, `3.5ms`, `1s`, `1200` (ns) → ns. */
export function parseTime(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?$/.exec(text.trim());
  if (!m) throw new Error(`not a time: ${JSON.stringify(text)} (use e.g. 1200, 12us, 3.5ms, 1s)`);
  const scale = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 }[(m[2] ?? "ns") as "ns"];
  return Number(m[1]) * scale;
}

/** A short human line for any record (the viewer's log and the tutorial's excerpts). */
export function describeRecord(r: TraceRecord): string {
  const d = r.details;
  switch (r.kind) {
    case "xs.request": {
      const type = String(d.type);
      const args = xsArgs(d.payload);
      const tx = typeof d.tx_id === "number" && d.tx_id !== 0 ? ` [tx ${d.tx_id}]` : "";
      const who = `dom${d.domid}/conn${d.conn}`;
      if (type === "WRITE")
        return `${who} → xenstored: WRITE ${args[0]} = ${JSON.stringify(args.slice(1).join("\\0"))}${tx}`;
      if (type === "TRANSACTION_END")
        return `${who} → xenstored: TRANSACTION_END ${args[0] === "T" ? "commit" : "abort"}${tx}`;
      return `${who} → xenstored: ${type} ${args.filter((a) => a !== "").join(" ")}${tx}`.trimEnd();
    }
    case "xs.reply": {
      const p = xsArgs(d.payload).filter((a) => a !== "");
      return `xenstored → dom${d.domid}/conn${d.conn}: ${d.type === "ERROR" ? "ERROR" : `${d.type} reply`} ${p.join(" ")}`.trimEnd();
    }
    case "xs.watch_event":
      return `xenstored → dom${d.domid}/conn${d.conn}: watch fires ${d.path} (token ${d.token})`;
    case "xenbus.state":
      return `${r.actor}: ${d.dev} (${d.role}) ${d.from} → ${d.to}`;
    case "xenbus.otherend_changed":
      return `${r.actor}: ${d.dev} sees the other end ${d.otherend_state}`;
    case "evtchn.send":
      return `${r.actor}: kick port ${d.port} → ${d.remote ?? `dropped (${d.dropped})`}`;
    case "evtchn.upcall":
      return `${r.actor}: upcall port ${d.port} (${d.handler})`;
    default:
      return `${r.actor}: ${r.kind} ${formatDetailsShort(d)}`.trimEnd();
  }
}

export function formatDetailsShort(d: TraceRecord["details"]): string {
  return Object.entries(d)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}
