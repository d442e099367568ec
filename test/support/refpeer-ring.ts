// Guest differential runner: unprivileged guests on real XenStore rings of the reference
// daemon (refpeer ring mode, FAKEXEN_RINGDIR) beside dom0 socket connections, and the same
// frames on `server.connect({ domid })` of our server. Node has no Unix datagram sockets, so a
// small Python helper (refpeer-ring.py, reusing refpeer's xsconf.RingConn) plays the guests'
// side of the rings; it is driven over stdin/stdout with JSON lines.
//
// A run: dom0 (an admin connection) creates each guest's toolstack-like home and INTRODUCEs
// it (the guest's ring and kick socket exist first, as a guest's event channel does), then the
// dom0 step connections are opened (so connection order, which orders watch events, is the
// same on both sides), then the steps run; after each step every connection is synchronised
// with a GET_DOMAIN_PATH ping and everything that arrived before the ping's reply belongs to
// the step.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  FrameParser,
  type XenStoreServer,
  type XsConnection,
  type XsFrame,
  XsFrameError,
  XsRequest,
  XsType,
} from "@xensim/xenstore-core";
import { REFPEER_DIR } from "./refpeer.ts";
import { PING_REQ, ping, reqIdOf, type SeenFrame, show } from "./refpeer-diff.ts";
import { XsSocketClient } from "./xs-socket-client.ts";

const HELPER = join(import.meta.dirname, "refpeer-ring.py");

/** One connection of a run: dom0 (a socket on the reference) or a guest (a ring). */
export interface RunConn {
  domid: number;
}

export interface GuestStep {
  conn: number;
  frames: Uint8Array[];
  /** a guest connection this step ends (dom0 RELEASEs its domain): not used afterwards */
  kills?: number;
  /**
   * a guest connection this step brings back: its frames (from dom0) INTRODUCE the released
   * domain again, and the guest then talks on a fresh ring, a new connection of the daemon
   */
  revives?: number;
}

export interface GuestRun {
  /** frames dom0 sends first on an admin connection (homes), one at a time */
  setup: Uint8Array[];
  /** guests to INTRODUCE after the setup (each must be a `conns` entry) */
  guests: number[];
  conns: RunConn[];
  steps: GuestStep[];
  /** frames dom0 sends at the end on the reference (RELEASE, RM), replies not compared */
  teardown: Uint8Array[];
}

/** What a run observed: setup replies, then one list of frames per step. */
export interface GuestTranscript {
  setup: SeenFrame[];
  steps: SeenFrame[][];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "hex"));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
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

interface HelperReply {
  id: number;
  ok: boolean;
  error?: string;
  status?: string;
  why?: string | null;
  frames?: [number, number, number, string][];
}

/** The Python helper process playing the guests' side of the rings. */
export class RingHelper {
  private readonly proc: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private readonly pending = new Map<number, (r: HelperReply) => void>();
  private stderr = "";
  private exited: string | null = null;

