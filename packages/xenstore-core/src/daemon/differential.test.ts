// Differential: the same client script over the same socket protocol against our daemon and
// against Debian's cxenstored 4.17 (../shared/refpeer/run.sh, whose --guest-socket goes through
// ring mode + guest-bridge.py), every reply and watch event compared byte for byte.
// Inputs that crash cxenstored (refpeer README "Reference bugs") are not sent; neither are
// requests whose answer depends on the guest home's exact contents (the bridge writes a
// smaller home than libxl's, which our daemon writes) or on generation counts.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureRefpeerSetup, REFPEER_DIR } from "../../../../test/support/refpeer.ts";
import { XsSocketClient } from "../../../../test/support/xs-socket-client.ts";
import { XsRequest } from "../wire/client.ts";
import { encodeHeaderInto } from "../wire/frame.ts";
import { encodeStrings, latin1ToBytes } from "../wire/payload.ts";
import { XS_HEADER_SIZE, XsType, xsTypeName } from "../wire/xs-wire.ts";
import { XenstoredDaemon } from "./xenstored-daemon.ts";

const refpeerWhy = process.env.XSENSIM_NO_REFPEER ? "XSENSIM_NO_REFPEER is set" : ensureRefpeerSetup();

/** Connections of the script: two dom0 clients on the main socket and guest 1. */
const CONNS = ["a", "b", "g"] as const;
type ConnName = (typeof CONNS)[number];
const GUEST = 1;

interface Step {
  /** other connections sending their frames at the same moment (concurrent clients) */
  par?: { on: ConnName; send: Uint8Array[] }[];
  on: ConnName;
  /** request frames sent in one write (pipelined) */
  send: Uint8Array[];
  /** don't wait for replies (the frame closes the connection) */
  noReply?: boolean;
}

let rid = 0;
const id = () => ({ reqId: ++rid });
const tid = (txId: number) => ({ reqId: ++rid, txId });
const s = (on: ConnName, ...send: Uint8Array[]): Step => ({ on, send });

function oversized(): Uint8Array {
  const h = new Uint8Array(XS_HEADER_SIZE + 8);
  encodeHeaderInto(h, 0, { type: XsType.WRITE, reqId: ++rid, txId: 0, len: 4097 });
  return h;
}

