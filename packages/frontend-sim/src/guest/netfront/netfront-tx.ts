// netfront's transmit path: xennet_start_xmit (slots, extra-info, pending marks, push and notify)
// and xennet_tx_buf_gc (validate every response, end the grants, recycle the ids).

import {
  type Gfn,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  NETTXF_extra_info,
  NETTXF_more_data,
  PAGE_SIZE,
  type RingError,
} from "@xensim/ring";
import { traceRingIndices } from "../../xenbus/ring-trace.ts";
import { ETH_HLEN } from "./mac.ts";
import { MAX_XEN_SKB_FRAGS, type NetfrontQueue, TX_LINK_NONE, TX_PENDING } from "./netfront-queue.ts";

/** netif_extra_info types and flags (netif.h; Linux adds XDP = 5). */
export const XEN_NETIF_EXTRA_TYPE_NONE = 0;
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH = 4;
export const XEN_NETIF_EXTRA_TYPE_XDP = 5;
export const XEN_NETIF_EXTRA_TYPE_MAX = 6;
export const XEN_NETIF_EXTRA_FLAG_MORE = 1;
export const XEN_NETIF_GSO_TYPE_NONE = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;

/** Large-send metadata carried in a GSO extra-info slot. */
export interface GsoInfo {
  /** MSS */
  readonly size: number;
  /** XEN_NETIF_GSO_TYPE_* */
  readonly type: number;
}

export interface SendOptions {
  /** Queue chosen by the stack (skb queue_mapping); default: flow hash of the headers. */
  readonly queue?: number;
  /** Large-send offload: adds a GSO extra-info slot after the first request. */
  readonly gso?: GsoInfo;
  /** CHECKSUM_PARTIAL (csum_blank | data_validated) or CHECKSUM_UNNECESSARY (data_validated). */
  readonly checksum?: "partial" | "unnecessary";
}

/** What `send` did with a frame. */
export type SendResult = "queued" | "busy" | "dropped";

/**
 * xennet_start_xmit for one frame on `q`. The frame is copied into the TX pages of the ids it
 * uses (a fresh zeroed page per slot when the backend is untrusted, XSA-403), each page granted
 * read-only; ids are marked pending only right before the producer index is pushed.
 */
export function xmit(q: NetfrontQueue, frame: Uint8Array, opts: SendOptions | undefined): SendResult {
  const info = q.info;
  const len = frame.length;
  if (info.broken || !info.carrier || !q.live) return "dropped";
  if (len < ETH_HLEN || len > 0xffff) return "dropped";
  const dataSlots = len === 0 ? 1 : Math.ceil(len / PAGE_SIZE);
  // Without feature-sg the stack never hands multi-slot frames down; netfront drops them.
  if (dataSlots > MAX_XEN_SKB_FRAGS || (dataSlots > 1 && !info.features.sg)) return "dropped";
  const gso = opts?.gso;
  if (gso !== undefined && !info.gsoAllowed(gso.type)) return "dropped";
  if (q.stopped) return "busy";

  const kernel = q.dev.kernel;
  const gt = kernel.grantTable;
  const otherend = q.dev.otherendId;
  const bounce = info.bounce;
  let flags0 = 0;
  if (opts?.checksum === "partial") flags0 |= NETTXF_csum_blank | NETTXF_data_validated;
  else if (opts?.checksum === "unnecessary") flags0 |= NETTXF_data_validated;
  if (gso !== undefined) flags0 |= NETTXF_extra_info;

  let pos = 0;
  for (let s = 0; s < dataSlots; s++) {
    const id = q.takeTxId();
    const ref = q.txRefPool.pop();
    const page = id === TX_LINK_NONE ? undefined : q.txPage(id);
    if (id === TX_LINK_NONE || ref === undefined || page === undefined) {
      // Cannot happen while the stop threshold holds; undo rather than corrupt the ring.
      if (ref !== undefined) q.txRefPool.push(ref);
      if (id !== TX_LINK_NONE) q.putTxId(id);
      info.markBroken(q, "out of TX ids or grant references");
      return "dropped";
    }
    const chunk = Math.min(PAGE_SIZE, len - pos);
    if (bounce) page.fill(0);
    page.copyIn(0, frame, pos, chunk);
    gt.grantForeignAccessRef(ref, otherend, q.txGfn[id]! as Gfn, true);
    q.txRef[id] = ref;
    q.txIds[s] = id;
    const more = s + 1 < dataSlots ? NETTXF_more_data : 0;
    const req = q.tx.nextRequest()!;
    req.setU32(0, ref); // gref
    req.setU16(4, 0); // offset
    req.setU16(6, (s === 0 ? flags0 : 0) | more); // flags
    req.setU16(8, id); // id
    req.setU16(10, s === 0 ? len : chunk); // size: the whole packet in the first slot
    if (s === 0 && gso !== undefined) {
      // The extra-info slot follows the first request; it has no id and gets a NULL response.
      const x = q.tx.nextRequest()!;
      x.setU8(0, XEN_NETIF_EXTRA_TYPE_GSO);
      x.setU8(1, 0);
      x.setU16(2, gso.size);
      x.setU8(4, gso.type);
      x.setU8(5, 0);
      x.setU16(6, 0);
    }
    pos += chunk;
  }
  // xennet_mark_tx_pending: only now may a response for these ids be accepted.
  for (let s = 0; s < dataSlots; s++) q.txLink[q.txIds[s]!] = TX_PENDING;
  const notify = q.tx.pushRequestsAndCheckNotify();
  if (notify) q.notifyTx();
  traceRingIndices(kernel, kernel.actor, q.dev.nodename, `tx-${q.id}`, q.tx);
  const trace = kernel.sched.trace;
  if (trace.enabled) {
    trace.emit(kernel.actor, "netfront.tx", {
      dev: q.dev.nodename,
      queue: q.id,
      len,
      slots: dataSlots + (gso !== undefined ? 1 : 0),
      ids: Array.from(q.txIds.subarray(0, dataSlots)).join(","),
      req_prod: q.tx.reqProdPvt,
      notify,
    });
  }
  q.stats.txPackets++;
  q.stats.txSlots += dataSlots;
  info.stats.txPackets++;
  info.stats.txBytes += len;
  // Linux reaps completions at the end of every xmit, then stops the queue if it is nearly full.
  txBufGc(q);
  if (!q.txSlotAvailable()) q.stopped = true;
  return "queued";
}

