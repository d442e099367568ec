// The socket daemon with raw-frame clients: concurrency, malformed input, backpressure,
// CONTROL save / --restore, --trace, --domains, and the CLI process contract.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { XsSocketClient } from "../../../../test/support/xs-socket-client.ts";
import { XsRequest } from "../wire/client.ts";
import { encodeHeaderInto, type XsFrame } from "../wire/frame.ts";
import { bytesToLatin1, latin1ToBytes } from "../wire/payload.ts";
import { XS_HEADER_SIZE, XsType } from "../wire/xs-wire.ts";
import { parseDomains, XenstoredDaemon } from "./xenstored-daemon.ts";

const text = (f: XsFrame | null | undefined) => (f ? bytesToLatin1(f.payload) : "<none>");
const typeOf = (f: XsFrame | null | undefined) => f?.type;

let dir: string;
let daemons: XenstoredDaemon[] = [];
let clients: XsSocketClient[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "xs-"));
});
afterEach(async () => {
  for (const c of clients) c.close();
  for (const d of daemons) await d.stop();
  clients = [];
  daemons = [];
  rmSync(dir, { recursive: true, force: true });
});

async function start(opts: Partial<Parameters<typeof XenstoredDaemon.start>[0]> = {}) {
  const d = await XenstoredDaemon.start({ socketPath: join(dir, "s"), ...opts });
  daemons.push(d);
  return d;
}
async function client(path = join(dir, "s")) {
  const c = await XsSocketClient.connect(path);
  clients.push(c);
  return c;
}
/** Sends one request and waits for its reply. */
async function call(c: XsSocketClient, frame: Uint8Array, reqId: number): Promise<XsFrame | null> {
  c.send(frame);
  return c.reply(reqId);
}

