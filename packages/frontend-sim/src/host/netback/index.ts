// netback: dom0's Xen network backend (Linux drivers/net/xen-netback) and the virtual switch.

// A ready-made rig (machine + netback + guests with netfront + leak checks) for tests, scenarios, benches.
export { macBytes, macFor, type NetGuest, NetRig, type NetRigOptions, testFrame } from "./net-test-kit.ts";
export { BackendInfo, NetbackDriver, type NetbackOptions } from "./netback.ts";
export {
  FATAL_SKB_SLOTS_DEFAULT,
  NETBACK_BUDGET,
  NetbackQueue,
  type NetbackQueueStats,
  XEN_NETBK_LEGACY_SLOTS_MAX,
  XENVIF_RX_QUEUE_BYTES,
} from "./netback-queue.ts";
export { Skb, type SkbGso, SkbPool } from "./skb.ts";
export { type SwitchPort, SwitchRegistry, type SwitchStats, VirtualSwitch } from "./vswitch.ts";
export { skbFlowHash, Xenvif } from "./xenvif.ts";
