// One direction of the XenStore page: a 1024-byte ring with free-running producer/consumer
// indices. Indices are read once per chunk and validated (prod − cons ≤ 1024) before any byte is
// touched [Linux xenbus_comms.c check_indexes, get_output_chunk, get_input_chunk; cxenstored
// domain.c check_indexes]. A bad index is reported, never followed; every loop is bounded by
// two chunks (the ring can wrap at most once per call).
import type { WritablePage } from "../memory/page-view.ts";
import { maskXenstoreIdx, XENSTORE_DOMAIN_INTERFACE, XENSTORE_RING_SIZE } from "./xenstore-interface.ts";

const F = XENSTORE_DOMAIN_INTERFACE.fields;

/** The peer left indices no honest peer can produce (cxenstored then sets error = XENSTORE_ERROR_RINGIDX). */
export interface XenstoreRingIndexError {
  readonly kind: "bad-ring-indexes";
  readonly ring: "req" | "rsp";
  readonly prod: number;
  readonly cons: number;
}

interface Direction {
  readonly name: "req" | "rsp";
  readonly buf: number;
  readonly prod: number;
  readonly cons: number;
}

const REQ: Direction = { name: "req", buf: F.req.offset, prod: F.req_prod.offset, cons: F.req_cons.offset };
const RSP: Direction = { name: "rsp", buf: F.rsp.offset, prod: F.rsp_prod.offset, cons: F.rsp_cons.offset };

function indexes(page: WritablePage, d: Direction): { prod: number; cons: number } | XenstoreRingIndexError {
  const cons = page.getU32(d.cons);
  const prod = page.getU32(d.prod);
  if ((prod - cons) >>> 0 > XENSTORE_RING_SIZE) return { kind: "bad-ring-indexes", ring: d.name, prod, cons };
  return { prod, cons };
}

/** Producer side: copy up to `length` bytes in, publish the new producer after each chunk. */
function produce(
  page: WritablePage,
  d: Direction,
  src: Uint8Array,
  offset: number,
  length: number,
): number | XenstoreRingIndexError {
  let done = 0;
  for (let chunk = 0; chunk < 2 && done < length; chunk++) {
    const ix = indexes(page, d);
    if ("kind" in ix) return ix;
    const used = (ix.prod - ix.cons) >>> 0;
    // get_output_chunk: up to the end of the buffer, and no more than the free space.
    const avail = Math.min(XENSTORE_RING_SIZE - maskXenstoreIdx(ix.prod), XENSTORE_RING_SIZE - used);
    if (avail === 0) break;
    const n = Math.min(avail, length - done);
    page.copyIn(d.buf + maskXenstoreIdx(ix.prod), src, offset + done, n);
    done += n;
    page.setU32(d.prod, ix.prod + n); // data before index
  }
  return done;
}

/** Consumer side: copy up to `length` bytes out, publish the new consumer after each chunk. */
function consume(
  page: WritablePage,
  d: Direction,
  dst: Uint8Array,
  offset: number,
  length: number,
): number | XenstoreRingIndexError {
  let done = 0;
  for (let chunk = 0; chunk < 2 && done < length; chunk++) {
    const ix = indexes(page, d);
    if ("kind" in ix) return ix;
    // get_input_chunk: up to the end of the buffer, and no more than what is there.
    const avail = Math.min(XENSTORE_RING_SIZE - maskXenstoreIdx(ix.cons), (ix.prod - ix.cons) >>> 0);
    if (avail === 0) break;
    const n = Math.min(avail, length - done);
    page.copyOut(d.buf + maskXenstoreIdx(ix.cons), dst, offset + done, n);
    done += n;
    page.setU32(d.cons, ix.cons + n);
  }
  return done;
}

function pending(page: WritablePage, d: Direction): number | XenstoreRingIndexError {
  const ix = indexes(page, d);
  return "kind" in ix ? ix : (ix.prod - ix.cons) >>> 0;
}

/** The guest's end: writes requests, reads responses and watch events (Linux xb_write / xb_read). */
export class XenstoreGuestEnd {
  constructor(readonly page: WritablePage) {}

  /** Writes as much of `src` as fits now; returns the byte count (0 if the ring is full). */
  write(src: Uint8Array, offset = 0, length = src.length - offset): number | XenstoreRingIndexError {
    return produce(this.page, REQ, src, offset, length);
  }

  /** Reads up to `length` available response bytes into `dst`; returns the count. */
  read(dst: Uint8Array, offset = 0, length = dst.length - offset): number | XenstoreRingIndexError {
    return consume(this.page, RSP, dst, offset, length);
  }

  /** Response bytes waiting to be read. */
  pendingResponseBytes(): number | XenstoreRingIndexError {
    return pending(this.page, RSP);
  }

  /** Request bytes the server has not consumed yet (1024 = full). */
  unconsumedRequestBytes(): number | XenstoreRingIndexError {
    return pending(this.page, REQ);
  }
}

/** The server's end: reads requests, writes replies and watch events (cxenstored readchn / writechn). */
export class XenstoreServerEnd {
  constructor(readonly page: WritablePage) {}

  read(dst: Uint8Array, offset = 0, length = dst.length - offset): number | XenstoreRingIndexError {
    return consume(this.page, REQ, dst, offset, length);
  }

  write(src: Uint8Array, offset = 0, length = src.length - offset): number | XenstoreRingIndexError {
    return produce(this.page, RSP, src, offset, length);
  }

  /** Request bytes waiting to be read. */
  pendingRequestBytes(): number | XenstoreRingIndexError {
    return pending(this.page, REQ);
  }

  /** Response bytes the guest has not consumed yet (1024 = full). */
  unconsumedResponseBytes(): number | XenstoreRingIndexError {
    return pending(this.page, RSP);
  }
}