/** The client script. Transaction ids are the ones cx hands out (per connection, from 1). */
function script(): Step[] {
  rid = 0;
  const home = `/local/domain/${GUEST}`;
  return [
    s("a", XsRequest.write("/d/x", "1", id())),
    s("b", XsRequest.watch("/d", "wb", id())),
    s("g", XsRequest.watch("data", "wg", id())),
    s("g", XsRequest.watch("@introduceDomain", "gi", id())),
    s("a", XsRequest.watch("@releaseDomain", "ar", id())),
    s("g", XsRequest.read("name", id()), XsRequest.read("domid", id())),
    s("a", XsRequest.write(`${home}/data/k`, "v", id())),
    s("a", XsRequest.write("/d/y", "2", id())),
    // a transaction: invisible until committed, events at commit
    s("a", XsRequest.transactionStart(id())),
    s("a", XsRequest.write("/d/t", "t", tid(1))),
    s("b", XsRequest.read("/d/t", id())),
    s("a", XsRequest.read("/d/t", tid(1))),
    s("a", XsRequest.transactionEnd(true, tid(1))),
    s("b", XsRequest.read("/d/t", id())),
    // a conflicting transaction → EAGAIN
    s("a", XsRequest.transactionStart(id())),
    s("a", XsRequest.read("/d/x", tid(2))),
    s("b", XsRequest.write("/d/x", "2", id())),
    s("a", XsRequest.write("/d/x", "3", tid(2))),
    s("a", XsRequest.transactionEnd(true, tid(2))),
    s("b", XsRequest.read("/d/x", id())),
    // the guest: its own transaction, aborted; relative paths; permissions
    s("g", XsRequest.transactionStart(id())),
    s("g", XsRequest.write("data/tx", "1", tid(1))),
    s("g", XsRequest.transactionEnd(false, tid(1))),
    s("g", XsRequest.read("data/tx", id())),
    s(
      "g",
      XsRequest.write("/d/evil", "x", id()),
      XsRequest.read("/d/x", id()),
      XsRequest.directory("/d", id()),
    ),
    s("g", XsRequest.getPerms("data/k", id()), XsRequest.setPerms("data/k", ["n1", "r0"], id())),
    s("g", XsRequest.setPerms("data/k", ["n0"], id()), XsRequest.getPerms("data/k", id())),
    s("g", XsRequest.write("data/m/n/o", "deep", id()), XsRequest.mkdir("data/e", id())),
    s("a", XsRequest.directory(`${home}/data`, id()), XsRequest.getPerms(`${home}/data/m/n`, id())),
    s("g", XsRequest.rm("data/m", id())),
    s(
      "g",
      XsRequest.introduce(7, 1, 1, id()),
      XsRequest.release(GUEST, id()),
      XsRequest.control(["check"], id()),
    ),
    s("g", XsRequest.getDomainPath(3, id()), XsRequest.raw(XsType.RESTRICT, encodeStrings(["1"]), id())),
    // dom0 domain calls (INTRODUCE 7 fires @introduceDomain, which the guest may not see)
    s("a", XsRequest.isDomainIntroduced(GUEST, id()), XsRequest.isDomainIntroduced(9, id())),
    s("a", XsRequest.introduce(7, 1, 1, id())),
    s("a", XsRequest.release(7, id())),
    s("a", XsRequest.release(7, id())),
    // malformed frames cxenstored answers deterministically
    s("a", XsRequest.raw(999, latin1ToBytes("x\0"), id())),
    s("a", XsRequest.raw(XsType.WATCH_EVENT, latin1ToBytes("/d\0t\0"), id())),
    s("a", XsRequest.raw(XsType.WRITE, latin1ToBytes("/d/nonul"), id())),
    s("a", XsRequest.raw(XsType.WATCH, encodeStrings(["/d"]), id())),
    s("a", XsRequest.raw(XsType.TRANSACTION_END, encodeStrings(["X"]), id())),
    s("a", XsRequest.transactionEnd(true, tid(42))),
    s(
      "g",
      XsRequest.raw(0xffff, new Uint8Array(0), id()),
      XsRequest.raw(XsType.WRITE, latin1ToBytes("data/z"), id()),
    ),
    s("a", XsRequest.read("/d/nonul", id()), XsRequest.read("/no/such", id())),
    // pipelined requests from two clients, events in between
    s(
      "a",
      XsRequest.write(`${home}/data/p1`, "1", id()),
      XsRequest.write(`${home}/data/p2`, "2", id()),
      XsRequest.write(`${home}/data/p1`, "3", id()),
      XsRequest.rm(`${home}/data/p2`, id()),
      XsRequest.read(`${home}/data/p1`, id()),
    ),
    // three clients at once, each pipelining into its own subtree (per-connection order is
    // deterministic; the guest sees its own writes as events)
    {
      on: "a",
      send: burst((i) => XsRequest.write(`/c/a/${i}`, `${i}`, id())),
      par: [
        { on: "b", send: burst((i) => XsRequest.write(`/c/b/${i}`, `${i}`, id())) },
        { on: "g", send: burst((i) => XsRequest.write(`data/c${i}`, `${i}`, id())) },
      ],
    },
    s("a", XsRequest.directory("/c/a", id()), XsRequest.directory("/c/b", id())),
    s("b", XsRequest.unwatch("/d", "wb", id()), XsRequest.unwatch("/d", "wb", id())),
    s("a", XsRequest.write("/d/z", "after-unwatch", id())),
    s("g", XsRequest.resetWatches(id())),
    s("a", XsRequest.write(`${home}/data/k`, "no-event", id())),
    s("b", XsRequest.watch("/d", "again", id())),
    s("a", XsRequest.rm("/d", id())),
    // a header announcing more than 4096 bytes closes b (cx handle_input())
    { on: "b", send: [oversized()], noReply: true },
    s("a", XsRequest.read("/d", id()), XsRequest.directory("/local", id())),
  ];
}

function burst(f: (i: number) => Uint8Array): Uint8Array[] {
  return Array.from({ length: 12 }, (_, i) => f(i));
}

type Seen = string;
const PING = 0xfffffff0;

