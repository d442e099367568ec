// netfront's receive path: xennet_alloc_rx_buffers (post writable buffers, id = slot index) and
// xennet_poll / xennet_get_responses / xennet_get_extras (each response in its request's slot,
// copied once and validated; bad packets are dropped and their buffers recycled, protocol
// violations disable the device).

import {
  type Gfn,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  PAGE_SIZE,
  type WritablePage,
} from "@xensim/ring";
import { traceRingIndices } from "../../xenbus/ring-trace.ts";
import {
  NET_RX_RING_SIZE,
  type NetfrontQueue,
  RX_COPY_THRESHOLD,
  XEN_NETIF_NR_SLOTS_MIN,
} from "./netfront-queue.ts";
import {
  type GsoInfo,
  ringErrorText,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
} from "./netfront-tx.ts";

/** A frame netfront handed to the stack. */
export interface ReceivedFrame {
  readonly data: Uint8Array;
  /** The queue it arrived on. */
  readonly queue: number;
  /** NETRXF_* flags of the first response (checksum state). */
  readonly flags: number;
  readonly gso?: GsoInfo;
}

/**
 * xennet_alloc_rx_buffers: fill every free request slot with a writable grant of a buffer page,
 * `id` = slot index (the compatibility rule: the response comes back in the same slot), then push
 * and notify the backend if it asked to be told.
 */
export function allocRxBuffers(q: NetfrontQueue): void {
  const info = q.info;
  if (!info.carrier || !q.live || info.broken) return;
  const kernel = q.dev.kernel;
  const gt = kernel.grantTable;
  const mem = kernel.memory;
  const otherend = q.dev.otherendId;
  let posted = 0;
  while (q.rx.freeRequests > 0) {
    const idx = q.rx.reqProdPvt & (NET_RX_RING_SIZE - 1);
    let page = q.rxPagePool.pop();
    if (page === undefined) {
      const g = mem.allocate();
      if (typeof g !== "number") break; // Linux retries from rx_refill_timer
      // The owner view is made when a packet lands in the page (rxPoll), not for each of the
      // 256 buffers posted at connect: most are never used in a short run.
      page = { gfn: g as Gfn, view: undefined };
    }
    const ref = q.rxRefPool.pop();
    if (ref === undefined) {
      q.rxPagePool.push(page);
      break;
    }
    gt.grantForeignAccessRef(ref, otherend, page.gfn, false);
    q.rxRef[idx] = ref;
    q.rxGfn[idx] = page.gfn;
    q.rxView[idx] = page.view;
    const req = q.rx.nextRequest()!;
    req.setU16(0, idx); // id
    req.setU16(2, 0);
    req.setU32(4, ref); // gref
    posted++;
  }
  if (posted === 0) return;
  const notify = q.rx.pushRequestsAndCheckNotify();
  if (notify) q.notifyRx();
  traceRingIndices(kernel, kernel.actor, q.dev.nodename, `rx-${q.id}`, q.rx);
  const trace = kernel.sched.trace;
  if (trace.enabled) {
    trace.emit(kernel.actor, "netfront.rx_post", {
      dev: q.dev.nodename,
      queue: q.id,
      buffers: posted,
      req_prod: q.rx.reqProdPvt,
      notify,
    });
  }
}

/**
 * xennet_move_rx_slot: re-post a buffer (same page, same grant) at the next request slot, used
 * for extra-info slots and for responses the driver refuses.
 */
function moveRxSlot(q: NetfrontQueue, ref: number, gfn: number, view: WritablePage | undefined): void {
  if (ref < 0) return;
  const to = q.rx.reqProdPvt & (NET_RX_RING_SIZE - 1);
  q.rxRef[to] = ref;
  q.rxGfn[to] = gfn;
  q.rxView[to] = view;
  const req = q.rx.nextRequest()!;
  req.setU16(0, to);
  req.setU16(2, 0);
  req.setU32(4, ref);
}

/**
 * xennet_get_rx_skb + xennet_get_rx_ref: take the buffer of ring slot `idx` out of the slot
 * (leaving it empty), into the queue's `cur*` scratch.
 */
function takeRxSlot(q: NetfrontQueue, idx: number): void {
  q.curRef = q.rxRef[idx]!;
  q.curGfn = q.rxGfn[idx]!;
  q.curView = q.rxView[idx];
  q.rxRef[idx] = -1;
  q.rxGfn[idx] = -1;
  q.rxView[idx] = undefined;
}

/** xennet_poll: receive every complete packet, then refill the ring. */
export function rxPoll(q: NetfrontQueue): void {
  const info = q.info;
  if (info.broken || !q.live) return;
  for (;;) {
    let n = q.rx.unconsumedResponses();
    if (typeof n !== "number") {
      info.markBroken(q, ringErrorText(n));
      return;
    }
    if (n === 0) {
      n = q.rx.finalCheckForResponses();
      if (typeof n !== "number") {
        info.markBroken(q, ringErrorText(n));
        return;
      }
      if (n === 0) break;
    }
    receiveOne(q);
    if (info.broken) return;
  }
  allocRxBuffers(q);
}

