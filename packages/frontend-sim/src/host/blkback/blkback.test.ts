import { describe, expect, it } from "vitest";
import { BlkFrontendHands, blkRw } from "../../explore/hostile-blk.ts";
import {
  BLKIF_ABI_X86_64 as ABI,
  BLKIF_OP_INDIRECT,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from "../../guest/blkfront/blkif-abi.ts";
import { XBT_NIL } from "../../guest/xenbus/xs-client.ts";
import { BlkMachine } from "../../lifecycle/blk-harness.ts";
import { type Connected, connectedVbd, readNode } from "../../lifecycle/blk-testkit.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import { XenbusState as S } from "../../xenbus/xenbus-state.ts";
import { vbdSpec } from "../toolstack/device-spec.ts";

const BE_ERROR = "/local/domain/0/error/backend/vbd/1/51712/error";

/** Takes blkfront's ring over: the test writes requests and reads the responses itself. */
function takeOver(c: Connected): BlkFrontendHands {
  return new BlkFrontendHands(c.disk.rings[0]!, c.guest.kernel.events);
}

/** A granted page of the guest for a data segment. */
function grantPage(c: Connected): number {
  const k = c.guest.kernel;
  const gfn = k.memory.allocate() as number;
  return k.grantTable.grantForeignAccess(0, gfn, false) as number;
}

const rw = blkRw;

describe("blkback vs a hostile frontend", () => {
  it("C3/C4/C5/C6: bad requests get error responses, good ones still work", async () => {
    const c = await connectedVbd();
    const h = takeOver(c);
    const g = grantPage(c);
    const ids = {
      zeroSegs: h.send(rw(BLKIF_OP_READ, 0, [])),
      tooMany: h.send((w) => {
        rw(
          BLKIF_OP_READ,
          0,
          Array.from({ length: 11 }, () => [g, 0, 7] as [number, number, number]),
        )(w);
        w.setU8(ABI.nrSegments, 12);
      }),
      firstAfterLast: h.send(rw(BLKIF_OP_READ, 0, [[g, 5, 4]])),
      lastTooBig: h.send(rw(BLKIF_OP_READ, 0, [[g, 0, 8]])),
      beyondEnd: h.send(rw(BLKIF_OP_READ, 4095, [[g, 0, 7]])),
      unknownOp: h.send((w) => w.setU8(ABI.op, 4)),
      notGranted: h.send(rw(BLKIF_OP_WRITE, 0, [[4000, 0, 0]])),
      badIndirect: h.send((w) => {
        w.setU8(ABI.op, BLKIF_OP_INDIRECT);
        w.setU8(ABI.indOp, 3);
        w.setU16(ABI.indNrSegments, 1);
      }),
      tooManyIndirect: h.send((w) => {
        w.setU8(ABI.op, BLKIF_OP_INDIRECT);
        w.setU8(ABI.indOp, BLKIF_OP_READ);
        w.setU16(ABI.indNrSegments, 257);
      }),
      good: h.send(rw(BLKIF_OP_READ, 8, [[g, 0, 7]])),
    };
    // A 64-bit id comes back whole.
    const big = h.send(rw(BLKIF_OP_READ, 0, [[g, 0, 0]]), 0x1234_5678_9abc);
    await c.bm.m.sched.run();
    const rsps = h.responses();
    const status = (id: number) => rsps.find((x) => x.id === id)?.status;
    expect(status(ids.zeroSegs)).toBe(BLKIF_RSP_ERROR);
    expect(status(ids.tooMany)).toBe(BLKIF_RSP_ERROR);
    expect(status(ids.firstAfterLast)).toBe(BLKIF_RSP_ERROR);
    expect(status(ids.lastTooBig)).toBe(BLKIF_RSP_ERROR);
    expect(status(ids.beyondEnd)).toBe(BLKIF_RSP_ERROR);
    expect(rsps.find((x) => x.id === ids.unknownOp)).toMatchObject({ op: 4, status: BLKIF_RSP_EOPNOTSUPP });
    expect(status(ids.notGranted)).toBe(BLKIF_RSP_ERROR);
    expect(rsps.find((x) => x.id === ids.badIndirect)).toMatchObject({ op: 3, status: BLKIF_RSP_ERROR });
    expect(status(ids.tooManyIndirect)).toBe(BLKIF_RSP_ERROR);
    expect(status(ids.good)).toBe(BLKIF_RSP_OKAY);
    expect(rsps.find((x) => x.id === (big & 0xffffffff) >>> 0)).toMatchObject({ idHi: 0x1234, status: 0 });
    expect(c.be.stats.errors).toBe(9);
    // No mapping was leaked by the failed requests (only persistent ones of the good requests).
    for (const m of c.bm.m.platform.hypervisor.activeMappings(0)) {
      expect(
        m.ref === 1 || c.be.rings[0]!.persistentGrants.has(m.ref) || h.r.granted.refs.includes(m.ref),
      ).toBe(true);
    }
  });

  it("a misaligned request on a 4 KiB-sector disk is refused", async () => {
    const bm = new BlkMachine();
    const { physical } = bm.image({ sectors: 4096, sectorSize: 4096 });
    const c: Connected = await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        const { guest, blkfront } = await bm.guest(1);
        const { spec, disk } = await bm.plug(blkfront, { domid: 1, physical });
        return {
          bm,
          guest,
          blkfront,
          disk,
          image: undefined as never,
          spec,
          be: bm.blkback.device(1, spec.devid)!,
        };
      })(),
    );
    expect(c.disk.sectorSize).toBe(4096);
    await expect(c.disk.read(1, 8)).rejects.toThrow(/EINVAL/);
    const h = takeOver(c);
    const g = grantPage(c);
    const a = h.send(rw(BLKIF_OP_READ, 1, [[g, 0, 7]]));
    const b = h.send(rw(BLKIF_OP_READ, 8, [[g, 1, 7]]));
    const ok = h.send(rw(BLKIF_OP_READ, 8, [[g, 0, 7]]));
    await c.bm.m.sched.run();
    const rsps = h.responses();
    expect(rsps.find((x) => x.id === a)?.status).toBe(BLKIF_RSP_ERROR);
    expect(rsps.find((x) => x.id === b)?.status).toBe(BLKIF_RSP_ERROR);
    expect(rsps.find((x) => x.id === ok)?.status).toBe(BLKIF_RSP_OKAY);
  });

  it("C1: req_prod more than a ring ahead halts the ring with an error node", async () => {
    const c = await connectedVbd();
    const h = takeOver(c);
    h.r.front.header.reqProd = 5000;
    c.guest.kernel.events.send(h.r.port);
    await c.bm.m.sched.run();
    const ring = c.be.rings[0]!;
    expect(ring.halted).toBe(true);
    expect(readNode(c.bm, BE_ERROR)).toMatch(/^13 Frontend provided bogus ring requests/);
    expect(h.responses()).toEqual([]);
  });
});

