// Bounded soak: 64 clients (dom0 and guest) doing mixed operations for a few seconds against
// one daemon, beside a client that watches everything and never reads and one that pipelines
// requests without reading replies. Every fast client checks every reply against its own
// model; the daemon's queues and heap must stay bounded.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { XsRequest } from "../wire/client.ts";
import type { XsFrame } from "../wire/frame.ts";
import { FrameParser } from "../wire/frame-parser.ts";
import { bytesToLatin1 } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenstoredDaemon } from "./xenstored-daemon.ts";

const CLIENTS = 64;
const GUEST_CLIENTS = 8;
const SOAK_MS = 3000;
/** heap growth allowed over the soak (the daemon, the 64 clients and the test share the heap) */
const HEAP_GROWTH_MAX = 96 * 1024 * 1024;
/** queued output in the daemon at any sample: 66 connections × capped events/replies */
const QUEUED_MAX = 8 * 1024 * 1024;

/** A small request/reply client: replies by req_id, events counted. */
class Client {
  private readonly parser = new FrameParser();
  private readonly waiting = new Map<number, (f: XsFrame) => void>();
  private nextId = 1;
  events = 0;
  closed = false;

  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.parser.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      for (let f = this.parser.next(); f !== null; f = this.parser.next()) {
        if (!("payload" in f)) throw new Error(String(f));
        if (f.type === XsType.WATCH_EVENT) {
          this.events++;
          continue;
        }
        const w = this.waiting.get(f.reqId);
        this.waiting.delete(f.reqId);
        w?.(f);
      }
    });
    sock.on("close", () => {
      this.closed = true;
    });
  }

  static open(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }

  /** Sends a request built for a req_id; resolves with "TYPE payload". */
  call(build: (ids: { reqId: number; txId?: number }) => Uint8Array, txId = 0): Promise<string> {
    const reqId = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${reqId} in 10 s`)), 10_000);
      this.waiting.set(reqId, (f) => {
        clearTimeout(t);
        resolve(`${f.type === XsType.ERROR ? "ERROR" : "OK"} ${bytesToLatin1(f.payload)}`);
      });
      this.sock.write(build({ reqId, txId }));
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One fast client's workload: its own subtree, checked against a model. */
async function fastClient(c: Client, base: string, seed: number, until: number): Promise<number> {
  let x = seed >>> 0 || 1;
  const rnd = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const model = new Map<string, string>();
  const expectEq = (got: string, want: string, what: string) => {
    if (got !== want)
      throw new Error(`${base}: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  let ops = 0;
  // the client's own directory first: its transactions then touch nothing shared (creating
  // it inside one would conflict with the other clients creating theirs: EAGAIN, as in cx)
  expectEq(await c.call((i) => XsRequest.mkdir(base, i)), "OK OK\0", "mkdir");
  expectEq(await c.call((i) => XsRequest.watch(base, "me", i)), "OK OK\0", "watch");
  while (Date.now() < until) {
    const k = `k${rnd(32)}`;
    const path = `${base}/${k}`;
    switch (rnd(6)) {
      case 0:
      case 1: {
        const v = `v${rnd(1000)}`;
        expectEq(await c.call((i) => XsRequest.write(path, v, i)), "OK OK\0", `write ${k}`);
        model.set(k, v);
        break;
      }
      case 2: {
        const want = model.get(k);
        expectEq(
          await c.call((i) => XsRequest.read(path, i)),
          want === undefined ? "ERROR ENOENT\0" : `OK ${want}`,
          `read ${k}`,
        );
        break;
      }
      case 3: {
        expectEq(await c.call((i) => XsRequest.rm(path, i)), "OK OK\0", `rm ${k}`);
        model.delete(k);
        break;
      }
      case 4: {
        const got = await c.call((i) => XsRequest.directory(base, i));
        const names = got.startsWith("OK ") ? got.slice(3).split("\0").filter(Boolean).sort() : [got];
        expectEq(names.join(","), [...model.keys()].sort().join(","), "directory");
        break;
      }
      default: {
        const t = await c.call((i) => XsRequest.transactionStart(i));
        const tx = Number(t.slice(3).replace("\0", ""));
        if (!(tx > 0)) throw new Error(`${base}: transaction start: ${t}`);
        const v = `t${rnd(1000)}`;
        expectEq(await c.call((i) => XsRequest.write(path, v, i), tx), "OK OK\0", "tx write");
        expectEq(await c.call((i) => XsRequest.read(path, i), tx), `OK ${v}`, "tx read");
        expectEq(await c.call((i) => XsRequest.transactionEnd(true, i), tx), "OK OK\0", "tx commit");
        model.set(k, v);
      }
    }
    ops++;
  }
  return ops;
}

