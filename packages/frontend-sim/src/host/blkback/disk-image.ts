// The storage behind a vbd: a disk image (in memory by default, optionally a file) and dom0's
// block-device table that the hotplug script's `physical-device` = "MAJOR:MINOR" resolves through
// (what the Linux block layer is to xen-blkback's vbd_create / blkdev_get_by_dev).
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";

/** blkif sectors are always 512 bytes, whatever the device's logical sector size [blkif.h]. */
export const SECTOR_SIZE = 512;

export interface DiskGeometry {
  /** Capacity in 512-byte sectors (the `sectors` key). */
  readonly sectors: number;
  /** Logical sector size in bytes (`sector-size`): a power of two ≥ 512. */
  readonly sectorSize: number;
  /** Physical sector size in bytes (`physical-sector-size`). */
  readonly physicalSectorSize: number;
}

/**
 * A block device's contents as blkback sees it. Offsets and lengths are in bytes and always
 * whole 512-byte sectors inside the capacity (blkback checks before calling).
 */
export interface DiskImage extends DiskGeometry {
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  /** Make completed writes durable (BLKIF_OP_FLUSH_DISKCACHE). */
  flush(): void;
  /** Forget a range (BLKIF_OP_DISCARD); later reads return zeros. */
  discard(offset: number, length: number): void;
  /** Whether the device has a volatile write cache (blkback advertises feature-flush-cache). */
  readonly writeCache: boolean;
  /** Whether discard is supported (blkback advertises feature-discard). */
  readonly discardable: boolean;
  /** Capacity change (online resize); blkback then rewrites `sectors`. */
  resize(sectors: number): void;
}

export interface MemoryDiskOptions {
  readonly sectors: number;
  readonly sectorSize?: number;
  readonly physicalSectorSize?: number;
  readonly writeCache?: boolean;
  readonly discardable?: boolean;
}

const CHUNK = 4096;

function checkGeometry(sectors: number, sectorSize: number, physical: number): void {
  if (!Number.isSafeInteger(sectors) || sectors < 0) throw new RangeError(`bad capacity ${sectors}`);
  if (sectorSize < 512 || (sectorSize & (sectorSize - 1)) !== 0) throw new RangeError("bad sector size");
  if (physical < sectorSize || (physical & (physical - 1)) !== 0) throw new RangeError("bad physical size");
  if ((sectors * SECTOR_SIZE) % sectorSize !== 0) throw new RangeError("capacity not a whole logical sector");
}

/**
 * A sparse in-memory disk: 4 KiB chunks allocated on first write, so a large capacity costs
 * nothing until used. Unwritten and discarded ranges read as zeros. `flushes` counts flushes
 * and `dirty` says whether writes happened since the last one (tests check flush ordering).
 */
export class MemoryDisk implements DiskImage {
  sectors: number;
  readonly sectorSize: number;
  readonly physicalSectorSize: number;
  readonly writeCache: boolean;
  readonly discardable: boolean;
  flushes = 0;
  dirty = false;
  readonly #chunks = new Map<number, Uint8Array>();

  constructor(options: MemoryDiskOptions) {
    this.sectors = options.sectors;
    this.sectorSize = options.sectorSize ?? 512;
    this.physicalSectorSize = options.physicalSectorSize ?? this.sectorSize;
    this.writeCache = options.writeCache ?? true;
    this.discardable = options.discardable ?? true;
    checkGeometry(this.sectors, this.sectorSize, this.physicalSectorSize);
  }

