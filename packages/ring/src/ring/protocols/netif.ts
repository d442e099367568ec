// Network rings [xen/include/public/io/netif.h]: tx (guest → backend packets), rx (backend →
// guest buffers) and the control ring. Offsets and sizes as gcc lays them out on x86_32 and
// x86_64 alike (every field is naturally aligned); checked by layout.test.ts.
import { array, bytes, defineStruct, i16, u8, u16, u32 } from "../../layout/struct-layout.ts";
import { defineRingProtocol } from "../ring-protocol.ts";

export const NETIF_TX_REQUEST = defineStruct("netif_tx_request", 12, 4, {
  gref: u32(0),
  offset: u16(4),
  flags: u16(6),
  id: u16(8),
  size: u16(10),
});

/** An extra-info segment occupies a tx request slot when the previous request set NETTXF_extra_info. */
export const NETIF_EXTRA_INFO = defineStruct("netif_extra_info", 8, 2, {
  type: u8(0),
  flags: u8(1),
  // union u: gso {u16 size; u8 type; u8 pad; u16 features} | mcast {u8 addr[6]} | hash | pad[6]
  u: bytes(2, 6),
});

export const NETIF_TX_RESPONSE = defineStruct("netif_tx_response", 4, 2, {
  id: u16(0),
  status: i16(2),
});

export const NETIF_RX_REQUEST = defineStruct("netif_rx_request", 8, 4, {
  id: u16(0),
  pad: u16(2),
  gref: u32(4),
});

export const NETIF_RX_RESPONSE = defineStruct("netif_rx_response", 8, 2, {
  id: u16(0),
  offset: u16(2),
  flags: u16(4),
  status: i16(6),
});

export const XEN_NETIF_CTRL_REQUEST = defineStruct("xen_netif_ctrl_request", 16, 4, {
  id: u16(0),
  type: u16(2),
  data: array(4, 3, u32(0)),
});

export const XEN_NETIF_CTRL_RESPONSE = defineStruct("xen_netif_ctrl_response", 12, 4, {
  id: u16(0),
  type: u16(2),
  status: u32(4),
  data: u32(8),
});

/** DEFINE_RING_TYPES(netif_tx, ...): 12-byte slots, 256 per page. */
export const NETIF_TX_RING = defineRingProtocol("netif_tx", NETIF_TX_REQUEST, NETIF_TX_RESPONSE);
/** DEFINE_RING_TYPES(netif_rx, ...): 8-byte slots, 256 per page (rounded down from 504). */
export const NETIF_RX_RING = defineRingProtocol("netif_rx", NETIF_RX_REQUEST, NETIF_RX_RESPONSE);
/** DEFINE_RING_TYPES(xen_netif_ctrl, ...): 16-byte slots, 128 per page. */
export const NETIF_CTRL_RING = defineRingProtocol(
  "xen_netif_ctrl",
  XEN_NETIF_CTRL_REQUEST,
  XEN_NETIF_CTRL_RESPONSE,
);

// netif.h flag and status values used by tests and later packages.
export const NETTXF_csum_blank = 1 << 0;
export const NETTXF_data_validated = 1 << 1;
export const NETTXF_more_data = 1 << 2;
export const NETTXF_extra_info = 1 << 3;
export const NETRXF_data_validated = 1 << 0;
export const NETRXF_csum_blank = 1 << 1;
export const NETRXF_more_data = 1 << 2;
export const NETRXF_extra_info = 1 << 3;
export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;
