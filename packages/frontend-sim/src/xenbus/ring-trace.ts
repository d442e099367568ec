import type { BackRing, FrontRing } from "@xensim/ring";
import type { Kernel } from "./kernel.ts";

/**
 * Emits a `ring.indices` record (docs/trace-format.md) for one ring of a device right after its
 * end published or consumed: the shared header as read now, plus this end's private indices.
 * The step-through viewer shows a ring's indices from these records. Costs nothing when no one
 * records the trace.
 */
export function traceRingIndices(
  kernel: Kernel,
  actor: string,
  dev: string,
  ring: string,
  r: FrontRing | BackRing,
): void {
  const trace = kernel.sched.trace;
  if (!trace.enabled) return;
  const h = r.header;
  const common = {
    dev,
    ring,
    req_prod: h.reqProd,
    rsp_prod: h.rspProd,
    req_event: h.reqEvent,
    rsp_event: h.rspEvent,
  };
  if ("reqProdPvt" in r)
    trace.emit(actor, "ring.indices", { ...common, req_prod_pvt: r.reqProdPvt, rsp_cons: r.rspCons });
  else trace.emit(actor, "ring.indices", { ...common, req_cons: r.reqCons, rsp_prod_pvt: r.rspProdPvt });
}
