// Ring invariants under random interleavings of an honest front and back end: the front's
// accounting stays within 0 ≤ req_prod_pvt − rsp_cons ≤ RING_SIZE, every request comes back
// exactly once and in order, and — because each side sleeps only after a final check and
// producers notify only when the macros say so — nothing is ever stranded (no lost wakeup).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLKIF_RING_X86_32, BLKIF_RING_X86_64 } from "./protocols/blkif.ts";
import { NETIF_TX_RING } from "./protocols/netif.ts";
import { ringPair } from "./test-rings.ts";

type Action = {
  side: "front" | "back";
  kind: "produce" | "push" | "consume" | "respond" | "sleep";
  k: number;
};

const action: fc.Arbitrary<Action> = fc.record({
  side: fc.constantFrom("front", "back" as const),
  kind: fc.constantFrom("produce", "push", "consume", "respond", "sleep" as const),
  k: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, fc.integer({ min: 1, max: 40 })),
});

const protocols = [NETIF_TX_RING, BLKIF_RING_X86_64, BLKIF_RING_X86_32];

describe("ring interleavings", () => {
  it("keep the accounting invariant, lose and duplicate nothing, and never strand work", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...protocols),
        fc.integer({ min: 0, max: 2 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 2 ** 32 - 200, max: 2 ** 32 - 1 })),
        fc.array(action, { maxLength: 150 }),
        (proto, order, start, actions) => {
          const { front, back } = ringPair(proto, 1 << order, start);
          const reqId = proto.request.fields.id;
          const rspId = proto.response.fields.id;
          const wide = reqId?.type === "u64";
          const rq = back.requestSnapshot();
          const rs = front.responseSnapshot();
          let nextId = 0;
          const backQueue: number[] = [];
          const received: number[] = [];
          // Each consumer is awake until a final check finds nothing; only a notify wakes it.
          const awake = { front: true, back: true };

          const step = (a: Action) => {
            if (a.side === "front") {
              if (a.kind === "produce") {
                for (let i = 0; i < a.k; i++) {
                  const slot = front.nextRequest();
                  if (!slot) break;
                  if (wide) slot.setU64(reqId.offset, BigInt(nextId++));
                  else slot.setU16(reqId?.offset ?? 0, nextId++ & 0xffff);
                }
              } else if (a.kind === "push") {
                if (front.pushRequestsAndCheckNotify()) awake.back = true;
              } else if (a.kind === "consume" && awake.front) {
                const n = front.unconsumedResponses();
                expect(typeof n).toBe("number");
                for (let i = 0; i < a.k && front.takeResponse(rs); i++) {
                  received.push(wide ? Number(rs.getU64(rspId?.offset ?? 0)) : rs.getU16(rspId?.offset ?? 0));
                }
              } else if (a.kind === "sleep" && awake.front) {
                if (front.finalCheckForResponses() === 0) awake.front = false;
              }
            } else if (a.kind === "consume" && awake.back) {
              const n = back.unconsumedRequests();
              expect(typeof n).toBe("number");
              for (let i = 0; i < a.k && back.takeRequest(rq); i++) {
                backQueue.push(wide ? Number(rq.getU64(reqId.offset)) : rq.getU16(reqId?.offset ?? 0));
              }
            } else if (a.kind === "respond") {
              for (let i = 0; i < a.k && backQueue.length > 0; i++) {
                const slot = back.nextResponse();
                expect(slot).toBeDefined();
                const id = backQueue.shift() as number;
                if (wide) slot?.setU64(rspId?.offset ?? 0, BigInt(id));
                else slot?.setU16(rspId?.offset ?? 0, id);
              }
            } else if (a.kind === "push") {
              if (back.pushResponsesAndCheckNotify()) awake.front = true;
            } else if (a.kind === "sleep" && awake.back) {
              if (back.finalCheckForRequests() === 0) awake.back = false;
            }
            const outstanding = (front.reqProdPvt - front.rspCons) >>> 0;
            expect(outstanding).toBeLessThanOrEqual(front.size);
            expect(front.freeRequests).toBe(front.size - outstanding);
            expect((back.reqCons - back.rspProdPvt) >>> 0).toBeLessThanOrEqual(back.size);
          };

          for (const a of actions) step(a);
          // Drain: producers publish, consumers run only while awake. If work remains with a
          // consumer asleep, an event was lost.
          step({ side: "front", kind: "push", k: 1 });
          for (let round = 0; round < 4; round++) {
            step({ side: "back", kind: "consume", k: 1e9 });
            step({ side: "back", kind: "respond", k: 1e9 });
            step({ side: "back", kind: "push", k: 1 });
            step({ side: "back", kind: "sleep", k: 1 });
            step({ side: "front", kind: "consume", k: 1e9 });
            step({ side: "front", kind: "sleep", k: 1 });
          }
          const mask = wide ? Number.MAX_SAFE_INTEGER : 0xffff;
          expect(received).toEqual(Array.from({ length: nextId }, (_, i) => i & mask));
          expect(front.freeRequests).toBe(front.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
