// Grantee operations: every check of Xen common/grant_table.c map_grant_ref, unmap_common and
// gnttab_copy_one, with the status it must return.
import { describe, expect, it } from "vitest";
import { DOMID_SELF } from "../domid.ts";
import { StalePageAccessError } from "../memory/access-lease.ts";
import type { Gfn } from "../memory/page.ts";
import { ReadOnlyPageError } from "../memory/page-view.ts";
import {
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_no_device_space,
  GNTST_okay,
  GNTST_permission_denied,
  gntstMessage,
} from "./gnttab-status.ts";
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_readonly,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_writing,
} from "./grant-flags.ts";
import { type GrantCopyOp, Hypervisor, type MapResult } from "./hypervisor.ts";

/** dom0 (backend) and dom1 (frontend) with one granted page. */
function setup(readonly = false, options = {}) {
  const hv = new Hypervisor();
  const back = hv.createDomain(0, options);
  const front = hv.createDomain(1);
  const gfn = front.memory.allocate() as Gfn;
  const ref = front.grantTable.grantForeignAccess(0, gfn, readonly) as number;
  return { hv, back, front, gfn, ref };
}

function ok<P extends import("../memory/page-view.ts").ReadablePage>(r: MapResult<P>) {
  if (r.status !== GNTST_okay) throw new Error(`map failed: ${gntstMessage(r.status)}`);
  return r;
}

describe("Hypervisor.map", () => {
  it("returns a handle and a writable view of the granter's page; sets GTF_reading|GTF_writing", () => {
    const { hv, front, gfn, ref } = setup();
    const m = ok(hv.map(0, 1, ref));
    m.mapping.page.setU32(16, 0xdeadbeef);
    expect(front.memory.page(gfn).getU32(16)).toBe(0xdeadbeef);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_reading | GTF_writing);
    expect(front.grantTable.pins(ref)).toEqual({ readers: 0, writers: 1, grantee: 0, frame: gfn });
    expect(hv.activeMappings(0)).toEqual([
      { grantee: 0, handle: m.handle, granter: 1, ref, readonly: false, frame: gfn },
    ]);
  });

  it("read-only maps set only GTF_reading and give a view that refuses writes", () => {
    const { hv, front, ref } = setup();
    const m = ok(hv.map(0, 1, ref, { readonly: true }));
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_reading);
    expect(m.mapping.page.writable).toBe(false);
    expect(() => (m.mapping.page as unknown as { setU8(o: number, v: number): void }).setU8(0, 1)).toThrow(
      ReadOnlyPageError,
    );
  });

  it("refuses a writable map of a GTF_readonly grant but allows a read-only one", () => {
    const { hv, front, ref } = setup(true);
    expect(hv.map(0, 1, ref).status).toBe(GNTST_general_error);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_readonly); // nothing set
    ok(hv.map(0, 1, ref, { readonly: true }));
    // a first writable pin is re-validated against GTF_readonly even while read pins exist
    expect(hv.map(0, 1, ref).status).toBe(GNTST_general_error);
  });

  it("makes every check Xen makes, in Xen's order", () => {
    const { hv, front, gfn, ref } = setup();
    hv.createDomain(2);
    expect(hv.map(0, 1, ref, { flags: GNTMAP_readonly }).status).toBe(GNTST_bad_gntref); // no host/device map
    expect(hv.map(0, 7, ref).status).toBe(GNTST_bad_domain);
    expect(hv.map(0, 1, front.grantTable.nrEntries).status).toBe(GNTST_bad_gntref);
    expect(hv.map(0, 1, 0xffffffff).status).toBe(GNTST_bad_gntref);
    expect(hv.map(2, 1, ref).status).toBe(GNTST_general_error); // entry names dom0
    expect(hv.map(0, 1, 9).status).toBe(GNTST_general_error); // GTF_invalid
    const ref2 = front.grantTable.allocRef() as number;
    front.grantTable.writeEntry(ref2, { domid: 0, frame: gfn, flags: GTF_permit_access | GTF_sub_page });
    expect(hv.map(0, 1, ref2).status).toBe(GNTST_general_error); // sub-page grants are copy-only
    const ref3 = front.grantTable.grantForeignAccess(0, 0xdead, false) as number;
    expect(hv.map(0, 1, ref3).status).toBe(GNTST_bad_page);
    expect(front.grantTable.readEntry(ref3).flags).toBe(GTF_permit_access); // status bits rolled back
    // once pinned by dom0, dom2 cannot map it even if the granter rewrites the entry for dom2
    ok(hv.map(0, 1, ref));
    front.grantTable.writeEntry(ref, { domid: 2 });
    expect(hv.map(2, 1, ref).status).toBe(GNTST_general_error);
  });

  it("runs out of maptrack handles with GNTST_no_device_space", () => {
    const { hv, ref } = setup(false, { maxMaptrackEntries: 2 });
    ok(hv.map(0, 1, ref));
    ok(hv.map(0, 1, ref));
    expect(hv.map(0, 1, ref).status).toBe(GNTST_no_device_space);
  });

  it("refuses a pin once a count would overflow (act->pin & 0x80808080)", () => {
    const { hv, ref } = setup();
    for (let i = 0; i < 127; i++) ok(hv.map(0, 1, ref, { readonly: true }));
    expect(hv.map(0, 1, ref, { readonly: true }).status).toBe(GNTST_general_error);
  });

  it("keeps the frame captured at first pin even if the granter rewrites the entry", () => {
    const { hv, front, gfn, ref } = setup();
    const m1 = ok(hv.map(0, 1, ref));
    const other = front.memory.allocate() as Gfn;
    front.grantTable.writeEntry(ref, { frame: other });
    const m2 = ok(hv.map(0, 1, ref));
    expect(m2.mapping.frame).toBe(gfn);
    m1.mapping.page.setU8(0, 9);
    expect(m2.mapping.page.getU8(0)).toBe(9);
  });
});

