// The back end's side of an io/ring.h ring [ring.h struct __name##_back_ring]: it consumes
// requests and produces responses only. It never initialises the shared header (BACK_RING_ATTACH
// does not touch it), and it validates req_prod before consuming anything.

import { encodeStruct, type StructValue } from "../layout/struct-codec.ts";
import type { PageSequence } from "./page-sequence.ts";
import { REQ_EVENT, REQ_PROD, RingEnd, RSP_EVENT, RSP_PROD } from "./ring-end.ts";
import type { RingError } from "./ring-error.ts";
import { u32 } from "./ring-index.ts";
import type { RingProtocol } from "./ring-protocol.ts";
import { SlotSnapshot } from "./slot-snapshot.ts";
import type { SlotWriter } from "./slot-writer.ts";

export class BackRing<P extends RingProtocol = RingProtocol> extends RingEnd<P> {
  #rspProdPvt: number;
  #reqCons: number;
  #reqLimit: number; // req_cons may advance up to here (last validated, clamped count)
  #lastReqProd: number;

  /** BACK_RING_ATTACH (BACK_RING_INIT for index 0). */
  static attach<P extends RingProtocol>(seq: PageSequence, protocol: P, index = 0): BackRing<P> {
    return new BackRing(seq, protocol, index >>> 0);
  }

  private constructor(seq: PageSequence, protocol: P, index: number) {
    super(seq, protocol, protocol.response.size);
    this.#rspProdPvt = this.#reqCons = this.#reqLimit = this.#lastReqProd = index;
  }

  get rspProdPvt(): number {
    return this.#rspProdPvt;
  }

  get reqCons(): number {
    return this.#reqCons;
  }

  /**
   * XEN_RING_NR_UNCONSUMED_REQUESTS — the clamped form min(req_prod − req_cons,
   * RING_SIZE − (req_cons − rsp_prod_pvt)) — after validating req_prod (read once) with
   * RING_REQUEST_PROD_OVERFLOW. A valid count makes that many requests available to takeRequest.
   */
  unconsumedRequests(): number | RingError {
    const prod = this.readIndex(REQ_PROD);
    if (u32(prod - this.#rspProdPvt) > this.size) {
      return { kind: "request-prod-overflow", prod, rspProdPvt: this.#rspProdPvt, size: this.size };
    }
    if (u32(prod - this.#lastReqProd) > this.size) {
      return { kind: "request-prod-regressed", prod, lastSeen: this.#lastReqProd };
    }
    this.#lastReqProd = prod;
    const cons = this.#reqCons;
    const req = u32(prod - cons);
    const room = u32(this.size - u32(cons - this.#rspProdPvt));
    const n = Math.min(req, room);
    this.#reqLimit = (cons + n) >>> 0;
    // RING_COPY_REQUEST for every validated request, now, in one pass (ring-slots.ts).
    this.slots.snapshot(cons, n);
    return n;
  }

  /**
   * RING_COPY_REQUEST(r, r->req_cons++, into): one snapshot of the next request, as copied when
   * unconsumedRequests last validated it; it keeps those bytes until `into` is passed to a ring
   * again. False when no validated request is left (call unconsumedRequests /
   * finalCheckForRequests first).
   */
  takeRequest(into: SlotSnapshot<P["request"]>): boolean {
    const cons = this.#reqCons;
    if (cons === this.#reqLimit) return false;
    this.takeSlot(cons, into, this.protocol.request);
    this.#reqCons = (cons + 1) >>> 0;
    return true;
  }

  /** A snapshot buffer sized for this ring's requests (allocate once, reuse). */
  requestSnapshot(): SlotSnapshot<P["request"]> {
    return new SlotSnapshot(this.protocol.request);
  }

  /**
   * RING_GET_RESPONSE(r, r->rsp_prod_pvt++): the next response slot, or undefined when every
   * consumed request already has a response (a back end cannot answer what it has not taken).
   */
  nextResponse(): SlotWriter | undefined {
    const pvt = this.#rspProdPvt;
    if (pvt === this.#reqCons) return undefined;
    this.#rspProdPvt = (pvt + 1) >>> 0;
    return this.slots.writer(pvt & this.mask);
  }

  /** nextResponse + encode the given fields. False when no consumed request awaits a response. */
  writeResponse(value: Partial<StructValue<P["response"]>>): boolean {
    const slot = this.nextResponse();
    if (slot === undefined) return false;
    encodeStruct(this.protocol.response, slot, value);
    return true;
  }

  /** RING_PUSH_RESPONSES */
  pushResponses(): void {
    this.publish(RSP_PROD, this.#rspProdPvt);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish, then true iff rsp_event ∈ (old, new]. */
  pushResponsesAndCheckNotify(): boolean {
    return this.publishAndCheckNotify(RSP_PROD, RSP_EVENT, this.#rspProdPvt);
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: if nothing is pending, arm req_event = req_cons + 1 and look
   * again. Returns the (clamped) count.
   */
  finalCheckForRequests(): number | RingError {
    const n = this.unconsumedRequests();
    if (typeof n !== "number" || n > 0) return n;
    this.setRequestEvent(this.#reqCons + 1);
    return this.unconsumedRequests();
  }

  /** Write req_event directly, for custom batching. */
  setRequestEvent(value: number): void {
    this.writeEvent(REQ_EVENT, value);
  }

  /** RING_REQUEST_CONS_OVERFLOW(r, cons): no room left to answer a request at `cons`. */
  requestConsOverflow(cons: number): boolean {
    return u32(cons - this.#rspProdPvt) >= this.size;
  }

  /** RING_REQUEST_PROD_OVERFLOW(r, prod): more requests than can exist. */
  requestProdOverflow(prod: number): boolean {
    return u32(prod - this.#rspProdPvt) > this.size;
  }
}
