// A model of a disk's contents and a random workload checked against it: batches of concurrent
// reads, writes and discards on disjoint ranges (so their order cannot matter), flushes between
// batches. Deterministic per Prng.
import type { Prng } from "@xensim/evtchn";
import type { BlockDevice } from "../guest/blkfront/block-io.ts";

export class DiskModel {
  readonly bytes: Uint8Array;
  constructor(readonly sectors: number) {
    this.bytes = new Uint8Array(sectors * 512);
  }
  write(sector: number, data: Uint8Array): void {
    this.bytes.set(data, sector * 512);
  }
  discard(sector: number, count: number): void {
    this.bytes.fill(0, sector * 512, (sector + count) * 512);
  }
  slice(sector: number, count: number): Uint8Array {
    return this.bytes.subarray(sector * 512, (sector + count) * 512);
  }
}

export interface WorkloadOptions {
  readonly batches: number;
  /** Most requests in flight at once. */
  readonly concurrency: number;
  /** Longest request, in 512-byte sectors. */
  readonly maxSectors: number;
  readonly discard?: boolean;
  /** Runs after batch `b` was issued and before it is awaited (requests are in flight). */
  readonly onBatch?: (b: number) => Promise<void>;
}

export interface WorkloadResult {
  readonly ops: number;
  readonly bytes: number;
  readonly failures: string[];
}

/** First differing byte, for a readable failure. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Runs the random workload on `disk` and checks every read against `model`. */
export async function randomWorkload(
  disk: BlockDevice,
  model: DiskModel,
  rng: Prng,
  o: WorkloadOptions,
): Promise<WorkloadResult> {
  const unit = disk.sectorSize / 512;
  const failures: string[] = [];
  let ops = 0;
  let bytes = 0;
  for (let b = 0; b < o.batches; b++) {
    // Disjoint ranges: cut the disk into `concurrency` slices, one request per slice.
    const n = 1 + rng.int(o.concurrency);
    const slice = Math.floor(model.sectors / n / unit) * unit;
    const work: Promise<void>[] = [];
    const writes: [number, Uint8Array][] = [];
    const discards: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const len = unit * (1 + rng.int(Math.max(1, Math.min(o.maxSectors, slice) / unit)));
      const start = i * slice + unit * rng.int(Math.max(1, (slice - len) / unit + 1));
      const kind = rng.int(o.discard ? 7 : 6);
      ops++;
      if (kind < 3) {
        const data = new Uint8Array(len * 512);
        for (let j = 0; j < data.length; j += 4) data[j] = rng.int(256);
        data[data.length - 1] = b & 0xff;
        writes.push([start, data]);
        bytes += data.length;
        work.push(disk.write(start, data));
      } else if (kind < 6) {
        const expected = model.slice(start, len).slice();
        bytes += len * 512;
        work.push(
          disk.read(start, len).then((got) => {
            const d = firstDiff(got, expected);
            if (d >= 0) failures.push(`batch ${b}: read ${start}+${len} differs at byte ${d}`);
          }),
        );
      } else {
        discards.push([start, len]);
        work.push(disk.discard(start, len));
      }
    }
    if (o.onBatch) await o.onBatch(b);
    const results = await Promise.allSettled(work);
    for (const r of results) if (r.status === "rejected") failures.push(`batch ${b}: ${String(r.reason)}`);
    for (const [s, d] of writes) model.write(s, d);
    for (const [s, c] of discards) model.discard(s, c);
    if (rng.chance(0.2)) {
      ops++;
      await disk.flush();
    }
  }
  return { ops, bytes, failures };
}