  constructor() {
    this.proc = spawn("python3", [HELPER], {
      env: { ...process.env, PYTHONPATH: REFPEER_DIR, PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const r = JSON.parse(line) as HelperReply;
      const k = this.pending.get(r.id);
      this.pending.delete(r.id);
      k?.(r);
    });
    this.proc.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.proc.on("exit", (code) => {
      this.exited = `ring helper exited (${code}): ${this.stderr.trim().split("\n").slice(-3).join(" | ")}`;
      for (const k of this.pending.values()) k({ id: 0, ok: false, error: this.exited });
      this.pending.clear();
    });
  }

  private call(req: Record<string, unknown>): Promise<HelperReply> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise((resolveP, reject) => {
      this.pending.set(id, (r) => (r.ok ? resolveP(r) : reject(new Error(`ring helper: ${r.error}`))));
      this.proc.stdin.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  /** Maps the guest's page and binds its kick socket (before dom0 INTRODUCEs it). */
  async open(ringDir: string, domid: number): Promise<void> {
    await this.call({ cmd: "open", ring: ringDir, dom: domid });
  }

  /** Sends bytes on the guest's ring, then reads until each wanted req_id has its reply. */
  async xfer(domid: number, data: Uint8Array, want: number[], timeoutS = 3): Promise<XsFrame[]> {
    const r = await this.call({ cmd: "xfer", dom: domid, data: hex(data), want, timeout: timeoutS });
    if (r.status !== "ok") throw new Error(`reference ring dom${domid}: ${r.status} (${r.why ?? ""})`);
    return (r.frames ?? []).map(([type, reqId, txId, p]) => ({ type, reqId, txId, payload: unhex(p) }));
  }

  async close(domid: number): Promise<void> {
    await this.call({ cmd: "close", dom: domid });
  }

  stop(): void {
    this.proc.stdin.end();
  }
}

/** Sends frames one at a time on a dom0 socket, collecting every reply. */
async function adminSocket(socketPath: string, frames: readonly Uint8Array[]): Promise<SeenFrame[]> {
  const c = await XsSocketClient.connect(socketPath);
  const seen: SeenFrame[] = [];
  try {
    for (const f of frames) {
      c.send(f);
      const got = await c.reply(reqIdOf(f));
      if (!got) throw new Error(`reference: no reply to setup req ${reqIdOf(f)}`);
      for (const x of c.drain()) seen.push(show(x, -1));
    }
  } finally {
    c.close();
  }
  return seen;
}

/** Runs a guest run against the reference daemon (ring mode) and its socket. */
export async function runGuestsOnRefpeer(
  socketPath: string,
  ringDir: string,
  helper: RingHelper,
  run: GuestRun,
): Promise<GuestTranscript> {
  const setup = await adminSocket(socketPath, run.setup);
  for (const d of run.guests) await helper.open(ringDir, d);
  const intro = await adminSocket(
    socketPath,
    run.guests.map((d, i) => XsRequest.introduce(d, 1044473, 1, { reqId: 0x51000 + i })),
  );
  setup.push(...intro);
  const socks: (XsSocketClient | null)[] = [];
  for (const c of run.conns) socks.push(c.domid === 0 ? await XsSocketClient.connect(socketPath) : null);
  const steps: SeenFrame[][] = [];
  const dead = new Set<number>();
  try {
    for (const st of run.steps) {
      if (st.kills !== undefined) dead.add(st.kills);
      const seen: SeenFrame[] = [];
      const early: XsFrame[] = [];
      const sc = socks[st.conn];
      const data = concat(st.frames);
      const want = st.frames.map(reqIdOf);
      // the guest's ring and kick socket exist before dom0 INTRODUCEs it again
      if (st.revives !== undefined) await helper.open(ringDir, run.conns[st.revives]!.domid);
      if (sc) {
        sc.send(data);
        for (const id of want)
          if (!(await sc.reply(id))) throw new Error(`reference: no reply to req ${id} on conn ${st.conn}`);
      } else early.push(...(await helper.xfer(run.conns[st.conn]!.domid, data, want)));
      if (st.revives !== undefined) dead.delete(st.revives);
      for (let i = 0; i < run.conns.length; i++) {
        if (dead.has(i)) continue;
        const k = socks[i];
        let got: XsFrame[];
        if (k) {
          k.send(ping());
          if (!(await k.reply(PING_REQ))) throw new Error(`reference: no ping reply on conn ${i}`);
          got = k.drain();
        } else {
          got = await helper.xfer(run.conns[i]!.domid, ping(), [PING_REQ]);
          if (i === st.conn) got = [...early, ...got];
        }
        for (const f of got)
          if (!(f.reqId === PING_REQ && f.type !== XsType.WATCH_EVENT)) seen.push(show(f, i));
      }
      steps.push(seen);
    }
  } finally {
    for (const k of socks) k?.close();
    for (const d of run.guests) await helper.close(d).catch(() => {});
    await adminSocket(socketPath, run.teardown).catch(() => []);
  }
  return { setup, steps };
}

/** Runs the same guest run against our server (guests: `server.connect({ domid })`). */
export function runGuestsOnServer(server: XenStoreServer, run: GuestRun): GuestTranscript {
  const parse = (c: XsConnection, p: FrameParser): XsFrame[] => {
    p.push(c.takeOutput());
    const fs: XsFrame[] = [];
    for (;;) {
      const f = p.next();
      if (f === null || f instanceof XsFrameError) break;
      fs.push(f);
    }
    return fs;
  };
  const admin = server.connect({ domid: 0, label: "admin" });
  const ap = new FrameParser();
  const setup: SeenFrame[] = [];
  for (const f of run.setup) {
    admin.deliver(f);
    for (const x of parse(admin, ap)) setup.push(show(x, -1));
  }
  const guestConns = new Map<number, XsConnection>();
  run.guests.forEach((d, i) => {
    admin.deliver(XsRequest.introduce(d, 1044473, 1, { reqId: 0x51000 + i }));
    for (const x of parse(admin, ap)) setup.push(show(x, -1));
    guestConns.set(d, server.connect({ domid: d, label: `guest${d}` }));
  });
  admin.close();
  const conns = run.conns.map((c) =>
    c.domid === 0 ? server.connect({ domid: 0, label: "dom0" }) : guestConns.get(c.domid)!,
  );
  const parsers = conns.map(() => new FrameParser());
  const steps: SeenFrame[][] = [];
  const dead = new Set<number>();
  for (const st of run.steps) {
    if (st.kills !== undefined) dead.add(st.kills);
    const seen: SeenFrame[] = [];
    conns[st.conn]!.deliver(concat(st.frames));
    if (st.revives !== undefined) {
      const i = st.revives;
      const d = run.conns[i]!.domid;
      conns[i] = server.connect({ domid: d, label: `guest${d}` });
      parsers[i] = new FrameParser();
      dead.delete(i);
    }
    conns.forEach((k, i) => {
      if (dead.has(i)) return;
      k.deliver(ping());
      for (const f of parse(k, parsers[i]!))
        if (!(f.reqId === PING_REQ && f.type !== XsType.WATCH_EVENT)) seen.push(show(f, i));
    });
    steps.push(seen);
  }
  for (const k of conns) k.close();
  return { setup, steps };
}

export function formatGuestTranscript(t: GuestTranscript, conns: readonly RunConn[]): string {
  const who = (c: number) => (c < 0 ? "admin" : `c${c}(dom${conns[c]!.domid})`);
  const line = (fs: SeenFrame[]) =>
    fs.map((f) => `${who(f.conn)} ${f.type} r${f.reqId} t${f.txId} "${f.payload}"`).join(" | ");
  return [`setup: ${line(t.setup)}`, ...t.steps.map((s, i) => `#${i}: ${line(s)}`)].join("\n");
}
