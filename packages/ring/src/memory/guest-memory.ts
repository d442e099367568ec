// One domain's pseudo-physical memory: 4 KiB frames addressed by GFN. A frame keeps the same
// backing bytes for the whole life of the domain, as a machine page does behind a guest's
// physmap: releasing a frame returns it to the guest's allocator without scrubbing it (unless
// asked), and a grantee that still maps it keeps seeing whatever the granter writes there next.
// That is the XSA-396 hazard class, which the Hypervisor reports (see Hypervisor.hazards).
import { AccessLease } from "./access-lease.ts";
import { type Gfn, PAGE_SIZE } from "./page.ts";
import { PageView, type ReadablePage, type WritablePage } from "./page-view.ts";

export interface GuestMemoryOptions {
  /** Most frames allocated at once (default 65536 = 256 MiB). */
  readonly maxFrames?: number;
  /** GFN of the first frame (default 0x100, so that GFNs are not confused with small grant refs). */
  readonly firstGfn?: number;
}

export interface AllocateOptions {
  /** Zero the frame (Linux `__GFP_ZERO`, as xenbus_setup_ring does). Default true. */
  readonly zeroed?: boolean;
}

/** Allocation failed: all `maxFrames` frames are in use. */
export interface OutOfMemory {
  readonly kind: "out-of-memory";
  readonly domid: number;
  readonly maxFrames: number;
}

/** Told about every release, so the Hypervisor can flag frames freed while still granted/mapped. */
export type ReleaseObserver = (domid: number, gfn: Gfn) => void;

interface Frame {
  // Created on first access (page/frameBuffer), not at allocation: a guest allocates many pages
  // it may never touch (netfront posts 256 rx buffers per queue), and an untouched page reads as
  // zeroes either way. Once created, a frame keeps its buffer for good: a stale foreign mapping
  // must keep seeing whatever the frame's next owner writes (the XSA-396 hazard, see top).
  buffer: ArrayBuffer | null;
  lease: AccessLease | undefined; // set while allocated
}

export class GuestMemory {
  readonly maxFrames: number;
  readonly firstGfn: number;
  readonly #frames = new Map<Gfn, Frame>();
  readonly #free: Gfn[] = []; // released GFNs, reused LIFO like a page allocator's hot list
  #next: Gfn;
  #allocated = 0;
  #observer: ReleaseObserver | undefined;

  constructor(
    readonly domid: number,
    options: GuestMemoryOptions = {},
  ) {
    this.maxFrames = options.maxFrames ?? 65536;
    this.firstGfn = options.firstGfn ?? 0x100;
    this.#next = this.firstGfn;
  }

  /** Installed by the Hypervisor owning this domain. */
  observeReleases(observer: ReleaseObserver): void {
    this.#observer = observer;
  }

  get allocatedCount(): number {
    return this.#allocated;
  }

  /** Allocates one frame; returns its GFN, or OutOfMemory when `maxFrames` are in use. */
  allocate(options: AllocateOptions = {}): Gfn | OutOfMemory {
    if (this.#allocated >= this.maxFrames) {
      return { kind: "out-of-memory", domid: this.domid, maxFrames: this.maxFrames };
    }
    const gfn = this.#free.pop() ?? this.#next++;
    let frame = this.#frames.get(gfn);
    if (frame === undefined) {
      frame = { buffer: null, lease: undefined };
      this.#frames.set(gfn, frame);
    } else if ((options.zeroed ?? true) && frame.buffer !== null) {
      new Uint8Array(frame.buffer).fill(0);
    }
    const domid = this.domid;
    frame.lease = new AccessLease(() => `d${domid} gfn ${hex(gfn)}`);
    this.#allocated++;
    return gfn;
  }

  /** Allocates `count` frames (e.g. the 2^order pages of a multi-page ring); all or nothing. */
  allocateMany(count: number, options: AllocateOptions = {}): Gfn[] | OutOfMemory {
    if (this.#allocated + count > this.maxFrames) {
      return { kind: "out-of-memory", domid: this.domid, maxFrames: this.maxFrames };
    }
    const out: Gfn[] = [];
    for (let i = 0; i < count; i++) out.push(this.allocate(options) as Gfn);
    return out;
  }

  /**
   * Returns a frame to the allocator. Views obtained from `page(gfn)` become stale; foreign
   * mappings do not (the grantee still holds the page, as in Xen) — the Hypervisor records that
   * as a hazard. Releasing a frame that is not allocated is a caller bug and throws.
   */
  release(gfn: Gfn): void {
    const frame = this.#frames.get(gfn);
    if (frame?.lease === undefined) throw new RangeError(`d${this.domid}: gfn ${hex(gfn)} is not allocated`);
    frame.lease.end("released");
    frame.lease = undefined;
    this.#allocated--;
    this.#free.push(gfn);
    this.#observer?.(this.domid, gfn);
  }

  isAllocated(gfn: Gfn): boolean {
    return this.#frames.get(gfn)?.lease !== undefined;
  }

  /** The owner's writable view of an allocated frame. Throws RangeError if not allocated. */
  page(gfn: Gfn): WritablePage {
    const frame = this.#allocatedFrame(gfn);
    frame.buffer ??= new ArrayBuffer(PAGE_SIZE);
    return new PageView(frame.buffer, frame.lease as AccessLease, true);
  }

  /** A read-only view of an allocated frame (same lifetime as `page`). */
  readOnlyPage(gfn: Gfn): ReadablePage {
    return this.page(gfn).readOnly();
  }

  /**
   * The backing bytes of an allocated frame, or undefined (Xen get_paged_frame failing).
   * Package-internal: the Hypervisor wraps it in a lease of its own for a foreign mapping.
   */
  frameBuffer(gfn: Gfn): ArrayBuffer | undefined {
    const frame = this.#frames.get(gfn);
    if (frame?.lease === undefined) return undefined;
    frame.buffer ??= new ArrayBuffer(PAGE_SIZE);
    return frame.buffer;
  }

  #allocatedFrame(gfn: Gfn): Frame {
    const frame = this.#frames.get(gfn);
    if (frame?.lease === undefined) throw new RangeError(`d${this.domid}: gfn ${hex(gfn)} is not allocated`);
    return frame;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