  read(offset: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const pos = offset + done;
      const c = Math.floor(pos / CHUNK);
      const o = pos - c * CHUNK;
      const n = Math.min(dst.length - done, CHUNK - o);
      const chunk = this.#chunks.get(c);
      if (chunk === undefined) dst.fill(0, done, done + n);
      else dst.set(chunk.subarray(o, o + n), done);
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) {
      const pos = offset + done;
      const c = Math.floor(pos / CHUNK);
      const o = pos - c * CHUNK;
      const n = Math.min(src.length - done, CHUNK - o);
      let chunk = this.#chunks.get(c);
      if (chunk === undefined) {
        chunk = new Uint8Array(CHUNK);
        this.#chunks.set(c, chunk);
      }
      chunk.set(src.subarray(done, done + n), o);
      done += n;
    }
    if (src.length > 0) this.dirty = true;
  }

  flush(): void {
    this.flushes++;
    this.dirty = false;
  }

  discard(offset: number, length: number): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const c = Math.floor(pos / CHUNK);
      const o = pos - c * CHUNK;
      const n = Math.min(length - done, CHUNK - o);
      const chunk = this.#chunks.get(c);
      if (chunk !== undefined) {
        if (n === CHUNK) this.#chunks.delete(c);
        else chunk.fill(0, o, o + n);
      }
      done += n;
    }
  }

  resize(sectors: number): void {
    checkGeometry(sectors, this.sectorSize, this.physicalSectorSize);
    if (sectors < this.sectors) this.discard(sectors * SECTOR_SIZE, (this.sectors - sectors) * SECTOR_SIZE);
    this.sectors = sectors;
  }

  /** Bytes a test reads without going through any driver. */
  peek(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.read(offset, out);
    return out;
  }
}

/**
 * A disk image in a host file — the only place the simulator touches the file system, at the I/O
 * edge. Synchronous reads/writes keep the simulation deterministic (no host event-loop I/O).
 */
export class FileDisk implements DiskImage {
  sectors: number;
  readonly sectorSize: number;
  readonly physicalSectorSize: number;
  readonly writeCache = true;
  readonly discardable = true;
  readonly #fd: number;

  constructor(
    readonly path: string,
    options: { sectors?: number; sectorSize?: number; create?: boolean } = {},
  ) {
    this.#fd = openSync(path, options.create ? "w+" : "r+");
    if (options.sectors !== undefined) ftruncateSync(this.#fd, options.sectors * SECTOR_SIZE);
    this.sectors = Math.floor(fstatSync(this.#fd).size / SECTOR_SIZE);
    this.sectorSize = options.sectorSize ?? 512;
    this.physicalSectorSize = this.sectorSize;
    checkGeometry(this.sectors, this.sectorSize, this.physicalSectorSize);
  }

  read(offset: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const n = readSync(this.#fd, dst, done, dst.length - done, offset + done);
      if (n === 0) {
        dst.fill(0, done);
        return;
      }
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) done += writeSync(this.#fd, src, done, src.length - done, offset + done);
  }

  flush(): void {
    fsyncSync(this.#fd);
  }

  discard(offset: number, length: number): void {
    this.write(offset, new Uint8Array(length));
  }

  resize(sectors: number): void {
    checkGeometry(sectors, this.sectorSize, this.physicalSectorSize);
    ftruncateSync(this.#fd, sectors * SECTOR_SIZE);
    this.sectors = sectors;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** A block device node in dom0 (what the block hotplug script writes into `physical-device`). */
export interface PhysicalDevice {
  readonly major: number;
  readonly minor: number;
  /** `physical-device-path`, e.g. `/dev/loop0`. */
  readonly path: string;
}

/**
 * dom0's block devices: images attached as loop devices (major 7, `/dev/loopN`), looked up by
 * major:minor (blkback's vbd_create) or by path (a QEMU-style backend opening `params`).
 */
export class BlockDevices {
  static readonly LOOP_MAJOR = 7;
  readonly #byNumber = new Map<string, { dev: PhysicalDevice; image: DiskImage }>();
  #nextMinor = 0;

  /** losetup: attach an image as the next free loop device. */
  attach(image: DiskImage, path?: string): PhysicalDevice {
    const minor = this.#nextMinor++;
    const dev: PhysicalDevice = { major: BlockDevices.LOOP_MAJOR, minor, path: path ?? `/dev/loop${minor}` };
    this.#byNumber.set(`${dev.major}:${dev.minor}`, { dev, image });
    return dev;
  }

  detach(dev: PhysicalDevice): void {
    this.#byNumber.delete(`${dev.major}:${dev.minor}`);
  }

  lookup(major: number, minor: number): DiskImage | undefined {
    return this.#byNumber.get(`${major}:${minor}`)?.image;
  }

  lookupPath(path: string): DiskImage | undefined {
    for (const e of this.#byNumber.values()) if (e.dev.path === path) return e.image;
    return undefined;
  }
}
