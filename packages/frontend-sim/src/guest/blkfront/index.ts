// The guest's block frontend: the blkfront driver and the block-device surface it exports.

export {
  Blkfront,
  BlkfrontDevice,
  type BlkfrontOptions,
  blkfrontOf,
  type FrontendProfile,
} from "./blkfront.ts";
export * from "./blkif-abi.ts";
export {
  type BlockConnState,
  type BlockDevice,
  type BlockErrno,
  type BlockFeatures,
  BlockIoError,
  type BlockStats,
} from "./block-io.ts";
