// Constants of the XenStore wire protocol, mirroring xen/include/public/io/xs_wire.h.

/** xs_wire.h `enum xsd_sockmsg_type` (with the types added after Xen 4.17). */
export const XsType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  /** XS_RESTRICT: removed from the protocol, answered ENOSYS. */
  RESTRICT: 20,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
  /** xs_wire.h XS_INVALID: guaranteed never to be a valid type. */
  INVALID: 0xffff,
} as const;

export type XsTypeName = keyof typeof XsType;
export type XsTypeCode = (typeof XsType)[XsTypeName];

const NAMES: Map<number, XsTypeName> = new Map(
  (Object.entries(XsType) as [XsTypeName, number][]).map(([k, v]) => [v, k]),
);

/** Symbolic name of a message type, or `"UNKNOWN(<n>)"`. */
export function xsTypeName(type: number): string {
  return NAMES.get(type) ?? `UNKNOWN(${type})`;
}

/** `sizeof(struct xsd_sockmsg)`: four little-endian u32 (type, req_id, tx_id, len). */
export const XS_HEADER_SIZE = 16;
/** xs_wire.h XENSTORE_PAYLOAD_MAX: "violating this is very bad". */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** xs_wire.h XENSTORE_ABS_PATH_MAX. */
export const XENSTORE_ABS_PATH_MAX = 3072;
/** xs_wire.h XENSTORE_REL_PATH_MAX. */
export const XENSTORE_REL_PATH_MAX = 2048;

/** xs_wire.h XS_WRITE_* (defined, unused by servers). */
export const XS_WRITE_NONE = "NONE";
export const XS_WRITE_CREATE = "CREATE";
export const XS_WRITE_CREATE_EXCL = "CREATE|EXCL";

/** xs_wire.h `enum xs_watch_type`: string indexes inside a WATCH_EVENT payload. */
export const XS_WATCH_PATH = 0;
export const XS_WATCH_TOKEN = 1;

/** xs_wire.h `struct xenstore_domain_interface` layout (the ring page). */
export const XENSTORE_RING_SIZE = 1024;
export const XsRingOffset = {
  req: 0,
  rsp: 1024,
  reqCons: 2048,
  reqProd: 2052,
  rspCons: 2056,
  rspProd: 2060,
  serverFeatures: 2064,
  connection: 2068,
  error: 2072,
} as const;
export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;
export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

/** Special domids (xen.h). */
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;
