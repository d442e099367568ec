// io/ring.h semantics: sizes, init/attach, the notify rule's worked examples (rings.md §5), final
// checks, overflow checks, typed codecs over straddling slots, and what a hostile peer can do.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GNTST_okay } from "../grant/gnttab-status.ts";
import { Hypervisor } from "../grant/hypervisor.ts";
import { StalePageAccessError } from "../memory/access-lease.ts";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { BackRing } from "./back-ring.ts";
import { FrontRing } from "./front-ring.ts";
import { PageSequence } from "./page-sequence.ts";
import { BLKIF_OP_WRITE, BLKIF_RING_X86_32, BLKIF_RING_X86_64 } from "./protocols/blkif.ts";
import { NETIF_CTRL_RING, NETIF_RX_RING, NETIF_TX_RING } from "./protocols/netif.ts";
import { isRingError } from "./ring-error.ts";
import { mustNotify, ringSize, roundDownPow2 } from "./ring-index.ts";
import { ringPair } from "./test-rings.ts";

describe("ring size", () => {
  it("matches the rings.md table for 1, 2, 4, 8, 16 pages", () => {
    const table: [number, number[]][] = [
      [NETIF_TX_RING.slotSize, [256, 512, 1024, 2048, 4096]],
      [NETIF_RX_RING.slotSize, [256, 512, 1024, 2048, 4096]],
      [BLKIF_RING_X86_64.slotSize, [32, 64, 128, 256, 512]],
      [BLKIF_RING_X86_32.slotSize, [32, 64, 128, 256, 512]],
    ];
    for (const [slot, sizes] of table) expect([1, 2, 4, 8, 16].map((n) => ringSize(slot, n))).toEqual(sizes);
    expect(ringSize(NETIF_CTRL_RING.slotSize)).toBe(128);
    expect([NETIF_TX_RING.slotSize, BLKIF_RING_X86_64.slotSize, BLKIF_RING_X86_32.slotSize]).toEqual([
      12, 112, 108,
    ]);
  });

  it("__RD32 rounds down to a power of two", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 32 - 1 }), (x) => {
        const r = roundDownPow2(x);
        if (x === 0) return r === 0;
        return r <= x && r * 2 > x && (r & (r - 1)) === 0;
      }),
    );
  });
});

describe("notify rule", () => {
  it("notifies iff the event index lies in (old, new] (rings.md §5 worked examples)", () => {
    const rows: [number, number, number, boolean][] = [
      [0, 1, 1, true],
      [1, 2, 1, false],
      [1, 3, 2, true],
      [1, 3, 4, false],
      [0, 4, 3, true],
      [0, 4, 5, false],
      [5, 5, 6, false],
      [0xffffffff, 1, 0, true],
      [0xffffffff, 1, 0xffffffff, false],
    ];
    for (const [o, n, e, want] of rows) expect(mustNotify(o, n, e)).toBe(want);
  });

  it("pushRequestsAndCheckNotify applies it to the shared req_event; a fresh ring notifies once", () => {
    const { front, back } = ringPair(NETIF_TX_RING);
    front.nextRequest();
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    front.nextRequest();
    expect(front.pushRequestsAndCheckNotify()).toBe(false); // back has not re-armed
    expect(back.unconsumedRequests()).toBe(2);
    const snap = back.requestSnapshot();
    while (back.takeRequest(snap)) back.nextResponse();
    expect(back.finalCheckForRequests()).toBe(0); // arms req_event = req_cons + 1
    expect(back.header.reqEvent).toBe(3);
    front.nextRequest();
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(back.pushResponsesAndCheckNotify()).toBe(true); // rsp_event 1 ∈ (0, 2]
  });

  it("a consumer that arms the event and re-checks never misses an item (no lost wakeup)", () => {
    const { front, back } = ringPair(NETIF_TX_RING);
    // Back sees nothing; before it arms the event, the front publishes (and, comparing against the
    // stale req_event = 1 it already passed, does not notify). The re-check catches the request.
    front.nextRequest();
    front.pushRequestsAndCheckNotify();
    expect(back.unconsumedRequests()).toBe(1);
    expect(back.takeRequest(back.requestSnapshot())).toBe(true);
    expect(back.unconsumedRequests()).toBe(0);
    front.nextRequest();
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
    expect(back.finalCheckForRequests()).toBe(1);
  });
});