/** A frontend that publishes the given transport keys (and a real ring and port). */
function craftedFront(keys: Record<string, string>): XenbusDriver {
  return {
    type: "vbd",
    async probe() {},
    async otherendChanged(dev, be) {
      if (be !== S.InitWait || dev.state !== S.Initialising) return;
      const ring = await dev.setupRing(1);
      const port = await dev.allocEvtchn();
      dev.data = { ring, port };
      const all = {
        "ring-ref": String(ring!.refs[0]),
        "event-channel": String(port),
        protocol: "x86_64-abi",
        ...keys,
      };
      for (const [k, v] of Object.entries(all)) await dev.xb.write(XBT_NIL, `${dev.nodename}/${k}`, v);
      await dev.switchState(S.Initialised);
    },
    async remove() {},
  };
}

async function fatalFor(keys: Record<string, string>): Promise<string | undefined> {
  const bm = new BlkMachine();
  const { physical } = bm.image({ sectors: 64 });
  await bm.m.settle(
    (async () => {
      await bm.m.startDom0();
      await bm.m.createGuest(1, [craftedFront(keys)]);
      await bm.m.toolstack.addDevice(vbdSpec({ domid: 1, physical }));
    })(),
  );
  expect(readNode(bm, "/local/domain/0/backend/vbd/1/51712/state")).toBe(String(S.Closing));
  expect(bm.m.platform.hypervisor.activeMappings(0).filter((m) => m.ref !== 1)).toEqual([]);
  return readNode(bm, BE_ERROR);
}

