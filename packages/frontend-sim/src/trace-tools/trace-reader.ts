// Reads a trace file: the simulator's JSON lines (`pnpm start --trace-json`, fuzz/replay) or the
// daemon's (`pnpm xenstored --trace`), validated and normalised to one typed record shape.
// Schema: docs/trace-format.md.
import type { TraceDetails, TraceRecord } from "@xensim/evtchn";

export type TraceFormat = "sim" | "xenstored";

export interface ParsedTrace {
  readonly format: TraceFormat;
  readonly records: readonly TraceRecord[];
  /** Non-fatal oddities (seq not increasing, time going backwards, a details key shadowed). */
  readonly warnings: readonly string[];
}

export class TraceParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`trace line ${line}: ${message}`);
  }
}

/** Top-level keys of a simulator line that are not details. */
const SIM_KEYS = new Set(["seq", "t", "actor", "kind"]);

/** The daemon's `kind`s and the simulator kind each becomes. */
const DAEMON_KINDS: Readonly<Record<string, string>> = {
  request: "xs.request",
  reply: "xs.reply",
  "watch-event": "xs.watch_event",
};

/**
 * Parses JSON lines (blank lines ignored). The format is decided by the first record: a line with
 * `seq`, `t` and `actor` is the simulator's; a line with `time` and `kind` but no `seq` is the
 * daemon's. Throws TraceParseError with the line number on anything malformed.
 */
export function parseTrace(text: string): ParsedTrace {
  const lines = text.split("\n");
  const records: TraceRecord[] = [];
  const warnings: string[] = [];
  let format: TraceFormat | null = null;
  let daemonT0: number | null = null;
  let lastSeq = -1;
  let lastT = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    const lineNo = i + 1;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new TraceParseError(lineNo, `not JSON (${(e as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj))
      throw new TraceParseError(lineNo, "not a JSON object");
    const o = obj as Record<string, unknown>;
    format ??= "seq" in o ? "sim" : "time" in o ? "xenstored" : null;
    if (format === null)
      throw new TraceParseError(lineNo, "neither a simulator line (seq) nor a daemon line (time)");
    if (format === "sim") {
      const { seq, t, actor, kind } = o;
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)
        throw new TraceParseError(lineNo, `seq must be a non-negative integer, got ${JSON.stringify(seq)}`);
      if (typeof t !== "number" || !Number.isFinite(t) || t < 0)
        throw new TraceParseError(lineNo, `t must be a non-negative number, got ${JSON.stringify(t)}`);
      if (typeof actor !== "string" || actor === "")
        throw new TraceParseError(lineNo, "actor must be a non-empty string");
      if (typeof kind !== "string" || kind === "")
        throw new TraceParseError(lineNo, "kind must be a non-empty string");
      if (seq <= lastSeq) warnings.push(`line ${lineNo}: seq ${seq} after ${lastSeq}`);
      if (t < lastT) warnings.push(`line ${lineNo}: time goes back (${t} < ${lastT})`);
      if (!kind.includes("."))
        warnings.push(
          `line ${lineNo}: kind ${JSON.stringify(kind)} has no dot (a details key "kind" shadowed it?)`,
        );
      lastSeq = seq;
      lastT = t;
      const details: Record<string, TraceDetails[string]> = {};
      for (const [k, v] of Object.entries(o)) if (!SIM_KEYS.has(k)) details[k] = v as TraceDetails[string];
      records.push({ seq, t, actor, kind, details });
    } else {
      const { time, kind } = o;
      if (typeof time !== "string" || Number.isNaN(Date.parse(time)))
        throw new TraceParseError(lineNo, `time must be an ISO 8601 string, got ${JSON.stringify(time)}`);
      if (typeof kind !== "string" || kind === "")
        throw new TraceParseError(lineNo, "kind must be a non-empty string");
      const ms = Date.parse(time);
      daemonT0 ??= ms;
      const t = Math.max(0, (ms - daemonT0) * 1e6);
      const details: Record<string, TraceDetails[string]> = {};
      for (const [k, v] of Object.entries(o)) {
        if (k === "kind") continue;
        details[k] =
          k === "payload" && typeof v === "string" ? printableLatin1(v) : (v as TraceDetails[string]);
      }
      if (kind === "watch-event" || kind === "watch-event-dropped") {
        const [path = "", token = ""] = String(o.payload ?? "").split("\0");
        details.path = path;
        details.token = token;
      }
      records.push({
        seq: records.length,
        t,
        actor: "xenstored",
        kind: DAEMON_KINDS[kind] ?? `xs.${kind}`,
        details,
      });
    }
  }
  return { format: format ?? "sim", records, warnings };
}

/**
 * The daemon writes payload bytes as Latin-1 code points; the simulator writes them printable
 * (NUL as `\0`, other non-printables and backslash as `\xNN`, 256 bytes at most). Converts the
 * former to the latter so every tool splits payloads the same way.
 */
export function printableLatin1(s: string): string {
  let out = "";
  const n = Math.min(s.length, 256);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) out += "\\0";
    else if (c >= 0x20 && c < 0x7f && c !== 0x5c) out += s[i];
    else out += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s.length > n ? `${out}…(${s.length} bytes)` : out;
}