describe("init and attach", () => {
  it("XEN_FRONT_RING_INIT writes producers 0, events 1, zero pvt/pad; BACK_RING_ATTACH touches nothing", () => {
    const mem = new GuestMemory(1);
    const page = mem.page(mem.allocate() as Gfn);
    page.fill(0xee);
    const seq = PageSequence.of([page]);
    const front = FrontRing.init(seq, BLKIF_RING_X86_64);
    expect([...page.readBytes(0, 64)]).toEqual([
      0,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      ...Array(48).fill(0),
    ]);
    expect(page.getU8(64)).toBe(0xee); // slots are not cleared
    page.setU32(0, 5);
    const before = page.readBytes(0, 4096);
    const back = BackRing.attach(seq, BLKIF_RING_X86_64, 3);
    expect(page.readBytes(0, 4096)).toEqual(before);
    expect([back.reqCons, back.rspProdPvt, front.size, back.size]).toEqual([3, 3, 32, 32]);
  });

  it("refuses a read-only mapping as ring memory", () => {
    const mem = new GuestMemory(1);
    const ro = mem.readOnlyPage(mem.allocate() as Gfn);
    expect(() => PageSequence.of([ro as never])).toThrow(TypeError);
  });
});

describe("front and back ring", () => {
  it("round-trips typed blkif requests through a 4-page x86_32 ring whose slots straddle pages", () => {
    const { front, back } = ringPair(BLKIF_RING_X86_32, 4, 2 ** 32 - 3);
    expect(front.size).toBe(128);
    const seg = { gref: 0x1234, first_sect: 0, last_sect: 7 };
    for (let i = 0; i < 128; i++) {
      expect(
        front.writeRequest({
          operation: BLKIF_OP_WRITE,
          nr_segments: 1,
          handle: 0xca,
          id: BigInt(i) << 40n,
          sector_number: BigInt(i * 8),
          seg: [seg],
        }),
      ).toBe(true);
    }
    expect(front.isFull).toBe(true);
    expect(front.nextRequest()).toBeUndefined();
    front.pushRequests();
    expect(back.unconsumedRequests()).toBe(128);
    const snap = back.requestSnapshot();
    for (let i = 0; i < 128; i++) {
      expect(back.takeRequest(snap)).toBe(true);
      const req = snap.decode();
      expect(req).toMatchObject({
        operation: BLKIF_OP_WRITE,
        handle: 0xca,
        id: BigInt(i) << 40n,
        sector_number: BigInt(i * 8),
      });
      expect(req.seg[0]).toEqual(seg);
      expect(back.writeResponse({ id: req.id, operation: req.operation, status: -1 })).toBe(true);
    }
    expect(back.takeRequest(snap)).toBe(false);
    expect(back.nextResponse()).toBeUndefined(); // every consumed request already answered
    back.pushResponses();
    expect(front.unconsumedResponses()).toBe(128);
    const rsp = front.responseSnapshot();
    for (let i = 0; i < 128; i++) {
      expect(front.takeResponse(rsp)).toBe(true);
      expect(rsp.decode()).toEqual({ id: BigInt(i) << 40n, operation: BLKIF_OP_WRITE, status: -1 });
    }
    expect(front.freeRequests).toBe(128);
    expect(front.reqProdPvt).toBe((2 ** 32 - 3 + 128) >>> 0);
  });

  it("copy-request is a single snapshot: later peer writes to the slot do not reach it (XSA-155)", () => {
    const { front, back, seq } = ringPair(NETIF_TX_RING);
    front.writeRequest({ id: 7, size: 60 });
    front.pushRequests();
    back.unconsumedRequests();
    const snap = back.requestSnapshot();
    back.takeRequest(snap);
    seq.setU16(64 + 8, 999); // the front rewrites the id afterwards
    expect(snap.decode().id).toBe(7);
  });

  it("a back end over unmapped grant pages gets StalePageAccessError, not silent access", () => {
    const hv = new Hypervisor();
    const fe = hv.createDomain(1);
    hv.createDomain(0);
    const gfn = fe.memory.allocate() as Gfn;
    const ref = fe.grantTable.grantForeignAccess(0, gfn, false) as number;
    const front = FrontRing.init(PageSequence.of([fe.memory.page(gfn)]), NETIF_TX_RING);
    const m = hv.map(0, 1, ref);
    if (m.status !== GNTST_okay) throw new Error("map failed");
    const back = BackRing.attach(PageSequence.of([m.mapping.page]), NETIF_TX_RING);
    front.writeRequest({ id: 1 });
    front.pushRequests();
    expect(back.unconsumedRequests()).toBe(1);
    hv.unmap(0, m.handle);
    expect(() => back.unconsumedRequests()).toThrow(StalePageAccessError);
    expect(() => back.takeRequest(back.requestSnapshot())).toThrow(StalePageAccessError);
    expect(fe.grantTable.tryEndForeignAccess(ref)).toBe(true);
  });
});

