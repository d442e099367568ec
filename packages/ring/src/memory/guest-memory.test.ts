import { describe, expect, it } from "vitest";
import { StalePageAccessError } from "./access-lease.ts";
import { OutOfBoundsError } from "./byte-access.ts";
import { GuestMemory } from "./guest-memory.ts";
import type { Gfn } from "./page.ts";
import { ReadOnlyPageError } from "./page-view.ts";

describe("GuestMemory", () => {
  it("allocates zeroed 4 KiB frames with distinct GFNs and little-endian views", () => {
    const mem = new GuestMemory(3);
    const a = mem.allocate() as Gfn;
    const b = mem.allocate() as Gfn;
    expect(a).not.toBe(b);
    const p = mem.page(a);
    expect(p.byteLength).toBe(4096);
    p.setU32(0, 0x11223344);
    expect(p.getU8(0)).toBe(0x44);
    expect(p.getU16(2)).toBe(0x1122);
    p.setU16(4, -1);
    expect(p.getI16(4)).toBe(-1);
    expect(p.getU16(4)).toBe(0xffff);
    p.setU64(8, -1n);
    expect(p.getU64(8)).toBe(2n ** 64n - 1n);
    expect(mem.page(b).getU32(0)).toBe(0);
    expect(mem.allocatedCount).toBe(2);
  });

  it("reuses released frames last-in first-out; scrubs unless asked not to", () => {
    const mem = new GuestMemory(1);
    const a = mem.allocate() as Gfn;
    mem.page(a).setU8(7, 0xaa);
    mem.release(a);
    const again = mem.allocate({ zeroed: false }) as Gfn;
    expect(again).toBe(a);
    expect(mem.page(again).getU8(7)).toBe(0xaa); // stale data, as a real allocator leaves it
    mem.release(again);
    expect(mem.page(mem.allocate() as Gfn).getU8(7)).toBe(0);
  });

  it("reports exhaustion as a value, not an exception", () => {
    const mem = new GuestMemory(9, { maxFrames: 2 });
    expect(mem.allocateMany(2)).toHaveLength(2);
    expect(mem.allocate()).toEqual({ kind: "out-of-memory", domid: 9, maxFrames: 2 });
    expect(mem.allocateMany(1)).toMatchObject({ kind: "out-of-memory" });
  });

  it("makes the owner's views stale once the frame is released", () => {
    const mem = new GuestMemory(1);
    const g = mem.allocate() as Gfn;
    const view = mem.page(g);
    mem.release(g);
    expect(view.live).toBe(false);
    expect(() => view.getU8(0)).toThrow(StalePageAccessError);
    expect(() => view.setU8(0, 1)).toThrow(StalePageAccessError);
    expect(() => mem.page(g)).toThrow(RangeError);
    expect(() => mem.release(g)).toThrow(RangeError);
  });

  it("a read-only view cannot be written through, even with its type cast away", () => {
    const mem = new GuestMemory(1);
    const g = mem.allocate() as Gfn;
    mem.page(g).setU32(100, 42);
    const ro = mem.readOnlyPage(g);
    expect(ro.writable).toBe(false);
    expect(ro.getU32(100)).toBe(42);
    const forced = ro as unknown as { setU32(o: number, v: number): void; fill(v: number): void };
    expect(() => forced.setU32(100, 7)).toThrow(ReadOnlyPageError);
    expect(() => forced.fill(0xff)).toThrow(ReadOnlyPageError);
    expect(ro.getU32(100)).toBe(42);
    const copy = ro.readBytes(100, 4);
    copy[0] = 0;
    expect(ro.getU32(100)).toBe(42); // readBytes hands out private memory
  });

  it("never reads or writes outside the page", () => {
    const mem = new GuestMemory(1);
    const p = mem.page(mem.allocate() as Gfn);
    expect(() => p.getU32(4093)).toThrow(RangeError);
    expect(() => p.setU8(4096, 1)).toThrow(RangeError);
    expect(() => p.readBytes(4000, 97)).toThrow(OutOfBoundsError);
    expect(() => p.copyIn(-1, new Uint8Array(1), 0, 1)).toThrow(OutOfBoundsError);
  });
});
