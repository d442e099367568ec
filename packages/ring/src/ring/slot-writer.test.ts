// Slot cursors and stale mappings: the cursor folds its lease check into its bounds check, so
// these pin down that a revoked page is still never touched silently — through a cursor taken
// before the revocation, on a ring built over an already-stale page, and (multi-page rings) that
// a live page keeps working when another page of the same ring was revoked.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GNTST_okay } from "../grant/gnttab-status.ts";
import { Hypervisor } from "../grant/hypervisor.ts";
import { StalePageAccessError } from "../memory/access-lease.ts";
import { OutOfBoundsError } from "../memory/byte-access.ts";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { BackRing } from "./back-ring.ts";
import { FrontRing } from "./front-ring.ts";
import { PageSequence } from "./page-sequence.ts";
import { BLKIF_REQUEST_X86_64, BLKIF_RING_X86_64 } from "./protocols/blkif.ts";
import { NETIF_TX_RING } from "./protocols/netif.ts";
import type { SlotWriter } from "./slot-writer.ts";

function mappedBack() {
  const hv = new Hypervisor();
  const fe = hv.createDomain(1);
  hv.createDomain(0);
  const gfn = fe.memory.allocate() as Gfn;
  const ref = fe.grantTable.grantForeignAccess(0, gfn, false) as number;
  const front = FrontRing.init(PageSequence.of([fe.memory.page(gfn)]), NETIF_TX_RING);
  const m = hv.map(0, 1, ref);
  if (m.status !== GNTST_okay) throw new Error("map failed");
  const back = BackRing.attach(PageSequence.of([m.mapping.page]), NETIF_TX_RING);
  return { hv, front, back, handle: m.handle, mapping: m.mapping };
}

const EVERY_ACCESS: [string, (w: SlotWriter) => unknown][] = [
  ["getU8", (w) => w.getU8(0)],
  ["getI8", (w) => w.getI8(0)],
  ["getU16", (w) => w.getU16(0)],
  ["getI16", (w) => w.getI16(2)],
  ["getU32", (w) => w.getU32(0)],
  ["getI32", (w) => w.getI32(0)],
  ["setU8", (w) => w.setU8(0, 1)],
  ["setU16", (w) => w.setU16(0, 1)],
  ["setU32", (w) => w.setU32(0, 1)],
];

describe("slot cursors over stale mappings", () => {
  it("a response cursor taken before the unmap throws on every later access", () => {
    const { hv, front, back, handle } = mappedBack();
    front.writeRequest({ id: 1 });
    front.pushRequests();
    back.unconsumedRequests();
    const rq = back.requestSnapshot();
    expect(back.takeRequest(rq)).toBe(true);
    const w = back.nextResponse() as SlotWriter;
    w.setU16(0, 1); // live: fine
    hv.unmap(0, handle);
    for (const [name, access] of EVERY_ACCESS) expect(() => access(w), name).toThrow(StalePageAccessError);
    // Bounds errors on a stale page still report the stale page first.
    expect(() => w.setU16(100, 1)).toThrow(StalePageAccessError);
  });

  it("a ring attached over an already-revoked page throws on its first slot access", () => {
    const { hv, mapping, handle } = mappedBack();
    hv.unmap(0, handle);
    const back = BackRing.attach(PageSequence.of([mapping.page]), NETIF_TX_RING);
    expect(() => back.unconsumedRequests()).toThrow(StalePageAccessError);
  });

  it("a front end's request cursor throws once its own page is released", () => {
    const mem = new GuestMemory(1);
    const gfn = mem.allocate() as Gfn;
    const front = FrontRing.init(PageSequence.of([mem.page(gfn)]), BLKIF_RING_X86_64);
    const w = front.nextRequest() as SlotWriter;
    w.setU32(BLKIF_REQUEST_X86_64.fields.id.offset, 5);
    mem.release(gfn);
    expect(() => w.setU32(BLKIF_REQUEST_X86_64.fields.id.offset, 6)).toThrow(StalePageAccessError);
    expect(() => w.getU8(0)).toThrow(StalePageAccessError);
  });

  it("in a multi-page ring, slots on live pages keep working when another page was released", () => {
    const mem = new GuestMemory(1);
    const gfns = mem.allocateMany(2) as Gfn[];
    const seq = PageSequence.of(gfns.map((g) => mem.page(g)));
    const front = FrontRing.init(seq, NETIF_TX_RING);
    const w = front.nextRequest() as SlotWriter; // slot 0: page 0
    mem.release(gfns[1] as Gfn);
    w.setU16(8, 0xbeef);
    expect(w.getU16(8)).toBe(0xbeef);
    expect(w.getI16(8)).toBe(0xbeef - 0x10000);
    expect(() => w.setU16(11, 1)).toThrow(OutOfBoundsError);
    expect(() => w.getU32(-1)).toThrow(OutOfBoundsError);
    // Slot 340 is the first slot wholly on page 1 ((4096 - 64) / 12 = 336 slots fit on page 0).
    for (let i = 1; i < 341; i++) front.nextRequest();
    const onPage1 = front.nextRequest() as SlotWriter;
    expect(() => onPage1.setU16(0, 1)).toThrow(StalePageAccessError);
  });

  it("bounds are still enforced on live pages", () => {
    const mem = new GuestMemory(1);
    const front = FrontRing.init(PageSequence.of([mem.page(mem.allocate() as Gfn)]), NETIF_TX_RING);
    const w = front.nextRequest() as SlotWriter;
    expect(() => w.setU32(9, 1)).toThrow(OutOfBoundsError);
    expect(() => w.setU16(-2, 1)).toThrow(OutOfBoundsError);
    expect(() => w.getU8(12)).toThrow(OutOfBoundsError);
    expect(() => w.getU64(8)).toThrow(OutOfBoundsError);
    w.setU32(8, 0x12345678);
    expect([w.getU16(8), w.getU16(10)]).toEqual([0x5678, 0x1234]);
  });

  it("unaligned and signed accesses (the DataView slow path) agree with the page bytes", () => {
    fc.assert(
      fc.property(fc.nat({ max: 8 }), fc.nat({ max: 2 ** 32 - 1 }), (o, v) => {
        const mem = new GuestMemory(1);
        const seq = PageSequence.of([mem.page(mem.allocate() as Gfn)]);
        const front = FrontRing.init(seq, NETIF_TX_RING);
        front.nextRequest();
        const w = front.nextRequest() as SlotWriter; // slot 1: bytes 76..87 of the page
        const at = 64 + 12;
        w.setU32(o, v);
        expect(seq.getU32(at + o)).toBe(v);
        expect(w.getU32(o)).toBe(v);
        expect(w.getI32(o)).toBe(v | 0);
        expect(w.getU16(o)).toBe(v & 0xffff);
        expect(w.getI16(o)).toBe(((v & 0xffff) << 16) >> 16);
        expect(w.getU8(o + 3)).toBe(v >>> 24);
        expect(w.getI8(o + 3)).toBe(((v >>> 24) << 24) >> 24);
        w.setU16(o + 1, v);
        expect(seq.getU16(at + o + 1)).toBe(v & 0xffff);
        w.setU8(o, -1);
        expect(seq.getU8(at + o)).toBe(0xff);
        expect(seq.getU32(at - 4)).toBe(0); // the slot before is untouched
        expect(seq.getU32(at + 12)).toBe(0); // and the slot after
      }),
    );
  });
});