describe("hostile peers", () => {
  it("front: rsp_prod beyond RING_SIZE, moving backwards, or past any request is a typed error", () => {
    const { front, back } = ringPair(NETIF_TX_RING);
    for (let i = 0; i < 4; i++) front.nextRequest();
    front.pushRequests();
    back.unconsumedRequests();
    const rq = back.requestSnapshot();
    for (let i = 0; i < 3; i++) {
      back.takeRequest(rq);
      back.nextResponse();
    }
    back.pushResponses();
    expect(front.unconsumedResponses()).toBe(3);
    back.header.rspProd = 1000;
    expect(front.unconsumedResponses()).toEqual({
      kind: "response-prod-overflow",
      prod: 1000,
      cons: 0,
      size: 256,
    });
    back.header.rspProd = 2;
    expect(front.unconsumedResponses()).toEqual({ kind: "response-prod-regressed", prod: 2, lastSeen: 3 });
    back.header.rspProd = 5;
    expect(front.unconsumedResponses()).toEqual({
      kind: "responses-exceed-requests",
      prod: 5,
      cons: 0,
      reqProdPvt: 4,
    });
    back.header.rspProd = 3;
    expect(front.finalCheckForResponses()).toBe(3);
  });

  it("back: req_prod beyond RING_SIZE (RING_REQUEST_PROD_OVERFLOW) or moving backwards is a typed error", () => {
    const { front, back } = ringPair(BLKIF_RING_X86_64);
    front.header.reqProd = 33;
    expect(back.unconsumedRequests()).toEqual({
      kind: "request-prod-overflow",
      prod: 33,
      rspProdPvt: 0,
      size: 32,
    });
    expect(back.finalCheckForRequests()).toMatchObject({ kind: "request-prod-overflow" });
    expect(back.header.reqEvent).toBe(1); // an error never arms the event
    front.header.reqProd = 32;
    expect(back.unconsumedRequests()).toBe(32);
    front.header.reqProd = 31;
    expect(back.unconsumedRequests()).toEqual({ kind: "request-prod-regressed", prod: 31, lastSeen: 32 });
    expect(back.requestProdOverflow(33)).toBe(true);
    expect(back.requestConsOverflow(32)).toBe(true);
    expect(front.responseProdOverflow(33)).toBe(true);
  });

  it("garbage on the whole page never throws, never consumes more than RING_SIZE, never leaves the page", () => {
    const protocols = [NETIF_TX_RING, NETIF_RX_RING, BLKIF_RING_X86_64, BLKIF_RING_X86_32];
    fc.assert(
      fc.property(
        fc.constantFrom(...protocols),
        fc.integer({ min: 0, max: 2 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.array(fc.tuple(fc.nat({ max: 16383 }), fc.nat({ max: 255 })), { maxLength: 40 }),
        fc.array(fc.nat({ max: 9 }), { minLength: 1, maxLength: 40 }),
        (proto, order, header, scribbles, steps) => {
          const { seq, front, back } = ringPair(proto, 1 << order);
          seq.copyIn(0, header, 0, 64);
          const rq = back.requestSnapshot();
          const rs = front.responseSnapshot();
          let taken = 0;
          for (const [k, step] of steps.entries()) {
            const s = scribbles[k];
            if (s) seq.setU8(s[0] % seq.byteLength, s[1]);
            switch (step) {
              case 0: {
                const n = back.unconsumedRequests();
                if (!isRingError(n)) expect(n).toBeLessThanOrEqual(back.size);
                while (back.takeRequest(rq)) taken++;
                break;
              }
              case 1: {
                const n = front.unconsumedResponses();
                if (!isRingError(n)) expect(n).toBeLessThanOrEqual(front.size);
                while (front.takeResponse(rs)) taken++;
                break;
              }
              case 2:
                back.finalCheckForRequests();
                break;
              case 3:
                front.finalCheckForResponses();
                break;
              case 4:
                front.nextRequest();
                break;
              case 5:
                back.nextResponse();
                break;
              case 6:
                front.pushRequestsAndCheckNotify();
                break;
              case 7:
                back.pushResponsesAndCheckNotify();
                break;
              default:
                expect(front.freeRequests).toBeLessThanOrEqual(front.size);
            }
            // The front's own accounting survives anything the back end writes.
            expect((front.reqProdPvt - front.rspCons) >>> 0).toBeLessThanOrEqual(front.size);
            // The back end never consumes past what it can answer.
            expect((back.reqCons - back.rspProdPvt) >>> 0).toBeLessThanOrEqual(back.size);
          }
          expect(taken).toBeLessThanOrEqual(steps.length * back.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
