// What a ring reader reports instead of trusting a peer-written index. Linux's reaction to any of
// these is to mark the device broken and stop using the ring [Linux xennet_tx_buf_gc,
// blkif_interrupt, xen_blkbk __do_block_io_op].

export type RingError =
  /** RING_RESPONSE_PROD_OVERFLOW: rsp_prod − rsp_cons > RING_SIZE (ill-behaved back end). */
  | {
      readonly kind: "response-prod-overflow";
      readonly prod: number;
      readonly cons: number;
      readonly size: number;
    }
  /** rsp_prod moved backwards from a value already seen (hostile-peers B2). */
  | { readonly kind: "response-prod-regressed"; readonly prod: number; readonly lastSeen: number }
  /** More responses published than requests were ever produced (a back end answering nothing). */
  | {
      readonly kind: "responses-exceed-requests";
      readonly prod: number;
      readonly cons: number;
      readonly reqProdPvt: number;
    }
  /** RING_REQUEST_PROD_OVERFLOW: req_prod − rsp_prod_pvt > RING_SIZE (ill-behaved front end). */
  | {
      readonly kind: "request-prod-overflow";
      readonly prod: number;
      readonly rspProdPvt: number;
      readonly size: number;
    }
  /** req_prod moved backwards from a value already seen. */
  | { readonly kind: "request-prod-regressed"; readonly prod: number; readonly lastSeen: number };

export type RingErrorKind = RingError["kind"];

/** True for a RingError result (the success results of ring readers are plain numbers). */
export function isRingError(x: unknown): x is RingError {
  return typeof x === "object" && x !== null && "kind" in x;
}
