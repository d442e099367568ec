/**
 * @module @xensim/frontend-sim
 */
// @xensim/frontend-sim — the public API for writing and testing Xen PV drivers in the simulator.
//
// - The XenBus driver framework (Linux xenbus_client.c / xenbus_probe*.c): `XenbusDriver`,
//   `XenbusDevice` and its helpers, `XenbusState`, the `Kernel` a driver runs in.
// - The simulated host: `Machine` (scheduler, hypervisor, xenstored, toolstack, dom0, guests),
//   `Toolstack` and `DeviceSpec` (how a device of any type is created), invariants.
// - Our drivers, written on exactly that API: netfront/netback (and blkfront/blkback).
// - Scenarios and the readable timeline.

export { GuestKernel, type GuestResources } from "./guest/kernel.ts";
export {
  ethernetFrame,
  NetfrontDevice,
  NetfrontDriver,
  type NetfrontOptions,
  netfrontOf,
  parseMac,
} from "./guest/netfront/index.ts";
export type { StartInfo } from "./guest/start-info.ts";
export { isExistErr, isXenbusError, XenbusError } from "./guest/xenbus/xenbus-error.ts";
export {
  type Tx,
  type WatchCallback,
  XBT_NIL,
  XenbusClient,
  type XenbusWatch,
} from "./guest/xenbus/xs-client.ts";
export { checkDeviceAgreement, checkQuiescentInvariants } from "./host/invariants.ts";
export { type Guest, Machine, type MachineOptions } from "./host/machine.ts";
export { NetbackDriver, type NetbackOptions, VirtualSwitch } from "./host/netback/index.ts";
export { Platform, type PlatformOptions } from "./host/platform.ts";
export {
  backendPath,
  type DeviceSpec,
  frontendPath,
  type VifConfig,
  vifSpec,
} from "./host/toolstack/device-spec.ts";
export { type CreateDomainOptions, Toolstack, ToolstackError } from "./host/toolstack/toolstack.ts";
export { findScenario, scenarios } from "./scenarios/registry.ts";
export type { Scenario, ScenarioContext, ScenarioResult } from "./scenarios/scenario.ts";
export { renderTimeline, type TimelineOptions } from "./timeline/timeline.ts";
export type { XenbusDriver } from "./xenbus/driver.ts";
export { type GrantOps, type Kernel, ktrace } from "./xenbus/kernel.ts";
export {
  BACKEND_PEER_PROFILES,
  type BackendPeerProfile,
  type DriverPair,
  FRONTEND_PEER_PROFILES,
  type FrontendPeerProfile,
  type PeerProfiles,
  withPeerProfiles,
} from "./xenbus/peer-profiles.ts";
export { BACKEND_BUS, FRONTEND_BUS, XenbusBus } from "./xenbus/xenbus-bus.ts";
export {
  type DevErr,
  errOf,
  type GrantedRing,
  type MappedRing,
  XENBUS_MAX_RING_GRANTS,
  XenbusDevice,
} from "./xenbus/xenbus-device.ts";
export { parseXenbusState, XenbusState, xenbusStateName } from "./xenbus/xenbus-state.ts";

// ---- For driver authors: one import suffices ----------------------------------------------------

// Schedules for a Machine (@xensim/evtchn): seeded random, scripted, or FIFO.
export { policyFor, type Schedule, SeededPolicy } from "@xensim/evtchn";
// Shared-ring and page layout building blocks (@xensim/ring), as netfront/blkfront use them.
export {
  array,
  BackRing,
  type ByteReader,
  type ByteWriter,
  bytes,
  defineStruct,
  FrontRing,
  i8,
  i16,
  i32,
  PAGE_SIZE,
  type StructLayout,
  u8,
  u16,
  u32,
  u64,
} from "@xensim/ring";
export type { StoreReader } from "./explore/devices.ts";
// The test harness for a user's own device (issue 11): explorer runs, replay, arbitraries.
export {
  applyXenstoreOps,
  type CaseSpec,
  type CmdSpec,
  type CommandKind,
  type ExploreHandshakeOptions,
  exploreHandshake,
  FAULT_NAMES,
  FAULT_PROFILES,
  type FaultName,
  faultSetArb,
  formatHandshakeFailure,
  type HandshakeContext,
  type HandshakeDevice,
  HandshakeFailure,
  type HandshakeSummary,
  lifecycleArb,
  type ReplayResult,
  replayHandshake,
  scheduleArb,
  type XenstoreOp,
  type XenstoreOpsClient,
  xenstoreOpsArb,
} from "./explore/explore-handshake.ts";