function show(on: ConnName, f: { type: number; reqId: number; txId: number; payload: Uint8Array }): Seen {
  let p = "";
  for (const b of f.payload)
    p += b >= 32 && b < 127 && b !== 92 ? String.fromCharCode(b) : b === 0 ? "\\0" : `\\x${b.toString(16)}`;
  return `${on} ${xsTypeName(f.type)} r${f.reqId} t${f.txId} "${p}"`;
}

/** Runs the script; after each step every open connection is synchronised with a ping. */
async function runScript(main: string, guest: string): Promise<Seen[][]> {
  const steps = script();
  const conns = new Map<ConnName, XsSocketClient>();
  conns.set("a", await XsSocketClient.connect(main));
  conns.set("b", await XsSocketClient.connect(main));
  conns.set("g", await XsSocketClient.connect(guest));
  const out: Seen[][] = [];
  try {
    for (const st of steps) {
      const sends = [{ on: st.on, send: st.send }, ...(st.par ?? [])];
      for (const x of sends) conns.get(x.on)!.send(concat(x.send));
      if (!st.noReply) {
        for (const x of sends) {
          for (const f of x.send) {
            const reqId = new DataView(f.buffer, f.byteOffset).getUint32(4, true);
            if (!(await conns.get(x.on)!.reply(reqId, 5000)))
              throw new Error(`no reply to ${reqId} on ${x.on}`);
          }
        }
      } else {
        const c = conns.get(st.on)!;
        await c.waitFor(() => false, 2000);
      }
      const seen: Seen[] = [];
      for (const name of CONNS) {
        const k = conns.get(name)!;
        if (!k.closed) {
          k.send(XsRequest.getDomainPath(0, { reqId: PING }));
          await k.reply(PING, 5000);
        }
        for (const f of k.drain())
          if (!(f.reqId === PING && f.type !== XsType.WATCH_EVENT)) seen.push(show(name, f));
        if (k.closed) seen.push(`${name} closed`);
      }
      out.push(seen);
    }
  } finally {
    for (const k of conns.values()) k.close();
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const o = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    o.set(p, off);
    off += p.length;
  }
  return o;
}

/** Starts ../shared/refpeer/run.sh SOCK cxenstored --guest-socket 1:G; resolves when ready. */
function startReference(sock: string, guest: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(REFPEER_DIR, "run.sh"),
      [sock, "cxenstored", "--guest-socket", `${GUEST}:${guest}`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    const t = setTimeout(() => reject(new Error(`run.sh not ready after 30 s: ${err}`)), 30_000);
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`run.sh exited ${code}: ${err.trim()}`));
    });
  });
}

function stopReference(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), 8000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

describe.skipIf(refpeerWhy !== null)(
  `pnpm xenstored vs Debian cxenstored 4.17 over sockets${refpeerWhy ? ` (skipped: ${refpeerWhy})` : ""}`,
  () => {
    let dir: string;
    let ref: ChildProcess | null = null;
    let ours: XenstoredDaemon | null = null;
    let refOut: Seen[][] = [];
    let ourOut: Seen[][] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "xs-"));
      ref = await startReference(join(dir, "cx"), join(dir, "cg"));
      ours = await XenstoredDaemon.start({
        socketPath: join(dir, "s"),
        guestSockets: [{ domid: GUEST, path: join(dir, "g") }],
      });
      refOut = await runScript(join(dir, "cx"), join(dir, "cg"));
      ourOut = await runScript(join(dir, "s"), join(dir, "g"));
    }, 90_000);
    afterAll(async () => {
      await ours?.stop();
      if (ref) await stopReference(ref);
      rmSync(dir, { recursive: true, force: true });
    });

    it("every reply and watch event is byte-identical, step by step", () => {
      expect(ourOut.length).toBe(script().length);
      for (let i = 0; i < refOut.length; i++)
        expect({ step: i, seen: ourOut[i] }).toEqual({ step: i, seen: refOut[i] });
    });

    it("the script exercised what it claims (not a vacuous comparison)", () => {
      const all = refOut.flat().join("\n");
      for (const needle of [
        'a ERROR r20 t2 "EAGAIN\\0"',
        '"ENOSYS\\0"',
        '"EINVAL\\0"',
        '"EACCES\\0"',
        'g WATCH_EVENT r0 t0 "data/k\\0wg\\0"',
        'b WATCH_EVENT r0 t0 "/d/t\\0wb\\0"',
        "b closed",
      ])
        expect(all).toContain(needle);
    });
  },
);
