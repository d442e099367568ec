// The XenStore shared page [xen/include/public/io/xs_wire.h struct xenstore_domain_interface]:
// two 1024-byte byte rings with free-running u32 indices, then feature/connection/error words.
// `evtchn_port` (offset 2076) is the newest field; older headers (Xen ≤ 4.17, as installed here)
// end at 2076 — the field lies in bytes those versions leave unused.
import { bytes, defineStruct, u32 } from "../layout/struct-layout.ts";
import { defineU32Accessors } from "../layout/u32-accessors.ts";
import type { WritablePage } from "../memory/page-view.ts";

export const XENSTORE_RING_SIZE = 1024;
/** MASK_XENSTORE_IDX */
export const maskXenstoreIdx = (idx: number): number => idx & (XENSTORE_RING_SIZE - 1);
export const XENSTORE_PAYLOAD_MAX = 4096;

export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
export const XENSTORE_SERVER_FEATURE_WATCHDEPTH = 4;
export const XENSTORE_SERVER_FEATURE_DOMID_ANY = 8;

export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

export const XENSTORE_DOMAIN_INTERFACE = defineStruct("xenstore_domain_interface", 2080, 4, {
  req: bytes(0, XENSTORE_RING_SIZE),
  rsp: bytes(1024, XENSTORE_RING_SIZE),
  req_cons: u32(2048),
  req_prod: u32(2052),
  rsp_cons: u32(2056),
  rsp_prod: u32(2060),
  server_features: u32(2064),
  connection: u32(2068),
  error: u32(2072),
  evtchn_port: u32(2076),
});

const F = XENSTORE_DOMAIN_INTERFACE.fields;

/** Raw, unvalidated field access to a XenStore page: what either side can write at any time. */
export class XenstoreInterface {
  declare reqCons: number;
  declare reqProd: number;
  declare rspCons: number;
  declare rspProd: number;
  declare serverFeatures: number;
  declare connection: number;
  declare error: number;
  declare evtchnPort: number;

  constructor(readonly page: WritablePage) {}
}

defineU32Accessors(XenstoreInterface, "page", {
  reqCons: F.req_cons,
  reqProd: F.req_prod,
  rspCons: F.rsp_cons,
  rspProd: F.rsp_prod,
  serverFeatures: F.server_features,
  connection: F.connection,
  error: F.error,
  evtchnPort: F.evtchn_port,
});
