import type { Gfn } from "@xensim/ring";

/**
 * What a PV guest learns at boot from start_info (xen.h struct start_info): where its XenStore
 * page is and which event channel reaches xenstored. It cannot ask XenStore — this is how it
 * finds XenStore in the first place.
 */
export interface StartInfo {
  readonly domid: number;
  readonly storeGfn: Gfn;
  readonly storePort: number;
}
