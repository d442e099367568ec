// Snapshots read from the ring's private mirror (ring-slots.ts): these pin down what that must
// not change — each taken slot holds the bytes of one copy, a held snapshot keeps its bytes while
// other slots are validated and taken, `bytes` is a writable view later reads see, slots on a
// revoked page of a multi-page ring still throw when taken, and a ring whose slots are not
// 4-aligned (a user-defined protocol) reads every field through the DataView path correctly.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defineStruct, u8, u16, u32 } from "../layout/struct-layout.ts";
import { StalePageAccessError } from "../memory/access-lease.ts";
import { OutOfBoundsError } from "../memory/byte-access.ts";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { BackRing } from "./back-ring.ts";
import { FrontRing } from "./front-ring.ts";
import { PageSequence } from "./page-sequence.ts";
import { NETIF_TX_RING } from "./protocols/netif.ts";
import { defineRingProtocol } from "./ring-protocol.ts";
import { ringPair } from "./test-rings.ts";

const ID = NETIF_TX_RING.request.fields.id.offset;

function sendIds(front: FrontRing<typeof NETIF_TX_RING>, ids: number[]): void {
  for (const id of ids) front.writeRequest({ id, size: 60 });
  front.pushRequests();
}

describe("request snapshots", () => {
  it("a held snapshot keeps its request while later requests are validated and taken", () => {
    const { front, back } = ringPair(NETIF_TX_RING);
    sendIds(front, [1, 2]);
    back.unconsumedRequests();
    const a = back.requestSnapshot();
    const b = back.requestSnapshot();
    back.takeRequest(a);
    back.takeRequest(b);
    sendIds(front, [3, 4]);
    expect(back.unconsumedRequests()).toBe(2);
    back.takeRequest(b);
    expect([a.getU16(ID), b.getU16(ID)]).toEqual([1, 3]);
    // The back end answers into the shared slot the request came from; the snapshot is private.
    back.writeResponse({ id: 99, status: 0 });
    expect(a.getU16(ID)).toBe(1);
  });

  it("takes what the latest validation copied: a slot rewritten before it is validated again is seen whole", () => {
    const { front, back, seq } = ringPair(NETIF_TX_RING);
    sendIds(front, [7]);
    expect(back.unconsumedRequests()).toBe(1);
    seq.setU16(64 + ID, 8); // a peer rewriting a published slot (a protocol violation)
    const snap = back.requestSnapshot();
    back.takeRequest(snap);
    expect(snap.getU16(ID)).toBe(7); // read once, when req_prod was validated
    sendIds(front, [9]);
    expect(back.unconsumedRequests()).toBe(1);
    seq.setU16(64 + 12 + ID, 10);
    expect(back.unconsumedRequests()).toBe(1); // validated again: copied again, before any take
    back.takeRequest(snap);
    expect(snap.getU16(ID)).toBe(10);
  });

  it("`bytes` is a writable copy that later reads see, and taking again reads the ring", () => {
    const { front, back } = ringPair(NETIF_TX_RING);
    sendIds(front, [5, 6]);
    back.unconsumedRequests();
    const snap = back.requestSnapshot();
    back.takeRequest(snap);
    const saved = snap.bytes.slice();
    expect(snap.bytes).toEqual(saved);
    expect(snap.words.length).toBe(3);
    back.takeRequest(snap);
    expect(snap.getU16(ID)).toBe(6);
    snap.bytes.set(saved); // replay the first request (blkback's deferred barrier does this)
    expect(snap.getU16(ID)).toBe(5);
    expect(snap.decode().size).toBe(60);
  });

  it("a fresh snapshot reads zeros and bounds its reads to the struct", () => {
    const { back } = ringPair(NETIF_TX_RING);
    const snap = back.requestSnapshot();
    expect([snap.getU32(0), snap.getU16(10), snap.getU8(11)]).toEqual([0, 0, 0]);
    expect(() => snap.getU16(11)).toThrow(OutOfBoundsError);
    expect(() => snap.getU32(-4)).toThrow(OutOfBoundsError);
    expect(() => snap.getU64(8)).toThrow(OutOfBoundsError);
    expect(() => snap.getU8(12)).toThrow(OutOfBoundsError);
  });

  it("in a multi-page ring, slots on a live page are taken and one on a released page throws", () => {
    const mem = new GuestMemory(1);
    const gfns = mem.allocateMany(2) as Gfn[];
    const seq = PageSequence.of(gfns.map((g) => mem.page(g)));
    const front = FrontRing.init(seq, NETIF_TX_RING);
    const back = BackRing.attach(seq, NETIF_TX_RING);
    // (4096 - 64) / 12 = 336: slot 336 straddles pages 0 and 1.
    for (let i = 0; i < 337; i++) front.writeRequest({ id: i });
    front.pushRequests();
    mem.release(gfns[1] as Gfn);
    expect(back.unconsumedRequests()).toBe(337);
    const snap = back.requestSnapshot();
    for (let i = 0; i < 336; i++) {
      back.takeRequest(snap);
      expect(snap.getU16(ID)).toBe(i);
    }
    expect(() => back.takeRequest(snap)).toThrow(StalePageAccessError);
  });
});

describe("a ring whose slots are not 4-aligned", () => {
  // 9-byte, byte-aligned structs: slot s starts at 64 + 9s, so fields at aligned offsets within
  // the struct are misaligned in every odd slot.
  const REQ = defineStruct("odd_request", 9, 1, { b: u16(0), a: u8(2), c: u32(4) });
  const RSP = defineStruct("odd_response", 9, 1, { b: u16(0), a: u8(2), c: u32(4) });
  const ODD = defineRingProtocol("odd", REQ, RSP);

  it("reads every field as written, through requests and responses", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 0xffff }), fc.nat({ max: 2 ** 32 - 1 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (values) => {
          const { front, back } = ringPair(ODD);
          const rq = back.requestSnapshot();
          const rs = front.responseSnapshot();
          for (const [a, b, c] of values) {
            expect(front.writeRequest({ a, b, c })).toBe(true);
            front.pushRequests();
            expect(back.unconsumedRequests()).toBe(1);
            expect(back.takeRequest(rq)).toBe(true);
            expect([rq.getU8(2), rq.getU16(0), rq.getU32(4), rq.getI32(4)]).toEqual([a, b, c, c | 0]);
            expect(back.writeResponse({ a: rq.getU8(2), b: rq.getU16(0), c: rq.getU32(4) })).toBe(true);
            back.pushResponses();
            expect(front.unconsumedResponses()).toBe(1);
            expect(front.takeResponse(rs)).toBe(true);
            expect(rs.decode()).toEqual({ a, b, c });
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
