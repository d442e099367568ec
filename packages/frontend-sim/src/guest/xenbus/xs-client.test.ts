import { Scheduler } from "@xensim/evtchn";
import {
  decodeHeader,
  encodeFrame,
  encodeStrings,
  FrameParser,
  latin1ToBytes,
  type XsFrame,
  XsFrameError,
  XsType,
} from "@xensim/xenstore-core/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { format, XBT_NIL, XenbusClient } from "./xs-client.ts";
import type { XsTransport } from "./xs-transport.ts";

/** A scripted xenstored: records request frames; the test answers them by hand. */
class FakeServer implements XsTransport {
  readonly requests: XsFrame[] = [];
  /** When set, answers each request as it arrives (a string payload, or an error name). */
  auto: ((req: XsFrame) => string | { error: string }) | null = null;
  private receiver: (c: Uint8Array) => void = () => {};
  private readonly parser = new FrameParser();
  send(frame: Uint8Array): void {
    this.parser.push(frame);
    for (let f = this.parser.next(); f !== null; f = this.parser.next()) {
      if (f instanceof XsFrameError) throw f;
      this.requests.push(f);
      const a = this.auto?.(f);
      if (a === undefined) continue;
      if (typeof a === "string") this.reply(f, a);
      else this.error(f, a.error);
    }
  }
  onData(r: (c: Uint8Array) => void): void {
    this.receiver = r;
  }
  /** Sends bytes to the client, split into the given chunk size. */
  deliver(bytes: Uint8Array, chunk = bytes.length): void {
    for (let i = 0; i < bytes.length; i += chunk) this.receiver(bytes.subarray(i, i + chunk));
  }
  reply(req: XsFrame, payload: Uint8Array | string, chunk?: number): void {
    const p = typeof payload === "string" ? latin1ToBytes(payload) : payload;
    this.deliver(encodeFrame({ type: req.type, reqId: req.reqId, txId: req.txId, payload: p }), chunk);
  }
  error(req: XsFrame, errno: string): void {
    this.deliver(
      encodeFrame({ type: XsType.ERROR, reqId: req.reqId, txId: req.txId, payload: encodeStrings([errno]) }),
    );
  }
  event(path: string, token: string): void {
    this.deliver(
      encodeFrame({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: encodeStrings([path, token]) }),
    );
  }
}

function setup() {
  const sched = new Scheduler();
  const server = new FakeServer();
  const client = new XenbusClient(server, { sched, actor: "dom1" });
  return { sched, server, client };
}

