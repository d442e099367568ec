// blkfront against a hostile or broken backend (hostile-peers.md B-rows) and the handshake's
// error paths. The real blkback connects; then its ring thread is stopped and the test answers
// requests itself through the backend's side of the ring.
import { BLKIF_OP_WRITE, BLKIF_RSP_OKAY } from "@xensim/ring";
import { describe, expect, it } from "vitest";
import { BlkBackendHands, blkResponse } from "../explore/hostile-blk.ts";
import { BLKIF_OP_READ } from "../guest/blkfront/blkif-abi.ts";
import { vbdSpec } from "../host/toolstack/device-spec.ts";
import { XenbusState } from "../xenbus/xenbus-state.ts";
import { BlkMachine } from "./blk-harness.ts";
import { type Connected, connectedVbd, readNode } from "./blk-testkit.ts";

const FE_ERROR = "/local/domain/1/error/device/vbd/51712/error";

/** Stops blkback's ring thread and returns a way to play the backend by hand. */
function hijack(c: Connected): BlkBackendHands {
  return new BlkBackendHands(c.be.rings[0]!, c.bm.m.dom0.events);
}

const response = blkResponse;

async function brokenBy(
  c: Connected,
  answer: (h: ReturnType<typeof hijack>, req: { id: number; op: number; gref: number }) => void,
) {
  const h = hijack(c);
  const p = c.disk.read(0, 8).then(
    () => "ok",
    (e: Error) => e.message,
  );
  await c.bm.m.sched.run();
  expect(h.pending()).toBeGreaterThan(0);
  answer(h, h.take());
  await c.bm.m.sched.run();
  return { result: await p, h };
}

describe("blkfront vs a hostile backend", () => {
  it("B3: a response id out of range breaks the device (error node, port left masked)", async () => {
    const c = await connectedVbd();
    const { result } = await brokenBy(c, (h) => h.respond(response(9999, BLKIF_OP_READ, BLKIF_RSP_OKAY)));
    expect(result).toMatch(/EIO/);
    expect(c.disk.state).toBe("error");
    expect(readNode(c.bm, FE_ERROR)).toMatch(/^5 response has incorrect id \(9999\)/);
    expect(c.guest.kernel.events.isMasked(c.disk.rings[0]!.port)).toBe(true);
    await expect(c.disk.read(0, 8)).rejects.toThrow(/EIO/);
  });

  it("B3: a response for an idle slot is rejected", async () => {
    const c = await connectedVbd();
    const { result } = await brokenBy(c, (h, req) => h.respond(response(req.id + 1, BLKIF_OP_READ, 0)));
    expect(result).toMatch(/EIO/);
    expect(readNode(c.bm, FE_ERROR)).toMatch(/response references no pending request/);
  });

  it("B4: a response with another operation is rejected", async () => {
    const c = await connectedVbd();
    const { result } = await brokenBy(c, (h, req) => h.respond(response(req.id, BLKIF_OP_WRITE, 0)));
    expect(result).toMatch(/EIO/);
    expect(readNode(c.bm, FE_ERROR)).toMatch(/response has wrong operation \(1 instead of 0\)/);
  });

  it("B1: rsp_prod more than a ring ahead is detected", async () => {
    const c = await connectedVbd();
    const { result } = await brokenBy(c, (h) => {
      h.ring.back.header.rspProd = 1000;
      c.bm.m.dom0.events.send(h.ring.port);
    });
    expect(result).toMatch(/EIO/);
    expect(readNode(c.bm, FE_ERROR)).toMatch(/illegal number of responses/);
  });

  it("B22: a status outside {-2,-1,0} is an I/O error, not a crash", async () => {
    const c = await connectedVbd();
    const { result } = await brokenBy(c, (h, req) => h.respond(response(req.id, req.op, 7)));
    expect(result).toMatch(/EIO.*status 7/);
    expect(c.disk.state).toBe("connected");
  });

  it("B6: a backend keeping a grant mapped after responding: broken, page never reused until revoked", async () => {
    const c = await connectedVbd({ front: { persistent: false } });
    const kept: number[] = [];
    const { result } = await brokenBy(c, (h, req) => {
      const m = c.bm.m.dom0.gnttab.map(1, req.gref);
      if (m.status === 0) kept.push(m.handle);
      h.respond(response(req.id, req.op, 0));
    });
    expect(result).toMatch(/EIO/);
    expect(readNode(c.bm, FE_ERROR)).toMatch(/backed has not unmapped grant/);
    const gt = c.guest.kernel.grantTable;
    expect(gt.deferredRefs().length).toBe(1);
    // The backend lets go; the deferred revocation then succeeds and nothing leaks.
    for (const h of kept) c.bm.m.dom0.gnttab.unmap(h);
    await c.bm.m.settle(c.bm.m.toolstack.removeDevice(c.spec));
    expect(gt.deferredRefs()).toEqual([]);
    expect(c.bm.invariants()).toEqual([]);
  });

  it("B19: Connected written again with new sectors is a capacity change", async () => {
    const c = await connectedVbd();
    await c.bm.m.settle(c.be.resize(8192));
    expect(c.disk.sectors).toBe(8192);
    const data = new Uint8Array(512).fill(3);
    await c.bm.m.settle(c.disk.write(8000, data));
    expect(c.image.peek(8000 * 512, 512)).toEqual(data);
  });
});

