// Hostile peers: a backend breaking the ring protocol (netfront must disable the device, never
// trust it), a frontend sending malformed requests (netback must answer with errors or disable
// the vif, never crash).
import { NETIF_RSP_ERROR, NETTXF_more_data } from "@xensim/ring";
import { describe, expect, it } from "vitest";
import { type NetGuest, NetRig, testFrame } from "./net-test-kit.ts";

async function pair(): Promise<{ rig: NetRig; a: NetGuest; b: NetGuest }> {
  const rig = new NetRig();
  const [a, b] = await rig.boot([1, 2]);
  return { rig, a: a!, b: b! };
}

describe("netfront against a hostile backend", () => {
  it("a TX response with an out-of-range id marks the device broken with an error node", async () => {
    const { rig, a, b } = await pair();
    const bq = rig.netback.vif(1)!.queues[0]!;
    bq.live = false; // the backend stops behaving; the test answers instead
    const fa = rig.front(a);
    expect(fa.send(testFrame(b.mac, a.mac, 100))).toBe(true);
    await rig.drain();
    expect(bq.tx.unconsumedRequests()).toBe(1);
    bq.tx.takeRequest(bq.tx.requestSnapshot());
    bq.tx.writeResponse({ id: 300, status: 0 });
    bq.tx.pushResponses();
    rig.machine.dom0.events.send(bq.txIrq);
    await rig.drain();
    expect(fa.broken).toBe(true);
    expect(fa.brokenReason).toBe("Response has incorrect id (300)");
    expect(rig.read("/local/domain/1/error/device/vif/0/error")).toBe(
      "5 Response has incorrect id (300); Disabled for further use",
    );
    expect(fa.transmit(testFrame(b.mac, a.mac, 100))).toBe("dropped");
    expect(rig.sched.trace.all().some((r) => r.kind === "netfront.broken")).toBe(true);
  });

  it("a TX response for an id never sent is refused", async () => {
    const { rig, a, b } = await pair();
    const bq = rig.netback.vif(1)!.queues[0]!;
    bq.live = false;
    const fa = rig.front(a);
    fa.send(testFrame(b.mac, a.mac, 100)); // id 0 in flight
    await rig.drain();
    expect(bq.tx.unconsumedRequests()).toBe(1);
    bq.tx.takeRequest(bq.tx.requestSnapshot());
    bq.tx.writeResponse({ id: 7, status: 0 });
    bq.tx.pushResponses();
    rig.machine.dom0.events.send(bq.txIrq);
    await rig.drain();
    expect(fa.brokenReason).toBe("Response for inactive request");
  });

  it("an RX producer index beyond the ring is 'Illegal number of responses'", async () => {
    const { rig, a } = await pair();
    const bq = rig.netback.vif(1)!.queues[0]!;
    bq.rx.header.rspProd = (bq.rx.header.rspProd + 300) >>> 0;
    rig.machine.dom0.events.send(bq.rxIrq);
    await rig.drain();
    const fa = rig.front(a);
    expect(fa.broken).toBe(true);
    expect(fa.brokenReason).toBe("Illegal number of responses 300");
    expect(rig.read("/local/domain/1/error/device/vif/0/error")).toBe(
      "5 Illegal number of responses 300; Disabled for further use",
    );
  });

  it("a backend keeping a TX grant mapped after answering: 'Grant still in use by backend domain'", async () => {
    const { rig, a, b } = await pair();
    const bq = rig.netback.vif(1)!.queues[0]!;
    bq.live = false;
    rig.front(a).send(testFrame(b.mac, a.mac, 100));
    await rig.drain();
    const req = bq.tx.requestSnapshot();
    expect(bq.tx.unconsumedRequests()).toBe(1);
    bq.tx.takeRequest(req);
    const gnttab = rig.machine.dom0.gnttab;
    const map = gnttab.map(1, req.getU32(0), { readonly: true });
    expect(map.status).toBe(0);
    bq.tx.writeResponse({ id: req.getU16(8), status: 0 });
    bq.tx.pushResponses();
    rig.machine.dom0.events.send(bq.txIrq);
    await rig.drain();
    expect(rig.front(a).brokenReason).toBe("Grant still in use by backend domain");
    if (map.status === 0) gnttab.unmap(map.handle);
  });

  it("an RX response with offset + size > 4096 drops the packet and recycles the buffer", async () => {
    const { rig, a } = await pair();
    const bq = rig.netback.vif(1)!.queues[0]!;
    bq.live = false;
    const req = bq.rx.requestSnapshot();
    expect(bq.rx.unconsumedRequests()).toBe(256);
    bq.rx.takeRequest(req);
    bq.rx.writeResponse({ id: req.getU16(0), offset: 4000, flags: 0, status: 200 });
    bq.rx.pushResponses();
    rig.machine.dom0.events.send(bq.rxIrq);
    await rig.drain();
    const fa = rig.front(a);
    expect(fa.broken).toBe(false);
    expect(fa.stats.rxErrors).toBe(1);
    expect(fa.takeReceived()).toEqual([]);
    // The buffer went back on the ring: 256 requests outstanding again.
    const fq = fa.queues[0]!;
    expect((fq.rx.reqProdPvt - fq.rx.rspCons) >>> 0).toBe(256);
  });
});

