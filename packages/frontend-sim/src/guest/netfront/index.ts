// netfront: the guest's Xen network frontend (Linux drivers/net/xen-netfront.c).
export {
  BROADCAST_MAC,
  ETH_ALEN,
  ETH_HLEN,
  ethernetFrame,
  formatMac,
  gratuitousArp,
  parseMac,
} from "./mac.ts";
export {
  flowHash,
  NetfrontDevice,
  NetfrontDriver,
  type NetfrontFeatures,
  type NetfrontOptions,
  type NetfrontStats,
  netfrontOf,
  XENNET_TIMEOUT_NS,
} from "./netfront.ts";
export {
  MAX_XEN_SKB_FRAGS,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  NetfrontQueue,
  type NetfrontQueueStats,
  TX_STOP_THRESHOLD,
  XEN_NETIF_NR_SLOTS_MIN,
} from "./netfront-queue.ts";
export type { ReceivedFrame } from "./netfront-rx.ts";
export {
  type GsoInfo,
  type SendOptions,
  type SendResult,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_GSO_TYPE_TCPV6,
} from "./netfront-tx.ts";
