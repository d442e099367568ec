// Xen's unit of sharing. Rings, grant-table frames and the XenStore page are always counted in
// 4 KiB Xen pages whatever the guest's own page size [ring.h XEN_PAGE_SHIFT].

/** Bytes in one Xen page. */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE) [ring.h XEN_PAGE_SHIFT]. */
export const PAGE_SHIFT = 12;

/** A guest frame number: index of a 4 KiB page in one domain's memory. */
export type Gfn = number;