describe("netback against a hostile frontend", () => {
  /** Puts raw TX requests on the guest's ring and kicks the backend. */
  async function raw(
    rig: NetRig,
    g: NetGuest,
    reqs: { gref: number; offset: number; flags: number; id: number; size: number }[],
  ): Promise<void> {
    const fq = rig.front(g).queues[0]!;
    fq.live = false; // the guest's own netfront must not consume the answers
    for (const r of reqs) expect(fq.tx.writeRequest(r)).toBe(true);
    fq.tx.pushRequests();
    g.guest.kernel.events.send(fq.txEvtchn);
    await rig.drain();
  }

  it("a packet shorter than an Ethernet header gets an error response; the vif stays up", async () => {
    const { rig, a } = await pair();
    await raw(rig, a, [{ gref: 8, offset: 0, flags: 0, id: 5, size: 10 }]);
    const vif = rig.netback.vif(1)!;
    expect(vif.disabled).toBe(false);
    expect(vif.queues[0]!.stats.txErrors).toBe(1);
    const fq = rig.front(a).queues[0]!;
    const rsp = fq.tx.responseSnapshot();
    expect(fq.tx.unconsumedResponses()).toBe(1);
    fq.tx.takeResponse(rsp);
    expect(rsp.decode()).toEqual({ id: 5, status: NETIF_RSP_ERROR });
    const e = rig.sched.trace.all().find((r) => r.kind === "netback.tx_error");
    expect(e?.details.reason).toBe("Bad packet size: 10");
  });

  it("a slot crossing its page disables the vif with an error node", async () => {
    const { rig, a } = await pair();
    await raw(rig, a, [{ gref: 8, offset: 4000, flags: 0, id: 1, size: 200 }]);
    const vif = rig.netback.vif(1)!;
    expect(vif.disabled).toBe(true);
    expect(vif.carrier).toBe(false);
    expect(rig.read("/local/domain/0/error/backend/vif/1/0/error")).toBe(
      "22 Cross page boundary, txreq.offset: 4000, size: 200; fatal error; disabling device",
    );
  });

  it("a more_data chain past fatal_skb_slots is malicious", async () => {
    const { rig, a } = await pair();
    const reqs = Array.from({ length: 24 }, (_, i) => ({
      gref: 8,
      offset: 0,
      flags: NETTXF_more_data,
      id: i,
      size: i === 0 ? 24 * 10 : 10,
    }));
    await raw(rig, a, reqs);
    expect(rig.netback.vif(1)!.disabledReason).toBe("Malicious frontend using 20 slots, threshold 20");
  });

  it("a bad grant reference fails the copy: error response, packet dropped, vif up", async () => {
    const { rig, a } = await pair();
    await raw(rig, a, [{ gref: 100000, offset: 0, flags: 0, id: 3, size: 60 }]);
    const vif = rig.netback.vif(1)!;
    expect(vif.disabled).toBe(false);
    expect(vif.queues[0]!.stats.txErrors).toBe(1);
    expect(rig.netback.liveSkbs).toBe(0);
  });
});
