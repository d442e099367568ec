// What a guest program sees of a virtual disk: the block-device surface blkfront exports (the
// part of Linux's gendisk/blk-mq a user touches), independent of rings and grants.

export type BlockErrno = "EIO" | "EINVAL" | "ENXIO" | "EOPNOTSUPP" | "EROFS" | "ENOMEM";

/** A failed block request (Linux BLK_STS_* as the errno a read(2) would see). */
export class BlockIoError extends Error {
  override readonly name = "BlockIoError";
  constructor(
    readonly errno: BlockErrno,
    message: string,
  ) {
    super(`${errno}: ${message}`);
  }
}

/** What the backend told the frontend (blkfront_gather_backend_features + the device keys). */
export interface BlockFeatures {
  /** BLKIF_OP_FLUSH_DISKCACHE available (`feature-flush-cache`). */
  readonly flush: boolean;
  /** Only `feature-barrier`: flushes go as BLKIF_OP_WRITE_BARRIER. */
  readonly barrier: boolean;
  readonly discard: boolean;
  readonly discardGranularity: number;
  readonly discardAlignment: number;
  readonly discardSecure: boolean;
  /** Persistent grants negotiated (both ends advertised `feature-persistent`). */
  readonly persistent: boolean;
  /** Segments per indirect request; 0 = no indirect descriptors. */
  readonly indirectSegments: number;
  /** Data goes through dedicated pages (untrusted backend or persistent grants). */
  readonly bounce: boolean;
  readonly queues: number;
  readonly ringPages: number;
}

export interface BlockStats {
  /** blkif requests pushed on a ring. */
  submitted: number;
  /** responses consumed. */
  completed: number;
  /** responses with a non-OK status. */
  errors: number;
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  indirect: number;
  bytesRead: number;
  bytesWritten: number;
  /** requests taken back from the rings at suspend/reconnect and issued again. */
  requeued: number;
  /** times a request waited because its ring was full. */
  ringFull: number;
  /** grants reused from the persistent pool. */
  persistentHits: number;
  /** response events that found the device not connected (spurious). */
  spurious: number;
}

/** blkfront's `connected` (Linux BLKIF_STATE_*), plus `closed` once the disk is dead. */
export type BlockConnState = "disconnected" | "connected" | "suspended" | "error" | "closed";

/** A virtual disk as a guest program uses it. Sectors are 512 bytes (blkif's unit). */
export interface BlockDevice {
  /** `device/vbd/<devid>`. */
  readonly nodename: string;
  /** The guest's name for it (`xvda`). */
  readonly name: string;
  readonly state: BlockConnState;
  /** Capacity in 512-byte sectors. */
  readonly sectors: number;
  readonly sectorSize: number;
  readonly physicalSectorSize: number;
  readonly readOnly: boolean;
  readonly removable: boolean;
  readonly cdrom: boolean;
  readonly features: BlockFeatures;
  readonly stats: Readonly<BlockStats>;
  /** Reads `count` sectors at `sector`. */
  read(sector: number, count: number): Promise<Uint8Array>;
  /** Writes whole sectors at `sector`. */
  write(sector: number, data: Uint8Array): Promise<void>;
  /** Makes completed writes durable (no-op when the backend has no write cache). */
  flush(): Promise<void>;
  /** Discards `count` sectors (EOPNOTSUPP when the backend does not support it). */
  discard(sector: number, count: number): Promise<void>;
}
