/**
 * The structured simulation trace: one record per observable event (virtual time, actor, kind,
 * details). Every layer appends to the same trace, so one file shows a whole handshake. Records are
 * plain JSON-able objects and their serialisation is deterministic (insertion-ordered keys), so the
 * same seed gives a byte-identical trace.
 */
export type TraceValue = string | number | boolean | null | undefined | readonly TraceValue[] | TraceDetails;
export interface TraceDetails {
  readonly [key: string]: TraceValue;
}

export interface TraceRecord {
  /** Position in the trace, from 0. */
  readonly seq: number;
  /** Virtual time in nanoseconds. */
  readonly t: number;
  /** Who did it: `dom0`, `dom1`, `xenstored`, `hypervisor`, … */
  readonly actor: string;
  /** Dotted kind: `evtchn.send`, `xs.write`, `ring.push`, `xenbus.state`, … */
  readonly kind: string;
  readonly details: TraceDetails;
}

export type TraceListener = (record: TraceRecord) => void;

export interface TraceOptions {
  /** Keep records in memory (default true). Benchmarks turn this off and keep only listeners. */
  readonly record?: boolean;
}

export class Trace {
  private readonly records: TraceRecord[] = [];
  private readonly listeners: TraceListener[] = [];
  private nextSeq = 0;
  private readonly recording: boolean;

  constructor(
    private readonly clock: () => number,
    options: TraceOptions = {},
  ) {
    this.recording = options.record ?? true;
  }

  /** True when anything would observe an emitted record (lets hot paths skip building details). */
  get enabled(): boolean {
    return this.recording || this.listeners.length > 0;
  }

  emit(actor: string, kind: string, details: TraceDetails = {}): void {
    if (!this.enabled) return;
    const record: TraceRecord = { seq: this.nextSeq++, t: this.clock(), actor, kind, details };
    if (this.recording) this.records.push(record);
    for (const l of this.listeners) l(record);
  }

  /** Subscribe to records as they are emitted; returns an unsubscribe function. */
  listen(listener: TraceListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get length(): number {
    return this.records.length;
  }

  all(): readonly TraceRecord[] {
    return this.records;
  }

  filter(pred: (r: TraceRecord) => boolean): TraceRecord[] {
    return this.records.filter(pred);
  }

  /** JSON lines, one record per line (the schema is documented in docs/trace-format.md). */
  toJsonLines(): string {
    let out = "";
    for (const r of this.records) out += `${traceRecordToJson(r)}\n`;
    return out;
  }

  /** Human-readable timeline, one line per record. */
  toText(): string {
    let out = "";
    for (const r of this.records) out += `${formatTraceRecord(r)}\n`;
    return out;
  }
}

export function traceRecordToJson(r: TraceRecord): string {
  return JSON.stringify({ seq: r.seq, t: r.t, actor: r.actor, kind: r.kind, ...r.details });
}

/** `   12.345µs  dom1        evtchn.send       port=3 remote=dom0:5` */
export function formatTraceRecord(r: TraceRecord): string {
  const us = (r.t / 1000).toFixed(3).padStart(12);
  return `${us}µs  ${r.actor.padEnd(11)} ${r.kind.padEnd(22)} ${formatDetails(r.details)}`.trimEnd();
}

export function formatDetails(details: TraceDetails): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(details)) {
    if (v === undefined) continue;
    parts.push(`${k}=${formatValue(v)}`);
  }
  return parts.join(" ");
}

function formatValue(v: TraceValue): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "string") return /^[\w./:@<>=+-]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}
