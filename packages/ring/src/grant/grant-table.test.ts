import { describe, expect, it } from "vitest";
import type { Gfn } from "../memory/page.ts";
import { GNTST_okay } from "./gnttab-status.ts";
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_RESERVED_XENSTORE,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from "./grant-flags.ts";
import { Hypervisor } from "./hypervisor.ts";

describe("GrantTable (granter side)", () => {
  it("stores real 8-byte entries in its frames: flags @0, domid @2, frame @4", () => {
    const hv = new Hypervisor();
    const d1 = hv.createDomain(1);
    const gfn = d1.memory.allocate() as Gfn;
    const ref = d1.grantTable.grantForeignAccess(0, gfn, true) as number;
    const raw = d1.grantTable.frame(0);
    expect(raw.getU16(ref * 8)).toBe(GTF_permit_access | GTF_readonly);
    expect(raw.getU16(ref * 8 + 2)).toBe(0);
    expect(raw.getU32(ref * 8 + 4)).toBe(gfn);
    raw.setU16(ref * 8 + 2, 5); // the guest writes its own frames directly
    expect(d1.grantTable.readEntry(ref).domid).toBe(5);
  });

  it("never hands out refs 0-7, grows frame by frame and reports exhaustion as a value", () => {
    const hv = new Hypervisor();
    const gt = hv.createDomain(1, { grantTable: { initialFrames: 1, maxFrames: 2 } }).grantTable;
    const refs: number[] = [];
    for (;;) {
      const r = gt.allocRef();
      if (typeof r !== "number") {
        expect(r).toEqual({ kind: "grant-refs-exhausted", domid: 1, entries: 1024 });
        break;
      }
      refs.push(r);
    }
    expect(refs[0]).toBe(GNTTAB_NR_RESERVED_ENTRIES);
    expect(refs).toHaveLength(1024 - GNTTAB_NR_RESERVED_ENTRIES);
    expect(new Set(refs).size).toBe(refs.length);
    expect(Math.min(...refs)).toBe(8);
    expect(gt.nrFrames).toBe(2);
    gt.freeRef(300);
    expect(gt.allocRef()).toBe(300);
    expect(() => gt.freeRef(3)).toThrow(RangeError);
  });

  it("end access fails while a grantee maps the page and succeeds after unmap (gnttab_end_foreign_access_ref)", () => {
    const hv = new Hypervisor();
    const front = hv.createDomain(1);
    hv.createDomain(0);
    const gfn = front.memory.allocate() as Gfn;
    const ref = front.grantTable.grantForeignAccess(0, gfn, false) as number;
    const m = hv.map(0, 1, ref);
    if (m.status !== GNTST_okay) throw new Error("map failed");
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_reading | GTF_writing);
    expect(front.grantTable.endForeignAccessRef(ref)).toBe(false);
    expect(front.grantTable.readEntry(ref).flags & GTF_permit_access).toBe(GTF_permit_access);
    expect(hv.unmap(0, m.handle)).toBe(GNTST_okay);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access);
    expect(front.grantTable.tryEndForeignAccess(ref)).toBe(true);
    expect(front.grantTable.readEntry(ref).flags).toBe(0);
    expect(front.grantTable.isAllocated(ref)).toBe(false);
  });

  it("defers revocation of a still-mapped grant and frees ref and page only once revoked", () => {
    const hv = new Hypervisor();
    const front = hv.createDomain(1);
    hv.createDomain(0);
    const gfn = front.memory.allocate() as Gfn;
    const ref = front.grantTable.grantForeignAccess(0, gfn, false) as number;
    const m = hv.map(0, 1, ref);
    if (m.status !== GNTST_okay) throw new Error("map failed");
    expect(front.grantTable.endForeignAccess(ref, gfn)).toBe("deferred");
    expect(front.grantTable.retryDeferred()).toBe(1);
    expect(front.memory.isAllocated(gfn)).toBe(true);
    hv.unmap(0, m.handle);
    expect(front.grantTable.retryDeferred()).toBe(0);
    expect(front.memory.isAllocated(gfn)).toBe(false);
    expect(front.grantTable.isAllocated(ref)).toBe(false);
    expect(hv.hazards()).toEqual([]);
  });

  it("lets the toolstack seed the reserved XenStore entry that xenstored maps", () => {
    const hv = new Hypervisor();
    const guest = hv.createDomain(5);
    hv.createDomain(0);
    const gfn = guest.memory.allocate() as Gfn;
    guest.grantTable.seedReservedEntry(GNTTAB_RESERVED_XENSTORE, 0, gfn);
    const m = hv.map(0, 5, GNTTAB_RESERVED_XENSTORE);
    expect(m.status).toBe(GNTST_okay);
    expect(() => guest.grantTable.seedReservedEntry(8, 0, gfn)).toThrow(RangeError);
  });
});
