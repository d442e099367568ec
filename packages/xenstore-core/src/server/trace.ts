// Structured trace events: the server never reads clocks; a tracer stamps them if it wants.
import type { XsFrameErrorKind } from "../wire/errors.ts";

export type TraceEvent =
  | {
      kind: "frame-in" | "frame-out";
      connId: number;
      domid: number;
      type: number;
      typeName: string;
      reqId: number;
      txId: number;
      payload: Uint8Array;
    }
  | { kind: "watch-event"; connId: number; domid: number; path: string; token: string }
  | {
      kind: "watch-event-dropped";
      connId: number;
      domid: number;
      path: string;
      token: string;
      reason: "coalesced" | "queue-full" | "too-long";
    }
  | { kind: "connection-open"; connId: number; domid: number; label: string | undefined }
  | { kind: "connection-close"; connId: number; domid: number; reason: string }
  | { kind: "protocol-error"; connId: number; domid: number; error: XsFrameErrorKind; message: string }
  | { kind: "input-blocked"; connId: number; domid: number; pendingReplies: number }
  | { kind: "quota-refused"; domid: number; quota: string; errno: string }
  | { kind: "domain-introduced"; domid: number; reintroduced: boolean }
  | { kind: "domain-released"; domid: number }
  | { kind: "internal-error"; connId: number; message: string }
  | {
      kind: "fault";
      fault: "commit-eagain" | "watch-duplicate";
      connId: number;
      domid: number;
      txId?: number;
      path?: string;
      token?: string;
    };

export type TraceSink = (event: TraceEvent) => void;
