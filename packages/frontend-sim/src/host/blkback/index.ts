// dom0's block backend: the blkback driver, its rings, disk images and dom0's block devices.
export { type BackendProfile, Blkback, BlkbackDevice, type BlkbackOptions } from "./blkback.ts";
export { BlkbackRing, type BlkbackStats } from "./blkback-ring.ts";
export {
  BlockDevices,
  type DiskGeometry,
  type DiskImage,
  FileDisk,
  MemoryDisk,
  type MemoryDiskOptions,
  type PhysicalDevice,
  SECTOR_SIZE,
} from "./disk-image.ts";
