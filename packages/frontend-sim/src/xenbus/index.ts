// The XenBus driver framework shared by frontends (domU) and backends (dom0): Linux's
// xenbus_client.c helpers on XenbusDevice, the buses of xenbus_probe*.c, the driver interface.
export type { XenbusDriver } from "./driver.ts";
export { type GrantOps, grantOpsFor, type Kernel, ktrace } from "./kernel.ts";
export {
  BACKEND_PEER_PROFILES,
  type BackendPeerProfile,
  type DriverPair,
  FRONTEND_PEER_PROFILES,
  type FrontendPeerProfile,
  type PeerProfiles,
  withPeerProfiles,
} from "./peer-profiles.ts";
export { BACKEND_BUS, type BusType, FRONTEND_BUS, XenbusBus } from "./xenbus-bus.ts";
export {
  type DevErr,
  errOf,
  type GrantedRing,
  type MappedRing,
  XENBUS_MAX_RING_GRANTS,
  XenbusDevice,
} from "./xenbus-device.ts";
export { parseXenbusState, XenbusState, xenbusStateName } from "./xenbus-state.ts";