/** xennet_rx_interrupt: never throws into the upcall. */
export function rxInterrupt(q: NetfrontQueue): void {
  try {
    rxPoll(q);
  } catch (e) {
    q.info.markBroken(q, `RX path fault: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function warn(q: NetfrontQueue, message: string): void {
  const k = q.dev.kernel;
  if (k.sched.trace.enabled)
    k.sched.trace.emit(k.actor, "netfront.rx_error", { dev: q.dev.nodename, queue: q.id, message });
}

/** One packet: xennet_get_responses (+ xennet_get_extras, xennet_set_skb_gso), then hand it up. */
function receiveOne(q: NetfrontQueue): void {
  const info = q.info;
  const gt = q.dev.kernel.grantTable;
  const rx = q.rx;
  const rsp = q.rxRspSnap;
  if (!rx.takeResponse(rsp)) return;
  const firstCons = (rx.rspCons - 1) >>> 0;
  takeRxSlot(q, firstCons & (NET_RX_RING_SIZE - 1));
  let ref = q.curRef;
  let gfn = q.curGfn;
  let view = q.curView;
  let flags = rsp.getU16(4);
  let offset = rsp.getU16(2);
  let status = rsp.getI16(6);
  const firstFlags = flags;
  let err = false;
  let gso: GsoInfo | undefined;
  let gsoBad = "";

  if (flags & NETRXF_extra_info) {
    // xennet_get_extras: each extra occupies a slot whose buffer is re-posted untouched.
    const x = q.rxExtraSnap;
    let more: boolean;
    do {
      if (!rx.takeResponse(x)) {
        warn(q, "Missing extra info");
        err = true;
        break;
      }
      takeRxSlot(q, (rx.rspCons - 1) & (NET_RX_RING_SIZE - 1));
      const type = x.getU8(0);
      more = (x.getU8(1) & XEN_NETIF_EXTRA_FLAG_MORE) !== 0;
      if (type === 0 || type >= XEN_NETIF_EXTRA_TYPE_MAX) {
        warn(q, `Invalid extra type: ${type}`);
        err = true;
      } else if (type === XEN_NETIF_EXTRA_TYPE_GSO) {
        gso = { size: x.getU16(2), type: x.getU8(4) };
      }
      moveRxSlot(q, q.curRef, q.curGfn, q.curView);
    } while (more);
  }

  const max = XEN_NETIF_NR_SLOTS_MIN + (status <= RX_COPY_THRESHOLD ? 1 : 0);
  let slots = 1;
  let frags = 0;
  let total = 0;
  for (;;) {
    if (status < 0 || offset + status > PAGE_SIZE) {
      warn(q, `rx->offset: ${offset}, size: ${status}`);
      moveRxSlot(q, ref, gfn, view);
      err = true;
    } else if (ref < 0) {
      warn(q, `Bad rx response id ${rsp.getU16(0)}.`);
      err = true;
    } else {
      if (!gt.endForeignAccessRef(ref)) {
        info.markBroken(q, "Grant still in use by backend domain");
        return;
      }
      q.rxRefPool.push(ref);
      if (frags < q.fragGfn.length) {
        q.fragGfn[frags] = gfn;
        q.fragView[frags] = view;
        q.fragOff[frags] = offset;
        q.fragLen[frags] = status;
        frags++;
        total += status;
      } else {
        q.rxPagePool.push({ gfn: gfn as Gfn, view });
      }
    }
    if (!(flags & NETRXF_more_data)) break;
    if (!rx.takeResponse(rsp)) {
      warn(q, "Need more slots");
      err = true;
      break;
    }
    takeRxSlot(q, (rx.rspCons - 1) & (NET_RX_RING_SIZE - 1));
    ref = q.curRef;
    gfn = q.curGfn;
    view = q.curView;
    flags = rsp.getU16(4);
    offset = rsp.getU16(2);
    status = rsp.getI16(6);
    slots++;
  }
  if (slots > max) {
    warn(q, "Too many slots");
    err = true;
  }
  if (!err && gso !== undefined) {
    // xennet_set_skb_gso
    if (gso.size === 0) gsoBad = "GSO size must not be zero.";
    else if (gso.type !== XEN_NETIF_GSO_TYPE_TCPV4 && gso.type !== XEN_NETIF_GSO_TYPE_TCPV6) {
      gsoBad = `Bad GSO type ${gso.type}.`;
    }
    if (gsoBad !== "") {
      warn(q, gsoBad);
      err = true;
    }
  }

  // The fragments' pages now belong to this packet: copy out, then return them to the pool.
  const data = err ? undefined : new Uint8Array(total);
  let at = 0;
  for (let f = 0; f < frags; f++) {
    let view = q.fragView[f];
    if (data !== undefined) {
      view ??= q.dev.kernel.memory.page(q.fragGfn[f]! as Gfn);
      view.copyOut(q.fragOff[f]!, data, at, q.fragLen[f]!);
      at += q.fragLen[f]!;
    }
    q.rxPagePool.push({ gfn: q.fragGfn[f]! as Gfn, view });
    q.fragView[f] = undefined;
  }
  const trace = q.dev.kernel.sched.trace;
  if (data === undefined) {
    info.stats.rxErrors++;
    if (trace.enabled) {
      trace.emit(q.dev.kernel.actor, "netfront.rx_drop", {
        dev: q.dev.nodename,
        queue: q.id,
        slots,
        rsp_cons: rx.rspCons,
      });
    }
    return;
  }
  q.stats.rxPackets++;
  q.stats.rxSlots += slots;
  info.stats.rxPackets++;
  info.stats.rxBytes += total;
  if (trace.enabled) {
    trace.emit(q.dev.kernel.actor, "netfront.rx", {
      dev: q.dev.nodename,
      queue: q.id,
      len: total,
      slots,
      first_slot: firstCons & (NET_RX_RING_SIZE - 1),
      rsp_cons: rx.rspCons,
      gso: gso === undefined ? undefined : `${gso.type}/${gso.size}`,
    });
  }
  info.deliver({
    data,
    queue: q.id,
    flags: firstFlags & (NETRXF_data_validated | NETRXF_csum_blank),
    ...(gso !== undefined ? { gso } : {}),
  });
}
