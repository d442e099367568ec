// RING_IDX arithmetic [ring.h]: free-running u32 counters compared modulo 2^32, the power-of-two
// ring size, and the event-index notification rule.
import { PAGE_SIZE } from "../memory/page.ts";
import { SRING_HEADER_SIZE } from "./shared-ring.ts";

/** x modulo 2^32 as an unsigned number. */
export const u32 = (x: number): number => x >>> 0;

/**
 * Largest power of two ≤ x, 0 for 0 [ring.h __RD32]. Computed with a shift, not `2 ** n`: V8 gives
 * `**` a heap-number result, and a ring's size (and mask) stored as a heap number turns every
 * index comparison and slot mask of the hot path into float64 work.
 */
export function roundDownPow2(x: number): number {
  x = x >>> 0;
  return x === 0 ? 0 : (1 << (31 - Math.clz32(x))) >>> 0;
}

/**
 * Entries in a ring of `nrPages` 4 KiB pages whose slot is `slotSize` bytes:
 * __RD32((PAGE_SIZE * nrPages − 64) / slotSize) [ring.h __CONST_RING_SIZE / __RING_SIZE].
 */
export function ringSize(slotSize: number, nrPages = 1): number {
  if (!(Number.isInteger(slotSize) && slotSize > 0)) throw new RangeError(`bad slot size ${slotSize}`);
  if (!(Number.isInteger(nrPages) && nrPages > 0)) throw new RangeError(`bad page count ${nrPages}`);
  return roundDownPow2(Math.floor((PAGE_SIZE * nrPages - SRING_HEADER_SIZE) / slotSize));
}

/**
 * Whether publishing a producer move old → new must raise an event, given the consumer's event
 * index: iff event ∈ (old, new] modulo 2^32 — (u32)(new − event) < (u32)(new − old)
 * [ring.h RING_PUSH_REQUESTS_AND_CHECK_NOTIFY].
 */
export function mustNotify(oldProd: number, newProd: number, event: number): boolean {
  return u32(newProd - event) < u32(newProd - oldProd);
}
