// Block-device lifecycle scenarios (issue 8) and the helpers scenarios use to plug a vbd.
export { type BackendProfile, BlkMachine, type BlkMachineOptions } from "./blk-harness.ts";
export {
  blkBackendRestart,
  blkDestroyDomain,
  blkFrontendReconnect,
  blkHotUnplugInflight,
  blkIo,
  blkProfileAlreadyConnected,
  blkProfileClosed,
  blkProfileQemu,
  blkProfileSkipInitWait,
  blkProfileWindows,
  blkScenarios,
  blkSuspendResume,
  stateHistory,
  vbdPatternCheck,
} from "./blk-lifecycle.ts";
export { DiskModel, firstDiff, randomWorkload, type WorkloadOptions } from "./disk-model.ts";