/**
 * xennet_tx_buf_gc: consume TX responses. Every response is copied once and checked — producer
 * overflow, id in range, id actually pending, grant revocable — and any violation disables the
 * device instead of trusting the backend.
 */
export function txBufGc(q: NetfrontQueue): void {
  const info = q.info;
  if (info.broken || !q.live) return;
  const gt = q.dev.kernel.grantTable;
  const rsp = q.txRspSnap;
  let done = 0;
  for (;;) {
    const n = q.tx.unconsumedResponses();
    if (typeof n !== "number") {
      info.markBroken(q, ringErrorText(n));
      return;
    }
    while (q.tx.takeResponse(rsp)) {
      const status = rsp.getI16(2);
      if (status === NETIF_RSP_NULL) continue;
      const id = rsp.getU16(0);
      const bad = info.txResponseIdError(q, id);
      if (bad !== null) {
        info.markBroken(q, bad);
        return;
      }
      q.txLink[id] = TX_LINK_NONE;
      const ref = q.txRef[id]!;
      if (!gt.endForeignAccessRef(ref)) {
        info.markBroken(q, "Grant still in use by backend domain");
        return;
      }
      q.txRef[id] = -1;
      q.txRefPool.push(ref);
      q.putTxId(id);
      if (status !== NETIF_RSP_OKAY) info.stats.txErrors++;
      done++;
    }
    const more = q.tx.finalCheckForResponses();
    if (typeof more !== "number") {
      info.markBroken(q, ringErrorText(more));
      return;
    }
    if (more === 0) break;
  }
  // xennet_maybe_wake_tx
  if (q.stopped && q.txSlotAvailable()) {
    q.stopped = false;
    info.txWoken(q);
  }
  if (done > 0) {
    const trace = q.dev.kernel.sched.trace;
    if (trace.enabled) {
      trace.emit(q.dev.kernel.actor, "netfront.tx_done", {
        dev: q.dev.nodename,
        queue: q.id,
        responses: done,
        rsp_cons: q.tx.rspCons,
      });
    }
  }
}

/** xennet_tx_interrupt: never throws into the upcall; a fault disables the device. */
export function txInterrupt(q: NetfrontQueue): void {
  try {
    txBufGc(q);
  } catch (e) {
    q.info.markBroken(q, `TX path fault: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The messages Linux logs for an impossible producer index. */
export function ringErrorText(e: RingError): string {
  switch (e.kind) {
    case "response-prod-overflow":
      return `Illegal number of responses ${(e.prod - e.cons) >>> 0}`;
    case "response-prod-regressed":
      return `producer index going backwards (${e.lastSeen} -> ${e.prod})`;
    case "responses-exceed-requests":
      return `Illegal number of responses ${(e.prod - e.cons) >>> 0} (only ${(e.reqProdPvt - e.cons) >>> 0} requested)`;
    default:
      return `ring error ${e.kind}`;
  }
}
