// --trace FILE: every request, reply and watch event as one JSON object per line (a pcap-like
// log; cx has `-T FILE` with a text format). Wall-clock time is read here, at the I/O
// boundary; the server's trace events carry none. Schema: packages/xenstore-core/README.md.
import { createWriteStream, type WriteStream } from "node:fs";
import type { TraceEvent } from "../server/trace.ts";
import { bytesToLatin1 } from "../wire/payload.ts";
import { xsTypeName } from "../wire/xs-wire.ts";

/** One line of the trace file (see the README's "Trace file" table). */
export interface TraceLine {
  time: string;
  kind: string;
  domid?: number;
  conn?: number;
  type?: string;
  req_id?: number;
  tx_id?: number;
  /** the payload bytes as Latin-1 code points (NULs appear as \u0000 in the JSON) */
  payload?: string;
  [extra: string]: unknown;
}

/** Maps a server trace event to a trace line (without time). */
export function traceLine(e: TraceEvent, time: string): TraceLine {
  switch (e.kind) {
    case "frame-in":
    case "frame-out":
      return {
        time,
        kind: e.kind === "frame-in" ? "request" : "reply",
        domid: e.domid,
        conn: e.connId,
        type: e.typeName,
        req_id: e.reqId,
        tx_id: e.txId,
        payload: bytesToLatin1(e.payload),
      };
    case "watch-event":
      return {
        time,
        kind: "watch-event",
        domid: e.domid,
        conn: e.connId,
        type: xsTypeName(15),
        req_id: 0,
        tx_id: 0,
        payload: `${e.path}\0${e.token}\0`,
      };
    case "watch-event-dropped":
      return {
        time,
        kind: "watch-event-dropped",
        domid: e.domid,
        conn: e.connId,
        type: xsTypeName(15),
        payload: `${e.path}\0${e.token}\0`,
        reason: e.reason,
      };
    case "connection-open":
      return { time, kind: e.kind, domid: e.domid, conn: e.connId, label: e.label ?? null };
    case "connection-close":
      return { time, kind: e.kind, domid: e.domid, conn: e.connId, reason: e.reason };
    case "protocol-error":
      return { time, kind: e.kind, domid: e.domid, conn: e.connId, error: e.error, message: e.message };
    case "input-blocked":
      return { time, kind: e.kind, domid: e.domid, conn: e.connId, pending_replies: e.pendingReplies };
    case "quota-refused":
      return { time, kind: e.kind, domid: e.domid, quota: e.quota, errno: e.errno };
    case "domain-introduced":
      return { time, kind: e.kind, domid: e.domid, reintroduced: e.reintroduced };
    case "domain-released":
      return { time, kind: e.kind, domid: e.domid };
    case "internal-error":
      return { time, kind: e.kind, conn: e.connId, message: e.message };
    case "fault":
      return {
        time,
        kind: e.kind,
        fault: e.fault,
        domid: e.domid,
        conn: e.connId,
        ...(e.txId === undefined ? {} : { tx_id: e.txId }),
        ...(e.path === undefined ? {} : { path: e.path, token: e.token }),
      };
  }
}

/** Appends trace lines to a file (opened in append mode). */
export class TraceFile {
  private readonly stream: WriteStream;
  private failed: Error | null = null;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: "a" });
    this.stream.on("error", (e) => {
      if (!this.failed) process.stderr.write(`xenstored: trace file ${path}: ${e.message}\n`);
      this.failed = e;
    });
  }

  /** Waits until the file is open (so a bad path fails at start, not later). */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      if (!this.stream.pending) return resolve();
      this.stream.once("ready", () => resolve());
      this.stream.once("error", reject);
    });
  }

  /** The TraceSink: stamps the wall-clock time and appends one JSON line. */
  readonly sink = (e: TraceEvent): void => {
    this.write(traceLine(e, new Date().toISOString()));
  };

  write(line: TraceLine): void {
    if (this.failed) return;
    this.stream.write(`${JSON.stringify(line)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.failed || this.stream.closed) return resolve();
      this.stream.end(() => resolve());
    });
  }
}