describe("XenbusClient", () => {
  it("matches replies to requests by req_id, in any order and any chunking", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.boolean(), async (chunk, reverse) => {
        const { server, client } = setup();
        const a = client.readString(XBT_NIL, "a");
        const b = client.readString(XBT_NIL, "b");
        const c = client.readString(XBT_NIL, "c");
        expect(server.requests.map((r) => r.reqId)).toEqual([0, 1, 2]);
        const order = reverse ? [2, 0, 1] : [0, 1, 2];
        for (const i of order) server.reply(server.requests[i]!, `value-${i}`, chunk);
        expect(await Promise.all([a, b, c])).toEqual(["value-0", "value-1", "value-2"]);
        expect(client.outstanding).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("maps error replies to XenbusError, unknown strings to EINVAL (get_error)", async () => {
    const { server, client } = setup();
    const p = client.read(XBT_NIL, "/missing");
    const q = client.read(XBT_NIL, "/weird");
    server.error(server.requests[0]!, "ENOENT");
    server.error(server.requests[1]!, "EQUOTA");
    await expect(p).rejects.toMatchObject({ errno: "ENOENT", code: -2 });
    await expect(q).rejects.toMatchObject({ errno: "EINVAL" });
  });

  it("frames requests per xs_wire.h", () => {
    const { server, client } = setup();
    void client.write(7, "device/vif/0/state", "4");
    const f = server.requests[0]!;
    expect(f.type).toBe(XsType.WRITE);
    expect(f.txId).toBe(7);
    expect(Buffer.from(f.payload).toString("latin1")).toBe("device/vif/0/state\u00004");
    const raw = encodeFrame(f);
    expect(decodeHeader(raw)).toEqual({ type: 11, reqId: 0, txId: 7, len: 20 });
  });

  it("runs watch callbacks serially on the xenwatch actor, one event after another", async () => {
    const { sched, server, client } = setup();
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const wp = client.watch("device", async (path) => {
      seen.push(`start ${path}@${sched.actor}`);
      if (path === "device/vif") await gate;
      seen.push(`end ${path}`);
    });
    const req = server.requests[0]!;
    const token = Buffer.from(req.payload).toString("latin1").split("\0")[1]!;
    server.reply(req, "OK\0");
    const w = await wp;
    expect(w.token).toBe(token);
    server.event("device", token);
    server.event("device/vif", token);
    server.event("device/vif/0", token);
    server.event("device/other", "NOT-A-TOKEN"); // dropped
    sched.post("dom1", "release", () => release(), 1000);
    await sched.run();
    expect(seen).toEqual([
      "start device@dom1:xenwatch",
      "end device",
      "start device/vif@dom1:xenwatch",
      "end device/vif",
      "start device/vif/0@dom1:xenwatch",
      "end device/vif/0",
    ]);
  });

  it("runs no callback for events queued before unwatch", async () => {
    const { sched, server, client } = setup();
    let calls = 0;
    const wp = client.watch("x", () => {
      calls++;
    });
    server.reply(server.requests[0]!, "OK\0");
    const w = await wp;
    server.event("x", w.token);
    const up = client.unwatch(w);
    server.reply(server.requests[1]!, "OK\0");
    await up;
    await sched.run();
    expect(calls).toBe(0);
    expect(client.watchCount).toBe(0);
  });

  it("retries a transaction on EAGAIN and aborts it on other errors", async () => {
    const { server, client } = setup();
    let ends = 0;
    // Answer every request at once: ids 10, 11, …; the first commit fails with EAGAIN.
    server.auto = (r) => {
      if (r.type === XsType.TRANSACTION_START) return `${10 + server.requests.length - 1}\0`;
      if (r.type === XsType.TRANSACTION_END && Buffer.from(r.payload).toString("latin1") === "T\0") {
        return ends++ === 0 ? { error: "EAGAIN" } : "OK\0";
      }
      if (r.type === XsType.READ) return { error: "ENOENT" };
      return "OK\0";
    };
    let attempts = 0;
    const result = await client.transaction(async (tx) => {
      attempts++;
      await client.write(tx, "k", "v");
      return attempts;
    });
    expect(result).toBe(2);
    const commits = server.requests.filter((r) => r.type === XsType.TRANSACTION_END);
    expect(commits.map((r) => r.txId)).toEqual([10, 13]);

    server.requests.length = 0;
    await expect(client.transaction((tx) => client.read(tx, "nope"))).rejects.toMatchObject({
      errno: "ENOENT",
    });
    const abort = server.requests.at(-1)!;
    expect(abort.type).toBe(XsType.TRANSACTION_END);
    expect(Buffer.from(abort.payload).toString("latin1")).toBe("F\0");
  });

  it("reads unsigned values with a default, like xenbus_read_unsigned", async () => {
    const { server, client } = setup();
    const a = client.readUnsigned("backend", "feature-rx-copy", 0);
    const b = client.readUnsigned("backend", "max-queues", 1);
    const c = client.readUnsigned("backend", "junk", 5);
    server.reply(server.requests[0]!, "1");
    server.error(server.requests[1]!, "ENOENT");
    server.reply(server.requests[2]!, "12abc");
    expect([await a, await b, await c]).toEqual([1, 1, 5]);
  });

  it("formats like the kernel's vsnprintf for the specifiers drivers use", () => {
    expect(format("%u", [4294967295 + 1])).toBe("0");
    expect(format("%d-%s-%x", [-3, "a", 255])).toBe("-3-a-ff");
    expect(format("%02x:%02x", [10, 2])).toBe("0a:02");
    expect(format("100%%", [])).toBe("100%");
  });
});