describe("blkfront handshake edges", () => {
  it("B14: hotplug never runs — both ends wait (no crash, no busy loop) and unplug is clean", async () => {
    const bm = new BlkMachine();
    const spec = vbdSpec({ domid: 1 }); // no physical device: the block script never reports
    await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        await bm.guest(1);
        await bm.m.toolstack.addDevice(spec);
      })(),
    );
    expect(readNode(bm, "/local/domain/1/device/vbd/51712/state")).toBe(String(XenbusState.Initialised));
    expect(readNode(bm, "/local/domain/0/backend/vbd/1/51712/state")).toBe(String(XenbusState.InitWait));
    expect(await bm.m.settle(bm.m.toolstack.removeDevice(spec))).toBe("clean");
    expect(bm.invariants()).toEqual([]);
  });

  it("an unknown physical-device is fatal for the backend (creating vbd structure)", async () => {
    const bm = new BlkMachine();
    const spec = vbdSpec({ domid: 1, physical: { major: 7, minor: 42, path: "/dev/loop42" } });
    await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        await bm.guest(1);
        await bm.m.toolstack.addDevice(spec);
      })(),
    );
    expect(readNode(bm, "/local/domain/0/error/backend/vbd/1/51712/error")).toBe("2 creating vbd structure");
    expect(readNode(bm, "/local/domain/1/device/vbd/51712/state")).toBe(String(XenbusState.Closed));
    expect(await bm.m.settle(bm.m.toolstack.removeDevice(spec))).toBe("clean");
    expect(bm.invariants()).toEqual([]);
  });

  it("a frontend without virtual-device fails its probe (reading virtual-device)", async () => {
    const bm = new BlkMachine();
    const { physical } = bm.image({ sectors: 64 });
    const spec = vbdSpec({ domid: 1, physical });
    const { "virtual-device": _, ...frontend } = spec.frontend;
    await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        await bm.guest(1);
        await bm.m.toolstack.addDevice({ ...spec, frontend });
      })(),
    );
    expect(readNode(bm, "/local/domain/1/error/device/vbd/51712/error")).toBe("2 reading virtual-device");
  });

  it("a read-only vbd: writes fail at the frontend (EROFS) and reads work", async () => {
    const c = await connectedVbd({ vbd: { mode: "r" } });
    expect(c.disk.readOnly).toBe(true);
    await expect(c.disk.write(0, new Uint8Array(512))).rejects.toThrow(/EROFS/);
    await expect(c.bm.m.settle(c.disk.read(0, 1))).resolves.toHaveLength(512);
  });

  it("a Linux frontend stays Closed after its backend restarts (hostile-peers D8 gap)", async () => {
    const c = await connectedVbd();
    await c.bm.m.settle(c.be.restart());
    expect(readNode(c.bm, "/local/domain/1/device/vbd/51712/state")).toBe(String(XenbusState.Closed));
    expect(readNode(c.bm, "/local/domain/0/backend/vbd/1/51712/state")).toBe(String(XenbusState.Closed));
    expect(c.disk.state).toBe("closed");
    await expect(c.disk.read(0, 1)).rejects.toThrow(/ENXIO/);
    expect(await c.bm.m.settle(c.bm.m.toolstack.removeDevice(c.spec))).toBe("clean");
    expect(c.bm.invariants()).toEqual([]);
  });

  it("forced removal while connected (D11): the frontend tears down with the backend still Connected", async () => {
    const c = await connectedVbd();
    const p = c.disk.read(0, 8).catch((e: Error) => e.message);
    expect(await c.bm.m.settle(c.bm.m.toolstack.removeDevice(c.spec, { force: true }))).toBe("forced");
    await p;
    expect(c.blkfront.all.size).toBe(0);
    expect(c.bm.blkback.all.size).toBe(0);
    expect(c.bm.invariants()).toEqual([]);
  });
});