describe("Hypervisor.unmap", () => {
  it("unpins, clears the status bits Xen clears, and revokes the view", () => {
    const { hv, front, ref } = setup();
    const rw = ok(hv.map(0, 1, ref));
    const ro = ok(hv.map(0, 1, ref, { readonly: true }));
    expect(hv.unmap(0, rw.handle)).toBe(GNTST_okay);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_reading); // last writer gone
    expect(rw.mapping.live).toBe(false);
    expect(() => rw.mapping.page.getU8(0)).toThrow(StalePageAccessError);
    expect(ro.mapping.page.getU8(0)).toBe(0);
    expect(hv.unmap(0, ro.handle)).toBe(GNTST_okay);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access);
    expect(hv.activeMappings()).toEqual([]);
    expect(front.grantTable.pinnedRefs()).toEqual([]);
  });

  it("answers GNTST_bad_handle for unknown, stale or foreign handles and changes nothing", () => {
    const { hv, front, ref } = setup();
    hv.createDomain(2);
    const m = ok(hv.map(0, 1, ref));
    expect(hv.unmap(0, m.handle + 1)).toBe(GNTST_bad_handle);
    expect(hv.unmap(0, -1)).toBe(GNTST_bad_handle);
    expect(hv.unmap(0, 0.5)).toBe(GNTST_bad_handle);
    expect(hv.unmap(2, m.handle)).toBe(GNTST_bad_handle); // handles are per grantee
    expect(hv.unmap(0, m.handle)).toBe(GNTST_okay);
    expect(hv.unmap(0, m.handle)).toBe(GNTST_bad_handle);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access);
  });

  it("flags a frame released while still mapped (XSA-396) and while still granted", () => {
    const { hv, front, gfn, ref } = setup();
    const m = ok(hv.map(0, 1, ref));
    const g2 = front.memory.allocate() as Gfn;
    front.grantTable.grantForeignAccess(0, g2, false);
    front.memory.release(gfn);
    front.memory.release(g2);
    // LIFO reuse: g2, then the still-mapped frame comes back, and the backend sees its new contents.
    expect(front.memory.allocate()).toBe(g2);
    expect(front.memory.allocate()).toBe(gfn);
    front.memory.page(gfn).setU32(0, 0x5ec12e7);
    expect(m.mapping.page.getU32(0)).toBe(0x5ec12e7);
    expect(hv.hazards()).toEqual([
      { kind: "frame-released-while-pinned", domid: 1, gfn, refs: [ref] },
      { kind: "frame-released-while-granted", domid: 1, gfn: g2, refs: [ref + 1] },
    ]);
  });
});