describe("blkback connect_ring refuses bad transport keys (fatal, Linux messages)", () => {
  it("C10: too many queues", async () => {
    expect(await fatalFor({ "multi-queue-num-queues": "9" })).toBe(
      "38 guest requested 9 queues, exceeding the maximum of 4.",
    );
  });
  it("C10: zero queues", async () => {
    expect(await fatalFor({ "multi-queue-num-queues": "0" })).toBe(
      "38 guest requested 0 queues, exceeding the maximum of 4.",
    );
  });
  it("C11: ring page order above the maximum", async () => {
    expect(await fatalFor({ "ring-page-order": "5" })).toBe("22 requested ring page order 5 exceed max:4");
  });
  it("C12: unknown protocol", async () => {
    expect(await fatalFor({ protocol: "sparc-abi" })).toBe("38 unknown fe protocol sparc-abi");
  });
  it("C13: key layout contradicting num-queues", async () => {
    expect(await fatalFor({ "multi-queue-num-queues": "2" })).toBe(
      "22 reading /local/domain/1/device/vbd/51712/queue-0/event-channel",
    );
  });
  it("a ring page the frontend never granted", async () => {
    expect(await fatalFor({ "ring-ref": "3000" })).toBe("3 mapping in shared page 3000 from domain 1");
  });
});

describe("blkback vs a frontend toggling its state (C14, XSA-350 class)", () => {
  it("Initialised ↔ Closing toggles: teardown and setup never overlap, nothing leaks", async () => {
    const { scheduleDeferredRetry } = await import("../../xenbus/deferred-grants.ts");
    let mappedSomewhere = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const toggler: XenbusDriver = {
        type: "vbd",
        async probe() {},
        async otherendChanged(dev, be) {
          if (be === S.InitWait && dev.state === S.Initialising && dev.data === undefined) {
            dev.data = "toggling";
            for (let k = 0; k < 3; k++) {
              const ring = (await dev.setupRing(1))!;
              const port = (await dev.allocEvtchn())!;
              await dev.xb.write(XBT_NIL, `${dev.nodename}/ring-ref`, String(ring.refs[0]));
              await dev.xb.write(XBT_NIL, `${dev.nodename}/event-channel`, String(port));
              await dev.switchState(S.Initialised);
              await dev.switchState(S.Closing);
              await dev.switchState(S.Closed);
              dev.kernel.events.close(port);
              dev.releaseRing(ring);
              scheduleDeferredRetry(dev.kernel);
              await dev.switchState(S.Initialising);
            }
          } else if ((be === S.Closing || be === S.Closed) && dev.state !== S.Closed) {
            await dev.switchState(S.Closed);
          }
        },
        async remove() {},
      };
      const bm = new BlkMachine({ seed });
      const { physical } = bm.image({ sectors: 64 });
      const spec = vbdSpec({ domid: 1, physical });
      const outcome = await bm.m.settle(
        (async () => {
          await bm.m.startDom0();
          await bm.m.createGuest(1, [toggler]);
          await bm.m.toolstack.addDevice(spec);
          return bm.m.toolstack.removeDevice(spec);
        })(),
      );
      expect(["clean", "forced"]).toContain(outcome);
      expect(bm.blkback.all.size).toBe(0);
      expect(bm.invariants()).toEqual([]);
      if (bm.m.sched.trace.all().some((r) => r.kind === "blkback.connect_ring")) mappedSomewhere++;
    }
    // The toggles really raced the backend's ring setup at least once.
    expect(mappedSomewhere).toBeGreaterThan(0);
  });
});