describe("XenstoredDaemon", () => {
  it("dom0 requests on the main socket; a guest socket acts as its domain", async () => {
    const d = await start({ guestSockets: [{ domid: 3, path: join(dir, "g3") }] });
    const a = await client();
    expect(text(await call(a, XsRequest.write("/x", "1", { reqId: 1 }), 1))).toBe("OK\0");
    expect(text(await call(a, XsRequest.read("/x", { reqId: 2 }), 2))).toBe("1");
    const g = await client(join(dir, "g3"));
    expect(text(await call(g, XsRequest.getDomainPath(3, { reqId: 1 }), 1))).toBe("/local/domain/3\0");
    expect(text(await call(g, XsRequest.write("data/k", "v", { reqId: 2 }), 2))).toBe("OK\0");
    expect(d.server.store.readString("/local/domain/3/data/k")).toBe("v");
    const denied = await call(g, XsRequest.write("/x", "evil", { reqId: 3 }), 3);
    expect([typeOf(denied), text(denied)]).toEqual([XsType.ERROR, "EACCES\0"]);
    expect(d.server.store.readString("/x")).toBe("1");
    // privileged-only requests are refused for the guest
    const intro = await call(g, XsRequest.introduce(9, 1, 1, { reqId: 4 }), 4);
    expect(text(intro)).toBe("EACCES\0");
    expect(d.server.domains().map((x) => x.domid)).toEqual([0, 3]);
  });

  it("watch events go asynchronously to the connection that registered them", async () => {
    await start();
    const w = await client();
    const x = await client();
    expect(text(await call(w, XsRequest.watch("/a", "tok", { reqId: 1 }), 1))).toBe("OK\0");
    await w.waitFor((fs) => fs.some((f) => f.type === XsType.WATCH_EVENT));
    w.drain();
    expect(text(await call(x, XsRequest.write("/a/b", "1", { reqId: 5 }), 5))).toBe("OK\0");
    expect(await w.waitFor((fs) => fs.length > 0)).toBe(true);
    expect(w.drain().map((f) => [f.type, text(f)])).toEqual([[XsType.WATCH_EVENT, "/a/b\0tok\0"]]);
    // x registered nothing and got nothing else
    expect(x.drain().map((f) => f.reqId)).toEqual([5]);
  });

  it("transactions and watches die with their connection", async () => {
    const d = await start();
    const a = await client();
    const t = await call(a, XsRequest.transactionStart({ reqId: 1 }), 1);
    const tx = Number(text(t).replace("\0", ""));
    expect(tx).toBeGreaterThan(0);
    expect(text(await call(a, XsRequest.write("/tx/n", "1", { reqId: 2, txId: tx }), 2))).toBe("OK\0");
    await call(a, XsRequest.watch("/tx", "t", { reqId: 3 }), 3);
    expect(d.server.store.watchCount(0)).toBe(1);
    expect(d.server.store.transactionCount(0)).toBe(1);
    a.close();
    await until(() => d.stats().connections === 0);
    expect(d.server.store.watchCount(0)).toBe(0);
    expect(d.server.store.transactionCount(0)).toBe(0);
    expect(d.server.store.exists("/tx/n")).toBe(false);
  });

  it("malformed input: oversized header closes only that connection; unknown type ENOSYS; missing NUL EINVAL", async () => {
    const d = await start({ guestSockets: [{ domid: 1, path: join(dir, "g1") }] });
    const a = await client();
    const b = await client();
    await call(b, XsRequest.write("/keep", "safe", { reqId: 1 }), 1);
    // cx process_message(): an unknown type → ENOSYS, the connection goes on
    const u = await call(a, XsRequest.raw(999, latin1ToBytes("x\0"), { reqId: 7 }), 7);
    expect([typeOf(u), text(u)]).toEqual([XsType.ERROR, "ENOSYS\0"]);
    const ev = await call(a, XsRequest.raw(XsType.WATCH_EVENT, latin1ToBytes("a\0b\0"), { reqId: 8 }), 8);
    expect(text(ev)).toBe("ENOSYS\0");
    // cx do_write(): no NUL after the path → EINVAL
    const nw = await call(a, XsRequest.raw(XsType.WRITE, latin1ToBytes("/nonul"), { reqId: 9 }), 9);
    expect(text(nw)).toBe("EINVAL\0");
    // READ without NUL: xensim EINVAL (cx answers a stale errno, or aborts when it is 0)
    const nr = await call(a, XsRequest.raw(XsType.READ, latin1ToBytes("/keep"), { reqId: 10 }), 10);
    expect(text(nr)).toBe("EINVAL\0");
    expect(text(await call(a, XsRequest.read("/keep", { reqId: 11 }), 11))).toBe("safe");
    // cx handle_input(): len > XENSTORE_PAYLOAD_MAX closes the connection
    const hdr = new Uint8Array(XS_HEADER_SIZE);
    encodeHeaderInto(hdr, 0, { type: XsType.WRITE, reqId: 12, txId: 0, len: 4097 });
    a.send(hdr);
    await a.waitFor(() => false, 1000);
    expect(a.closed).toBe(true);
    // the same from a guest: its connection closes, nobody else's data changes
    const g = await client(join(dir, "g1"));
    g.send(hdr);
    await g.waitFor(() => false, 1000);
    expect(g.closed).toBe(true);
    expect(text(await call(b, XsRequest.read("/keep", { reqId: 2 }), 2))).toBe("safe");
    expect(d.stats().connections).toBe(1);
    // a frame split byte by byte is still one frame
    const c = await client();
    const f = XsRequest.write("/split", "yes", { reqId: 3 });
    for (const byte of f) {
      c.send(Uint8Array.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    expect(text(await c.reply(3))).toBe("OK\0");
  });

  it.each([
    ["the shared read buffer and direct writes", false],
    ["Node's 'data' path and socket.write()", true],
  ])(
    "%s: replies are right whatever the chunking, with two clients' reads interleaved",
    async (_name, streamPaths) => {
      const d = await start();
      let a: XsSocketClient;
      let b: XsSocketClient;
      const restore = withStreamPaths(streamPaths);
      try {
        a = await client();
        b = await client();
      } finally {
        restore();
      }
      await until(() => d.stats().connections === 2);
      // this Node has what readIntoShared() and directWriteHandle() need (Node 20 is the
      // supported runtime); the environment variables force Node's stream paths
      expect(d.stats().sharedReadConnections).toBe(streamPaths ? 0 : 2);
      expect(d.stats().directWriteConnections).toBe(streamPaths ? 0 : 2);
      // a's stream: several whole frames in one chunk, then frames split across chunks (in the
      // header and in the payload), b's whole frames landing between a's partial reads: each
      // read overwrites the shared buffer, so a's partial frames must have been copied out
      const aFrames: Uint8Array[] = [];
      for (let i = 0; i < 6; i++)
        aFrames.push(XsRequest.write(`/a/${i}`, `va${i}-${"z".repeat(i * 50)}`, { reqId: 100 + i }));
      const aBytes = concat(aFrames);
      const cuts = [
        0,
        aFrames[0]!.length + aFrames[1]!.length + 5,
        aBytes.length - 200,
        aBytes.length - 3,
        aBytes.length,
      ];
      for (let k = 0; k + 1 < cuts.length; k++) {
        a.send(aBytes.subarray(cuts[k], cuts[k + 1]));
        await new Promise((r) => setImmediate(r));
        b.send(XsRequest.write(`/b/${k}`, `vb${k}`.repeat(30), { reqId: 200 + k }));
        expect(text(await b.reply(200 + k))).toBe("OK\0");
      }
      for (let i = 0; i < 6; i++) expect(text(await a.reply(100 + i))).toBe("OK\0");
      for (let i = 0; i < 6; i++)
        expect(text(await call(b, XsRequest.read(`/a/${i}`, { reqId: 300 + i }), 300 + i))).toBe(
          `va${i}-${"z".repeat(i * 50)}`,
        );
      for (let k = 0; k < 4; k++)
        expect(text(await call(a, XsRequest.read(`/b/${k}`, { reqId: 400 + k }), 400 + k))).toBe(
          `vb${k}`.repeat(30),
        );
    },
  );

  it.each([
    ["direct writes", false],
    ["socket.write()", true],
  ])(
    "%s: a reader whose socket filled up gets every reply, in order, once it reads again",
    async (_name, streamPaths) => {
      const d = await start();
      const w = await client();
      const big = "b".repeat(4000);
      expect(text(await call(w, XsRequest.write("/big", big, { reqId: 1 }), 1))).toBe("OK\0");
      const restore = withStreamPaths(streamPaths);
      const slow = connect(join(dir, "s"));
      try {
        await new Promise<void>((r) => slow.once("connect", () => r()));
      } finally {
        restore();
      }
      await until(() => d.stats().connections === 2);
      // w writes directly in both cases; slow takes the path under test
      expect(d.stats().directWriteConnections).toBe(streamPaths ? 1 : 2);
      slow.pause();
      // ~1.6 MB of replies, far beyond the kernel's socket buffers: the daemon's write stalls
      // (a direct write goes asynchronous: libuv queues the rest)
      const n = 400;
      const reqs: Uint8Array[] = [];
      for (let i = 0; i < n; i++) reqs.push(XsRequest.read("/big", { reqId: 1000 + i }));
      slow.write(concat(reqs));
      await until(() => d.stats().writeStalls > 0);
      // the other client is not held up meanwhile
      expect(text(await call(w, XsRequest.read("/big", { reqId: 2 }), 2))).toBe(big);
      const got: [number, number, string][] = [];
      let buf = Buffer.alloc(0);
      const done = new Promise<void>((resolveP) => {
        slow.on("data", (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= XS_HEADER_SIZE && buf.length >= XS_HEADER_SIZE + buf.readUInt32LE(12)) {
            const len = buf.readUInt32LE(12);
            got.push([buf.readUInt32LE(0), buf.readUInt32LE(4), buf.toString("latin1", 16, 16 + len)]);
            buf = buf.subarray(XS_HEADER_SIZE + len);
          }
          if (got.length >= n) resolveP();
        });
      });
      slow.resume();
      await done;
      expect(got.length).toBe(n);
      for (let i = 0; i < n; i++) expect(got[i]).toEqual([XsType.READ, 1000 + i, big]);
      expect(buf.length).toBe(0);
      slow.destroy();
    },
  );

  it.each([
    ["direct writes", false],
    ["socket.write()", true],
  ])(
    "%s: a client that disconnects while the daemon's write is stalled harms nobody",
    async (_name, streamPaths) => {
      const d = await start();
      const w = await client();
      const big = "c".repeat(4000);
      await call(w, XsRequest.write("/big", big, { reqId: 1 }), 1);
      const restore = withStreamPaths(streamPaths);
      const slow = connect(join(dir, "s"));
      try {
        await new Promise<void>((r) => slow.once("connect", () => r()));
      } finally {
        restore();
      }
      slow.pause();
      const reqs: Uint8Array[] = [];
      for (let i = 0; i < 400; i++) reqs.push(XsRequest.read("/big", { reqId: i }));
      slow.write(concat(reqs));
      await until(() => d.stats().writeStalls > 0);
      // gone with replies still queued: the queued write completes with an error (or is
      // cancelled when the daemon sees the hang-up first and closes the connection)
      slow.destroy();
      await until(() => d.stats().connections === 1);
      expect(text(await call(w, XsRequest.read("/big", { reqId: 2 }), 2))).toBe(big);
      const again = await client();
      expect(text(await call(again, XsRequest.write("/after", "1", { reqId: 3 }), 3))).toBe("OK\0");
    },
  );

  it("a client that never reads stalls only itself (backpressure), and its events are capped", async () => {
    const d = await start({ quotas: { queuedEvents: 64 } });
    // a raw socket that registers a watch and then never reads
    const slow = connect(join(dir, "s"));
    await new Promise<void>((r) => slow.once("connect", () => r()));
    slow.write(XsRequest.watch("/flood", "t", { reqId: 1 }));
    slow.pause();
    const fast = await client();
    const value = "v".repeat(1000);
    let reqId = 1;
    // enough distinct events to fill the slow socket's buffers many times over
    for (let round = 0; round < 40; round++) {
      const batch: Uint8Array[] = [];
      const ids: number[] = [];
      for (let i = 0; i < 50; i++) {
        ids.push(++reqId);
        batch.push(XsRequest.write(`/flood/n${round}-${i}-${"p".repeat(200)}`, value, { reqId }));
      }
      fast.send(concat(batch));
      for (const id of ids) expect(text(await fast.reply(id, 5000))).toBe("OK\0");
      fast.drain();
    }
    const s = d.stats();
    expect(s.droppedEvents).toBeGreaterThan(0);
    // capped: at most queuedEvents events (~260 bytes each) wait in the connection
    expect(s.queuedOutputBytes).toBeLessThan(64 * 300 + 64 * 1024);
    slow.destroy();
  });

  it("a client that pipelines without reading is throttled by the outstanding quota", async () => {
    const d = await start();
    const hog = connect(join(dir, "s"));
    await new Promise<void>((r) => hog.once("connect", () => r()));
    hog.pause();
    const big = "x".repeat(2000);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 4000; i++) frames.push(XsRequest.write(`/hog/${i % 10}`, big, { reqId: i }));
    hog.write(concat(frames)); // ~8 MB of requests, replies never read
    const other = await client();
    await new Promise((r) => setTimeout(r, 300));
    expect(text(await call(other, XsRequest.read("/hog/0", { reqId: 1 }), 1))).toBe(big);
    const s = d.stats();
    // replies beyond the quota are not even produced, input beyond a window is not read
    expect(s.queuedOutputBytes).toBeLessThan(64 * 1024);
    expect(s.heldInputBytes).toBeLessThan(256 * 1024);
    hog.destroy();
  });

  it("CONTROL save FILE writes a snapshot that --restore starts from", async () => {
    const snap = join(dir, "snap.bin");
    const d = await start({ guestSockets: [{ domid: 2, path: join(dir, "g2") }] });
    const a = await client();
    await call(a, XsRequest.write("/saved", "yes", { reqId: 1 }), 1);
    await call(a, XsRequest.setPerms("/saved", ["n0", "r2"], { reqId: 2 }), 2);
    expect(text(await call(a, XsRequest.control(["save", snap], { reqId: 3 }), 3))).toBe("OK\0");
    expect(text(await call(a, XsRequest.control(["save"], { reqId: 4 }), 4))).toBe("EINVAL\0");
    const g = await client(join(dir, "g2"));
    // dom0 only
    expect(text(await call(g, XsRequest.control(["save", snap], { reqId: 1 }), 1))).toBe("EACCES\0");
    await d.stop();
    const r = await XenstoredDaemon.start({
      socketPath: join(dir, "s2"),
      restorePath: snap,
      guestSockets: [{ domid: 2, path: join(dir, "g2b") }],
    });
    daemons.push(r);
    expect(r.server.store.readString("/saved")).toBe("yes");
    expect(r.server.store.getPerms("/saved")).toEqual(["n0", "r2"]);
    expect(r.server.domains().map((x) => x.domid)).toEqual([0, 2]);
    const g2 = await client(join(dir, "g2b"));
    expect(text(await call(g2, XsRequest.read("/saved", { reqId: 1 }), 1))).toBe("yes");
  });

  it("--trace appends requests, replies and events as JSON lines", async () => {
    const file = join(dir, "t.jsonl");
    const d = await start({ tracePath: file });
    const a = await client();
    await call(a, XsRequest.watch("/tr", "k", { reqId: 1 }), 1);
    await call(a, XsRequest.write("/tr", "v\x01", { reqId: 2 }), 2);
    await d.stop();
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const frames = lines.filter((l) => ["request", "reply", "watch-event"].includes(String(l.kind)));
    expect(frames.map((l) => [l.kind, l.type, l.req_id, l.payload])).toEqual([
      ["request", "WATCH", 1, "/tr\0k\0"],
      ["reply", "WATCH", 1, "OK\0"],
      ["watch-event", "WATCH_EVENT", 0, "/tr\0k\0"],
      ["request", "WRITE", 2, "/tr\0v\x01"],
      ["watch-event", "WATCH_EVENT", 0, "/tr\0k\0"],
      ["reply", "WRITE", 2, "OK\0"],
    ]);
    for (const l of frames) {
      expect(l).toMatchObject({ domid: 0, tx_id: 0 });
      expect(typeof l.conn).toBe("number");
      expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
    }
  });

  it("--domains: SET_PERMS and INTRODUCE naming a missing domain are refused as cx refuses them", async () => {
    expect(parseDomains("0,1-3,7")).toEqual([0, 1, 2, 3, 7]);
    expect(() => parseDomains("1-x")).toThrow();
    await start({ domains: [1] });
    const a = await client();
    await call(a, XsRequest.write("/p", "", { reqId: 1 }), 1);
    expect(text(await call(a, XsRequest.setPerms("/p", ["n1"], { reqId: 2 }), 2))).toBe("OK\0");
    expect(text(await call(a, XsRequest.setPerms("/p", ["n5"], { reqId: 3 }), 3))).toBe("ENOENT\0");
    expect(text(await call(a, XsRequest.introduce(5, 1, 1, { reqId: 4 }), 4))).toBe("EINVAL\0");
    expect(text(await call(a, XsRequest.introduce(1, 1, 1, { reqId: 5 }), 5))).toBe("OK\0");
  });

  it("RELEASE of a guest closes its socket connections; new ones are refused until re-INTRODUCE", async () => {
    const d = await start({ guestSockets: [{ domid: 4, path: join(dir, "g4") }] });
    const g = await client(join(dir, "g4"));
    expect(text(await call(g, XsRequest.read("name", { reqId: 1 }), 1))).toBe("guest4");
    const a = await client();
    expect(text(await call(a, XsRequest.release(4, { reqId: 1 }), 1))).toBe("OK\0");
    await g.waitFor(() => false, 1000);
    expect(g.closed).toBe(true);
    const g2 = await client(join(dir, "g4"));
    await g2.waitFor(() => false, 500);
    expect(g2.closed).toBe(true);
    expect(text(await call(a, XsRequest.introduce(4, 1, 1, { reqId: 2 }), 2))).toBe("OK\0");
    const g3 = await client(join(dir, "g4"));
    expect(text(await call(g3, XsRequest.getDomainPath(4, { reqId: 1 }), 1))).toBe("/local/domain/4\0");
    expect(d.stats().connections).toBe(2);
  });
});