describe("Hypervisor.copy", () => {
  const copyOp = (over: Partial<GrantCopyOp> & Pick<GrantCopyOp, "source" | "dest">): GrantCopyOp => ({
    len: 8,
    flags: GNTCOPY_source_gref,
    ...over,
  });

  it("copies from a granted page into the caller's own frame and leaves no pin behind", () => {
    const { hv, back, front, gfn, ref } = setup();
    front.memory.page(gfn).copyIn(100, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 0, 8);
    const mine = back.memory.allocate() as Gfn;
    const st = hv.copy(0, [
      copyOp({
        source: { ref, domid: 1, offset: 100 },
        dest: { gfn: mine, domid: DOMID_SELF, offset: 4000 },
      }),
    ]);
    expect(st).toEqual([GNTST_okay]);
    expect([...back.memory.page(mine).readBytes(4000, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access);
    expect(front.grantTable.pinnedRefs()).toEqual([]);
  });

  it("reports a status per element, checking in gnttab_copy_one's order", () => {
    const { hv, back, front, ref } = setup();
    const ro = front.grantTable.grantForeignAccess(0, front.memory.allocate() as Gfn, true) as number;
    const mine = back.memory.allocate() as Gfn;
    const self = { gfn: mine, domid: DOMID_SELF, offset: 0 };
    const src = { ref, domid: 1, offset: 0 };
    const st = hv.copy(0, [
      copyOp({ source: { gfn: mine, domid: 0, offset: 0 }, dest: self, flags: 0 }), // frame but not DOMID_SELF
      copyOp({ source: { ref, domid: 9, offset: 0 }, dest: self }),
      copyOp({ source: { ref: 99999, domid: 1, offset: 0 }, dest: self }),
      copyOp({ source: { ref: 77, domid: 1, offset: 0 }, dest: self }), // invalid entry
      copyOp({
        source: src,
        dest: { ref: ro, domid: 1, offset: 0 },
        flags: GNTCOPY_source_gref | GNTCOPY_dest_gref,
      }),
      copyOp({ source: src, dest: { gfn: 0xbad, domid: DOMID_SELF, offset: 0 } }),
      copyOp({ source: { ref, domid: 1, offset: 4090 }, dest: self }),
      copyOp({ source: src, dest: { ...self, offset: 4089 } }),
      copyOp({ source: { ref: 99999, domid: 1, offset: 4095 }, dest: self }), // ref checked before bounds
      copyOp({ source: src, dest: self, len: 0 }),
      copyOp({
        source: src,
        dest: { ref: ro, domid: 1, offset: 0 },
        flags: GNTCOPY_source_gref | GNTCOPY_dest_gref,
        len: 0,
      }),
    ]);
    expect(st).toEqual([
      GNTST_permission_denied,
      GNTST_bad_domain,
      GNTST_bad_gntref,
      GNTST_general_error,
      GNTST_general_error, // dest on a GTF_readonly entry
      GNTST_bad_page,
      GNTST_bad_copy_arg,
      GNTST_bad_copy_arg,
      GNTST_bad_gntref,
      GNTST_okay,
      GNTST_general_error, // len 0 is still fully checked (no early exit in Xen)
    ]);
    expect(front.grantTable.pinnedRefs()).toEqual([]);
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access);
  });

  it("copies between two grants of other domains on a mapped page without disturbing the map's pin", () => {
    const { hv, back, front, gfn, ref } = setup();
    const m = ok(hv.map(0, 1, ref));
    const dstGfn = front.memory.allocate() as Gfn;
    const dstRef = front.grantTable.grantForeignAccess(0, dstGfn, false) as number;
    front.memory.page(gfn).setU32(0, 0xcafe);
    const st = hv.copy(0, [
      { source: { ref, domid: 1, offset: 0 }, dest: { ref: dstRef, domid: 1, offset: 8 }, len: 4, flags: 3 },
    ]);
    expect(st).toEqual([GNTST_okay]);
    expect(front.memory.page(dstGfn).getU32(8)).toBe(0xcafe);
    expect(front.grantTable.pins(ref)).toMatchObject({ writers: 1, readers: 0 });
    expect(front.grantTable.readEntry(ref).flags).toBe(GTF_permit_access | GTF_reading | GTF_writing);
    expect(front.grantTable.readEntry(dstRef).flags).toBe(GTF_permit_access);
    expect(back.memory.allocatedCount).toBe(0);
    hv.unmap(0, m.handle);
  });
});
