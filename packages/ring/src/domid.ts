// Domain ids are plain u16 numbers [xen.h domid_t]. Ids from DOMID_FIRST_RESERVED up are never
// ordinary domains.

export type DomId = number;

export const DOMID_FIRST_RESERVED = 0x7ff0;
/** "The calling domain" in hypercall arguments, e.g. a gnttab_copy side given as a frame. */
export const DOMID_SELF = 0x7ff0;
export const DOMID_IO = 0x7ff1;
export const DOMID_XEN = 0x7ff2;
export const DOMID_COW = 0x7ff3;
export const DOMID_INVALID = 0x7ff4;
export const DOMID_IDLE = 0x7fff;

/** True for ids an ordinary domain can have (0 … 0x7FEF). */
export function isOrdinaryDomId(domid: number): boolean {
  return Number.isInteger(domid) && domid >= 0 && domid < DOMID_FIRST_RESERVED;
}
