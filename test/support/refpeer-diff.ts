// Differential runner: the same steps (raw frames on numbered connections) against a socket
// daemon (the reference cxenstored) and against our XenStoreServer, producing comparable
// transcripts. After each step every connection is synchronised with a harmless ping
// (GET_DOMAIN_PATH), so the watch events a step caused are attributed to that step.
import {
  decodeHeader,
  encodeStrings,
  FrameParser,
  type XenStoreServer,
  type XsConnection,
  type XsFrame,
  XsFrameError,
  XsRequest,
  XsType,
  xsTypeName,
} from "@xensim/xenstore-core";
import { XsSocketClient } from "./xs-socket-client.ts";

export interface DiffStep {
  /** connection index */
  conn: number;
  /** raw bytes of one or more request frames */
  frames: Uint8Array[];
  /** close the connection instead (frames ignored) */
  close?: boolean;
}

/** One observed frame, normalised for comparison. */
export interface SeenFrame {
  conn: number;
  type: string;
  reqId: number;
  txId: number;
  payload: string;
}

/** The req_id of the GET_DOMAIN_PATH "ping" that marks the end of a step's replies. */
export const PING_REQ = 0xfffffff0;

/** The req_id in a whole frame's header. */
export function reqIdOf(frame: Uint8Array): number {
  return decodeHeader(frame).reqId;
}

function reqIds(frames: Uint8Array[]): number[] {
  return frames.map(reqIdOf);
}

/** A frame as a transcript entry (printable payload; DIRECTORY_PART generations masked). */
export function show(f: XsFrame, conn: number): SeenFrame {
  let payload = "";
  for (const b of f.payload)
    payload +=
      b >= 32 && b < 127 && b !== 92
        ? String.fromCharCode(b)
        : b === 0
          ? "\\0"
          : `\\x${b.toString(16).padStart(2, "0")}`;
  if (f.type === XsType.DIRECTORY_PART) payload = payload.replace(/^[0-9]+\\0/, "<gen>\\0");
  return { conn, type: xsTypeName(f.type), reqId: f.reqId, txId: f.txId, payload };
}

/** The end-of-step marker request. */
export function ping(): Uint8Array {
  return XsRequest.raw(XsType.GET_DOMAIN_PATH, encodeStrings(["0"]), { reqId: PING_REQ });
}

/** Runs steps against a reference daemon's socket; one transcript entry per step. */
export async function runOnSocket(
  socketPath: string,
  nconns: number,
  steps: DiffStep[],
  timeoutMs = 2000,
): Promise<SeenFrame[][]> {
  const conns: (XsSocketClient | null)[] = [];
  for (let i = 0; i < nconns; i++) conns.push(await XsSocketClient.connect(socketPath));
  const out: SeenFrame[][] = [];
  try {
    for (const st of steps) {
      const seen: SeenFrame[] = [];
      const c = conns[st.conn];
      if (st.close) {
        c?.close();
        conns[st.conn] = null;
      } else if (c) {
        c.send(concat(st.frames));
        for (const id of reqIds(st.frames)) {
          const got = await c.reply(id, timeoutMs);
          if (!got) throw new Error(`reference: no reply to req ${id} on conn ${st.conn}`);
        }
      }
      for (let i = 0; i < conns.length; i++) {
        const k = conns[i];
        if (!k) continue;
        k.send(ping());
        if (!(await k.reply(PING_REQ, timeoutMs))) throw new Error(`reference: no ping reply on conn ${i}`);
        for (const f of k.drain())
          if (!(f.reqId === PING_REQ && f.type !== XsType.WATCH_EVENT)) seen.push(show(f, i));
      }
      out.push(seen);
    }
  } finally {
    for (const k of conns) k?.close();
  }
  return out;
}

/** Runs the same steps against our server (dom0 connections, like socket clients). */
export function runOnServer(
  server: XenStoreServer,
  nconns: number,
  steps: DiffStep[],
  afterStep?: (i: number) => void,
): SeenFrame[][] {
  const conns: (XsConnection | null)[] = [];
  const parsers: FrameParser[] = [];
  for (let i = 0; i < nconns; i++) {
    conns.push(server.connect({ domid: 0, label: `diff${i}` }));
    parsers.push(new FrameParser());
  }
  const take = (i: number): XsFrame[] => {
    const c = conns[i]!;
    parsers[i]!.push(c.takeOutput());
    const fs: XsFrame[] = [];
    for (;;) {
      const f = parsers[i]!.next();
      if (f === null || f instanceof XsFrameError) break;
      fs.push(f);
    }
    return fs;
  };
  const out: SeenFrame[][] = [];
  steps.forEach((st, idx) => {
    const seen: SeenFrame[] = [];
    const c = conns[st.conn];
    if (st.close) {
      c?.close();
      conns[st.conn] = null;
    } else if (c) {
      c.deliver(concat(st.frames));
    }
    for (let i = 0; i < conns.length; i++) {
      const k = conns[i];
      if (!k) continue;
      k.deliver(ping());
      for (const f of take(i))
        if (!(f.reqId === PING_REQ && f.type !== XsType.WATCH_EVENT)) seen.push(show(f, i));
    }
    out.push(seen);
    afterStep?.(idx);
  });
  for (const k of conns) k?.close();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const o = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    o.set(p, off);
    off += p.length;
  }
  return o;
}

export function formatTranscript(t: SeenFrame[][]): string {
  return t
    .map(
      (step, i) =>
        `#${i}: ${step.map((f) => `c${f.conn} ${f.type} r${f.reqId} t${f.txId} "${f.payload}"`).join(" | ")}`,
    )
    .join("\n");
}