describe("pnpm xenstored (the CLI process)", () => {
  it("prints one ready line, serves, and on SIGTERM exits 0 removing its sockets", async () => {
    const sock = join(dir, "s");
    const g = join(dir, "g1");
    const cli = resolve(import.meta.dirname, "../cli/xenstored.ts");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", cli, "--socket", sock, "--guest-socket", `1:${g}`],
      {
        // `--import tsx` resolves from the working directory: the repository root
        cwd: resolve(import.meta.dirname, "../../../.."),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    let err = "";
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    try {
      await until(() => out.includes("\n") || child.exitCode !== null, 15_000);
      expect(err).toBe("");
      expect(out).toBe(`xenstored: listening on ${sock}; domain 1 on ${g}\n`);
      const c = await client(g);
      expect(text(await call(c, XsRequest.read("domid", { reqId: 1 }), 1))).toBe("1");
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(existsSync(sock)).toBe(false);
      expect(existsSync(g)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

/**
 * With `stream` true, connections accepted until the returned function is called take
 * Node's stream paths ('data' events, socket.write()) instead of the shared read buffer and
 * direct handle writes (the environment variables socket-transport.ts reads per connection).
 */
function withStreamPaths(stream: boolean): () => void {
  const names = ["XENSIM_NO_USER_BUFFER", "XENSIM_NO_DIRECT_WRITE"] as const;
  const prev = names.map((k) => process.env[k]);
  if (stream) for (const k of names) process.env[k] = "1";
  return () =>
    names.forEach((k, i) => {
      if (prev[i] === undefined) delete process.env[k];
      else process.env[k] = prev[i];
    });
}

async function until(pred: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
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
