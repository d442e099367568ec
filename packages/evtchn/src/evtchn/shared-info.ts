/**
 * The part of `struct shared_info` (xen/include/public/xen.h) that the 2-level event channel ABI
 * uses, laid out in a real 4 KiB page at the x86_64 offsets:
 *   vcpu_info[32] @0 (64 bytes each): evtchn_upcall_pending u8 @0, evtchn_upcall_mask u8 @1,
 *                                     evtchn_pending_sel u64 @8
 *   evtchn_pending[64] u64 @2048, evtchn_mask[64] u64 @2560
 * Bit n of a little-endian u64 bitmap is bit (n & 7) of byte (n >> 3), so a bitmap is a byte array.
 */
export const SHARED_INFO_LAYOUT = {
  vcpuInfoSize: 64,
  maxVcpus: 32,
  upcallPending: 0,
  upcallMask: 1,
  pendingSel: 8,
  evtchnPending: 2048,
  evtchnMask: 2560,
  size: 3136,
} as const;

export const EVTCHN_2L_NR_CHANNELS = 4096;

export class SharedInfo {
  /** The page as the guest sees it (it may write here directly, as Linux does for the mask bits). */
  readonly page = new Uint8Array(4096);

  private testBit(base: number, n: number): boolean {
    return (this.page[base + (n >> 3)]! & (1 << (n & 7))) !== 0;
  }
  /** Sets bit n; returns its old value (test_and_set_bit). */
  private testAndSetBit(base: number, n: number): boolean {
    const i = base + (n >> 3);
    const m = 1 << (n & 7);
    const old = (this.page[i]! & m) !== 0;
    this.page[i] = this.page[i]! | m;
    return old;
  }
  /** Clears bit n; returns its old value (test_and_clear_bit). */
  private testAndClearBit(base: number, n: number): boolean {
    const i = base + (n >> 3);
    const m = 1 << (n & 7);
    const old = (this.page[i]! & m) !== 0;
    this.page[i] = this.page[i]! & ~m;
    return old;
  }

  isPending(port: number): boolean {
    return this.testBit(SHARED_INFO_LAYOUT.evtchnPending, port);
  }
  testAndSetPending(port: number): boolean {
    return this.testAndSetBit(SHARED_INFO_LAYOUT.evtchnPending, port);
  }
  clearPending(port: number): boolean {
    return this.testAndClearBit(SHARED_INFO_LAYOUT.evtchnPending, port);
  }
  isMasked(port: number): boolean {
    return this.testBit(SHARED_INFO_LAYOUT.evtchnMask, port);
  }
  setMask(port: number): boolean {
    return this.testAndSetBit(SHARED_INFO_LAYOUT.evtchnMask, port);
  }
  clearMask(port: number): boolean {
    return this.testAndClearBit(SHARED_INFO_LAYOUT.evtchnMask, port);
  }

  private vcpuBase(vcpu: number): number {
    return vcpu * SHARED_INFO_LAYOUT.vcpuInfoSize;
  }
  /** Sets selector bit `word` of vcpu's evtchn_pending_sel; returns the old bit. */
  testAndSetSelector(vcpu: number, word: number): boolean {
    return this.testAndSetBit(this.vcpuBase(vcpu) + SHARED_INFO_LAYOUT.pendingSel, word);
  }
  /** xchg(&vcpu_info->evtchn_pending_sel, 0): returns the 64 selector bits as a byte array. */
  takeSelector(vcpu: number): Uint8Array {
    const sel = new Uint8Array(8);
    this.takeSelectorInto(vcpu, sel);
    return sel;
  }
  /** `takeSelector` into the caller's 8 bytes (the upcall's hot path allocates nothing). */
  takeSelectorInto(vcpu: number, out: Uint8Array): void {
    const at = this.vcpuBase(vcpu) + SHARED_INFO_LAYOUT.pendingSel;
    const page = this.page;
    for (let b = 0; b < 8; b++) {
      out[b] = page[at + b]!;
      page[at + b] = 0;
    }
  }
  upcallPending(vcpu: number): boolean {
    return this.page[this.vcpuBase(vcpu) + SHARED_INFO_LAYOUT.upcallPending] !== 0;
  }
  setUpcallPending(vcpu: number, v: boolean): void {
    this.page[this.vcpuBase(vcpu) + SHARED_INFO_LAYOUT.upcallPending] = v ? 1 : 0;
  }
  upcallMasked(vcpu: number): boolean {
    return this.page[this.vcpuBase(vcpu) + SHARED_INFO_LAYOUT.upcallMask] !== 0;
  }
  /**
   * Ports pending and not masked among 32 of one selector word's 64 (`half` 0: ports word*64 + 0..31,
   * 1: + 32..63), as a bit mask: bit i = port word*64 + half*32 + i.
   */
  deliverableBits(word: number, half: number): number {
    const p = SHARED_INFO_LAYOUT.evtchnPending + word * 8 + half * 4;
    const m = SHARED_INFO_LAYOUT.evtchnMask + word * 8 + half * 4;
    const page = this.page;
    let bits = 0;
    for (let b = 3; b >= 0; b--) bits = (bits << 8) | (page[p + b]! & ~page[m + b]!);
    return bits >>> 0;
  }
  /** Ports pending and not masked within one selector word (64 ports). */
  deliverableInWord(word: number): number[] {
    const out: number[] = [];
    const p = SHARED_INFO_LAYOUT.evtchnPending + word * 8;
    const m = SHARED_INFO_LAYOUT.evtchnMask + word * 8;
    for (let b = 0; b < 8; b++) {
      const bits = this.page[p + b]! & ~this.page[m + b]!;
      if (bits === 0) continue;
      for (let k = 0; k < 8; k++) if (bits & (1 << k)) out.push(word * 64 + b * 8 + k);
    }
    return out;
  }
}
