// Issue 6: a guest's random requests give the same replies through its XenStore ring page (random
// chunking, random scheduling) as through the socket daemon's guest socket (`pnpm xenstored
// --guest-socket`), where a client acts as the same domain with the same libxl home.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Platform } from "@xensim/frontend-sim/host";
import { XenstoredDaemon } from "@xensim/xenstore-core/daemon";
import { writeDomainHome } from "@xensim/xenstore-core/domain-home";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMID, equivalentTraffic, parseAll, reqArb, viaRing } from "./support/xs-ring-traffic.ts";
import { XsSocketClient } from "./support/xs-socket-client.ts";

/** The toolstack's way, as the daemon's --guest-socket does it: libxl's home, then INTRODUCE. */
async function libxlIntroduce(platform: Platform, domid: number) {
  const start = platform.buildDomain(domid);
  const dom0 = platform.xenstored.direct(0);
  const err = writeDomainHome(dom0, domid);
  if (err) throw new Error(`home: ${err}`);
  const r = platform.xenstored.introduceDomain(domid, start.storeGfn, start.storePort);
  if (r !== "OK") throw new Error(`introduce: ${r}`);
  await platform.sched.run();
  return start;
}

/** The same frames over a fresh daemon's guest socket, one connection, read to the end. */
async function viaSocket(dir: string, n: number, frames: Uint8Array[]): Promise<string[]> {
  const sock = join(dir, `d${n}`);
  const guest = join(dir, `g${n}`);
  const daemon = await XenstoredDaemon.start({
    socketPath: sock,
    guestSockets: [{ domid: DOMID, path: guest }],
  });
  try {
    const c = await XsSocketClient.connect(guest);
    for (const f of frames) c.send(f);
    const lastReq = frames.length;
    await c.waitFor((fs) => fs.some((f) => f.type !== 15 && f.reqId === lastReq), 5000);
    // Watch events the last request caused may still be on their way: a READ round trip flushes them.
    const probe = lastReq + 1;
    c.send(Buffer.from([2, 0, 0, 0, probe, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x2f, 0]));
    await c.waitFor((fs) => fs.some((f) => f.reqId === probe && f.type !== 15), 5000);
    const all = c.drain().filter((f) => f.reqId !== probe || f.type === 15);
    c.close();
    return parseAll(Buffer.concat(all.map((f) => encode(f.type, f.reqId, f.txId, f.payload))));
  } finally {
    await daemon.stop();
  }
}

function encode(type: number, reqId: number, txId: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(reqId, 4);
  b.writeUInt32LE(txId, 8);
  b.writeUInt32LE(payload.length, 12);
  b.set(payload, 16);
  return b;
}

describe("XenStore ring transport vs the socket daemon", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "xsr-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers a guest's random requests exactly as the daemon's guest socket does", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(reqArb, { minLength: 1, maxLength: 25 }),
        fc.integer(),
        async (reqs, seed) => {
          const frames = reqs.map((r, i) => r(i + 1));
          const expected = await viaSocket(dir, n++, frames);
          const got = await viaRing(frames, seed, null, libxlIntroduce);
          const eq = equivalentTraffic(got, expected);
          expect(eq.replies[0]).toEqual(eq.replies[1]);
          expect(eq.events[0]).toEqual(eq.events[1]);
        },
      ),
      { numRuns: 30 },
    );
  });
});
