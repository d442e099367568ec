// Grant-table operation statuses [xen/include/public/grant_table.h GNTST_*]. Every map, unmap
// and copy element reports one of these, as the int16 `status` field of the hypercall struct.

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4;
export const GNTST_bad_virt_addr = -5;
export const GNTST_bad_dev_addr = -6;
export const GNTST_no_device_space = -7;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;
export const GNTST_address_too_big = -11;
export const GNTST_eagain = -12;
export const GNTST_no_space = -13;

export type GntStatus =
  | typeof GNTST_okay
  | typeof GNTST_general_error
  | typeof GNTST_bad_domain
  | typeof GNTST_bad_gntref
  | typeof GNTST_bad_handle
  | typeof GNTST_bad_virt_addr
  | typeof GNTST_bad_dev_addr
  | typeof GNTST_no_device_space
  | typeof GNTST_permission_denied
  | typeof GNTST_bad_page
  | typeof GNTST_bad_copy_arg
  | typeof GNTST_address_too_big
  | typeof GNTST_eagain
  | typeof GNTST_no_space;

/** A failing status (anything but GNTST_okay). */
export type GntError = Exclude<GntStatus, typeof GNTST_okay>;

// grant_table.h GNTTABOP_error_msgs, in status order 0, -1, -2, ...
const MESSAGES = [
  "okay",
  "undefined error",
  "unrecognised domain id",
  "invalid grant reference",
  "invalid mapping handle",
  "invalid virtual address",
  "invalid device address",
  "no spare translation slot in the I/O MMU",
  "permission denied",
  "bad page",
  "copy arguments cross page boundary",
  "page address size too large",
  "operation not done; try again",
  "out of space",
] as const;

/** Xen's message for a status (GNTTABOP_error_msgs), e.g. "invalid grant reference". */
export function gntstMessage(status: number): string {
  return MESSAGES[-status] ?? `unknown grant status ${status}`;
}
