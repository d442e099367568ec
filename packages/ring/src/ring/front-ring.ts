// The front end's side of an io/ring.h ring [ring.h struct __name##_front_ring]: it produces
// requests and consumes responses, and nothing else — there is no way to write a response or
// read a request through it. Every peer-written index is validated before use (ring-error.ts).

import { encodeStruct, type StructValue } from "../layout/struct-codec.ts";
import type { PageSequence } from "./page-sequence.ts";
import { REQ_EVENT, REQ_PROD, RingEnd, RSP_EVENT, RSP_PROD } from "./ring-end.ts";
import type { RingError } from "./ring-error.ts";
import { u32 } from "./ring-index.ts";
import type { RingProtocol } from "./ring-protocol.ts";
import { initSharedRing } from "./shared-ring.ts";
import { SlotSnapshot } from "./slot-snapshot.ts";
import type { SlotWriter } from "./slot-writer.ts";

export class FrontRing<P extends RingProtocol = RingProtocol> extends RingEnd<P> {
  #reqProdPvt: number;
  #rspCons: number;
  #rspLimit: number; // last validated rsp_prod: responses up to here may be taken
  #lastRspProd: number;

  /** XEN_FRONT_RING_INIT: SHARED_RING_INIT then FRONT_RING_INIT (index 0). */
  static init<P extends RingProtocol>(seq: PageSequence, protocol: P): FrontRing<P> {
    initSharedRing(seq);
    return new FrontRing(seq, protocol, 0);
  }

  /** FRONT_RING_ATTACH: private indices = `index`; the shared header is left alone. */
  static attach<P extends RingProtocol>(seq: PageSequence, protocol: P, index = 0): FrontRing<P> {
    return new FrontRing(seq, protocol, index >>> 0);
  }

  private constructor(seq: PageSequence, protocol: P, index: number) {
    super(seq, protocol, protocol.request.size);
    this.#reqProdPvt = this.#rspCons = this.#rspLimit = this.#lastRspProd = index;
  }

  get reqProdPvt(): number {
    return this.#reqProdPvt;
  }

  get rspCons(): number {
    return this.#rspCons;
  }

  /** RING_FREE_REQUESTS */
  get freeRequests(): number {
    return u32(this.size - u32(this.#reqProdPvt - this.#rspCons));
  }

  /** RING_FULL */
  get isFull(): boolean {
    return this.freeRequests === 0;
  }

  /**
   * RING_GET_REQUEST(r, r->req_prod_pvt++): the next request slot, or undefined when the ring is
   * full (ring.h has no interlock; this refuses to overwrite unanswered requests). The returned
   * cursor is reused: fill it before asking for the next slot.
   */
  nextRequest(): SlotWriter | undefined {
    const pvt = this.#reqProdPvt;
    if ((pvt - this.#rspCons) >>> 0 >= this.size) return undefined;
    this.#reqProdPvt = (pvt + 1) >>> 0;
    return this.slots.writer(pvt & this.mask);
  }

  /** nextRequest + encode the given fields (others keep the slot's old bytes). False when full. */
  writeRequest(value: Partial<StructValue<P["request"]>>): boolean {
    const slot = this.nextRequest();
    if (slot === undefined) return false;
    encodeStruct(this.protocol.request, slot, value);
    return true;
  }

  /** RING_PUSH_REQUESTS: publish req_prod_pvt. */
  pushRequests(): void {
    this.publish(REQ_PROD, this.#reqProdPvt);
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish, then true iff req_event ∈ (old, new]. */
  pushRequestsAndCheckNotify(): boolean {
    return this.publishAndCheckNotify(REQ_PROD, REQ_EVENT, this.#reqProdPvt);
  }

  /**
   * XEN_RING_NR_UNCONSUMED_RESPONSES after validating rsp_prod (read once): a count, or a
   * RingError if the back end published an impossible index. A valid count also makes that many
   * responses available to takeResponse.
   */
  unconsumedResponses(): number | RingError {
    const prod = this.readIndex(RSP_PROD);
    const cons = this.#rspCons;
    const pending = u32(prod - cons);
    if (pending > this.size) return { kind: "response-prod-overflow", prod, cons, size: this.size };
    if (u32(prod - this.#lastRspProd) > this.size) {
      return { kind: "response-prod-regressed", prod, lastSeen: this.#lastRspProd };
    }
    if (pending > u32(this.#reqProdPvt - cons)) {
      return { kind: "responses-exceed-requests", prod, cons, reqProdPvt: this.#reqProdPvt };
    }
    this.#lastRspProd = this.#rspLimit = prod;
    // RING_COPY_RESPONSE for every validated response, now, in one pass (ring-slots.ts).
    this.slots.snapshot(cons, pending);
    return pending;
  }

  /**
   * RING_COPY_RESPONSE(r, r->rsp_cons++, into): one snapshot of the next response, as copied
   * when unconsumedResponses last validated it; it keeps those bytes until `into` is passed to a
   * ring again. False when no validated response is left (call unconsumedResponses /
   * finalCheckForResponses first).
   */
  takeResponse(into: SlotSnapshot<P["response"]>): boolean {
    const cons = this.#rspCons;
    if (cons === this.#rspLimit) return false;
    this.takeSlot(cons, into, this.protocol.response);
    this.#rspCons = (cons + 1) >>> 0;
    return true;
  }

  /** A snapshot buffer sized for this ring's responses (allocate once, reuse). */
  responseSnapshot(): SlotSnapshot<P["response"]> {
    return new SlotSnapshot(this.protocol.response);
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: if nothing is pending, arm rsp_event = rsp_cons + 1 and look
   * again (closing the race with a back end that published in between). Returns the count.
   */
  finalCheckForResponses(): number | RingError {
    const n = this.unconsumedResponses();
    if (typeof n !== "number" || n > 0) return n;
    this.setResponseEvent(this.#rspCons + 1);
    return this.unconsumedResponses();
  }

  /** Write rsp_event directly, for custom batching (Linux xennet_open, blkif_interrupt). */
  setResponseEvent(value: number): void {
    this.writeEvent(RSP_EVENT, value);
  }

  /** RING_RESPONSE_PROD_OVERFLOW(r, prod) */
  responseProdOverflow(prod: number): boolean {
    return u32(prod - this.#rspCons) > this.size;
  }
}