describe("xenstored soak", () => {
  it(`${CLIENTS} clients, mixed operations, a slow reader and a pipelining hog, ${SOAK_MS / 1000} s: all replies correct, queues and heap bounded`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "xs-"));
    const sock = join(dir, "s");
    const guest = join(dir, "g1");
    const daemon = await XenstoredDaemon.start({
      socketPath: sock,
      guestSockets: [{ domid: 1, path: guest }],
    });
    const opened: Client[] = [];
    try {
      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      // the slow reader: watches everything, never reads
      const slow = await Client.open(sock);
      opened.push(slow);
      // a long token makes each of its events ~1 KiB: the socket buffers fill quickly
      await slow.call((i) => XsRequest.watch("/", "t".repeat(1000), i));
      (slow as unknown as { sock: Socket }).sock.pause();
      // the hog: pipelines big writes and never reads a reply
      const hog = connect(sock);
      await new Promise<void>((r) => hog.once("connect", () => r()));
      hog.pause();
      hog.on("error", () => {});
      const big = "h".repeat(3000);
      const hogFrames: Uint8Array[] = [];
      for (let i = 0; i < 3000; i++) hogFrames.push(XsRequest.write(`/hog/${i % 16}`, big, { reqId: i }));
      hog.write(Buffer.concat(hogFrames));

      const clients: { c: Client; base: string }[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const isGuest = i < GUEST_CLIENTS;
        const c = await Client.open(isGuest ? guest : sock);
        opened.push(c);
        clients.push({ c, base: isGuest ? `/local/domain/1/data/c${i}` : `/soak/c${i}` });
      }
      let maxQueued = 0;
      let maxHeld = 0;
      const sampler = setInterval(() => {
        const s = daemon.stats();
        maxQueued = Math.max(maxQueued, s.queuedOutputBytes);
        maxHeld = Math.max(maxHeld, s.heldInputBytes);
      }, 50);
      const until = Date.now() + SOAK_MS;
      const results = await Promise.allSettled(
        clients.map(({ c, base }, i) => fastClient(c, base, i + 1, until)),
      );
      clearInterval(sampler);
      const failures = results
        .filter((r) => r.status === "rejected")
        .map((r) => String((r as PromiseRejectedResult).reason));
      expect(failures).toEqual([]);
      const ops = results.map((r) => (r.status === "fulfilled" ? r.value : 0));
      // every fast client made progress despite the slow reader and the hog
      expect(Math.min(...ops)).toBeGreaterThan(10);
      const s = daemon.stats();
      console.log(
        `soak: ${ops.reduce((a, b) => a + b, 0)} ops by ${CLIENTS} clients, ${JSON.stringify(s)}, max queued ${maxQueued}, max held ${maxHeld}, heap +${((process.memoryUsage().heapUsed - heap0) / 1048576).toFixed(1)} MiB`,
      );
      expect(s.droppedEvents).toBeGreaterThan(0); // the slow reader's queue overflowed
      expect(maxQueued).toBeLessThan(QUEUED_MAX);
      expect(maxHeld).toBeLessThan(2 * 1024 * 1024);
      global.gc?.();
      expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(HEAP_GROWTH_MAX);
      hog.destroy();
    } finally {
      for (const c of opened) c.close();
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
