// Model-based property test of grant-table state: random grant / end-access / map / unmap / copy
// sequences, with a misbehaving granter that rewrites entry flags, against a small model of the
// shared entries, Xen's status bits and the pin counts. Checked after every command.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StalePageAccessError } from "../memory/access-lease.ts";
import type { Gfn } from "../memory/page.ts";
import type { ForeignMapping } from "./foreign-mapping.ts";
import { GNTST_bad_handle, GNTST_general_error, GNTST_okay } from "./gnttab-status.ts";
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_type_mask,
  GTF_writing,
} from "./grant-flags.ts";
import { Hypervisor } from "./hypervisor.ts";

const GRANTER = 1;
const GRANTEES = [0, 2] as const;
const STATUS = GTF_reading | GTF_writing;

interface Pin {
  grantee: number;
  readers: number;
  writers: number;
}
interface Model {
  refs: number[];
  flags: Map<number, number>; // the whole shared flags word, as Xen would leave it
  domid: Map<number, number>;
  pins: Map<number, Pin>;
  mappings: { grantee: number; handle: number; ref: number; ro: boolean; mapping: ForeignMapping }[];
  hostile: boolean; // the granter has scribbled on flags: status bits may legitimately disagree with pins
}
interface Real {
  hv: Hypervisor;
  frames: Gfn[];
  scratch: Map<number, Gfn>; // a private frame per grantee, for copies
}

/** Xen's pin rule shared by map and copy (map_grant_ref / acquire_grant_for_copy + _set_status_v1). */
function expectPin(m: Model, ref: number, grantee: number, ro: boolean, isMap: boolean): number {
  const act = m.pins.get(ref);
  if (act && (act.grantee !== grantee || act.readers >= 127 || act.writers >= 127)) {
    return GNTST_general_error;
  }
  const flags = m.flags.get(ref) ?? 0;
  if (!act || (!ro && act.writers === 0)) {
    const mask = isMap ? GTF_type_mask | GTF_sub_page : GTF_type_mask; // sub-page matters only to maps
    if (!act && ((flags & mask) !== GTF_permit_access || m.domid.get(ref) !== grantee)) {
      return GNTST_general_error;
    }
    if (!ro && flags & GTF_readonly) return GNTST_general_error;
    m.flags.set(ref, flags | GTF_reading | (ro ? 0 : GTF_writing));
  }
  const p = act ?? { grantee, readers: 0, writers: 0 };
  if (ro) p.readers++;
  else p.writers++;
  m.pins.set(ref, p);
  return GNTST_okay;
}

function dropPin(m: Model, ref: number, ro: boolean): void {
  const p = m.pins.get(ref) as Pin;
  if (ro) p.readers--;
  else p.writers--;
  let clear = 0;
  if (!ro && p.writers === 0) clear |= GTF_writing;
  if (p.readers + p.writers === 0) {
    clear |= GTF_reading;
    m.pins.delete(ref);
  }
  m.flags.set(ref, (m.flags.get(ref) ?? 0) & ~clear);
}

function checkInvariants(m: Model, r: Real): void {
  const gt = r.hv.grantTable(GRANTER);
  for (const ref of m.refs) {
    expect(gt.readEntry(ref).flags).toBe(m.flags.get(ref) ?? 0);
    const p = m.pins.get(ref);
    expect(gt.pins(ref)).toMatchObject(
      p ? { readers: p.readers, writers: p.writers, grantee: p.grantee } : { readers: 0, writers: 0 },
    );
    if (!m.hostile) {
      // GTF_reading/GTF_writing mirror the pin counts exactly.
      expect((gt.readEntry(ref).flags & GTF_reading) !== 0).toBe(p !== undefined);
      expect((gt.readEntry(ref).flags & GTF_writing) !== 0).toBe((p?.writers ?? 0) > 0);
    }
  }
  expect(r.hv.activeMappings().length).toBe(m.mappings.length);
  expect(gt.pinnedRefs()).toEqual([...m.pins.keys()].sort((a, b) => a - b));
}

type Cmd = fc.Command<Model, Real>;

const grant = (grantee: number, frame: number, ro: boolean): Cmd => ({
  check: (m) => m.refs.length < 12,
  run(m, r) {
    const ref = r.hv.grantTable(GRANTER).grantForeignAccess(grantee, r.frames[frame] as Gfn, ro) as number;
    m.refs.push(ref);
    m.flags.set(ref, GTF_permit_access | (ro ? GTF_readonly : 0));
    m.domid.set(ref, grantee);
    checkInvariants(m, r);
  },
  toString: () => `grant(d${grantee}, frame ${frame}, ${ro ? "ro" : "rw"})`,
});

const endAccess = (i: number): Cmd => ({
  check: (m) => m.refs.length > 0,
  run(m, r) {
    const ref = m.refs[i % m.refs.length] as number;
    const inUse = ((m.flags.get(ref) ?? 0) & STATUS) !== 0;
    expect(r.hv.grantTable(GRANTER).endForeignAccessRef(ref)).toBe(!inUse);
    if (!inUse) m.flags.set(ref, 0);
    checkInvariants(m, r);
  },
  toString: () => `endAccess(#${i})`,
});

const map = (gi: number, i: number, ro: boolean): Cmd => ({
  check: (m) => m.refs.length > 0,
  run(m, r) {
    const grantee = GRANTEES[gi] as number;
    const ref = m.refs[i % m.refs.length] as number;
    const want = expectPin(m, ref, grantee, ro, true);
    const got = r.hv.map(grantee, GRANTER, ref, { readonly: ro });
    expect(got.status).toBe(want);
    if (got.status === GNTST_okay)
      m.mappings.push({ grantee, handle: got.handle, ref, ro, mapping: got.mapping });
    checkInvariants(m, r);
  },
  toString: () => `map(d${GRANTEES[gi]}, #${i}, ${ro ? "ro" : "rw"})`,
});

const unmap = (i: number, bogus: boolean): Cmd => ({
  check: () => true,
  run(m, r) {
    if (bogus || m.mappings.length === 0) {
      expect(r.hv.unmap(0, 1000 + i)).toBe(GNTST_bad_handle);
    } else {
      const [mp] = m.mappings.splice(i % m.mappings.length, 1);
      if (mp === undefined) return;
      expect(r.hv.unmap(mp.grantee, mp.handle)).toBe(GNTST_okay);
      dropPin(m, mp.ref, mp.ro);
      expect(() => mp.mapping.page.getU8(0)).toThrow(StalePageAccessError);
    }
    checkInvariants(m, r);
  },
  toString: () => `unmap(#${i}${bogus ? ", bogus" : ""})`,
});

const copy = (gi: number, i: number, intoGrant: boolean): Cmd => ({
  check: (m) => m.refs.length > 0,
  run(m, r) {
    const grantee = GRANTEES[gi] as number;
    const ref = m.refs[i % m.refs.length] as number;
    const ro = !intoGrant;
    const want = expectPin(m, ref, grantee, ro, false);
    if (want === GNTST_okay) dropPin(m, ref, ro);
    const mine = { gfn: r.scratch.get(grantee) as Gfn, domid: 0x7ff0, offset: 0 };
    const theirs = { ref, domid: GRANTER, offset: 0 };
    const [st] = r.hv.copy(grantee, [
      intoGrant
        ? { source: mine, dest: theirs, len: 64, flags: GNTCOPY_dest_gref }
        : { source: theirs, dest: mine, len: 64, flags: GNTCOPY_source_gref },
    ]);
    expect(st).toBe(want);
    checkInvariants(m, r);
  },
  toString: () => `copy(d${GRANTEES[gi]}, #${i}, ${intoGrant ? "into grant" : "from grant"})`,
});

const scribbleFlags = (i: number, flags: number): Cmd => ({
  check: (m) => m.refs.length > 0,
  run(m, r) {
    const ref = m.refs[i % m.refs.length] as number;
    r.hv.grantTable(GRANTER).writeEntry(ref, { flags });
    m.flags.set(ref, flags);
    m.hostile = true;
    checkInvariants(m, r);
  },
  toString: () => `scribbleFlags(#${i}, 0x${flags.toString(16)})`,
});

const commands = (hostile: boolean) => {
  const idx = fc.nat({ max: 20 });
  const arbs: fc.Arbitrary<Cmd>[] = [
    fc
      .tuple(fc.constantFrom(...GRANTEES), fc.nat({ max: 3 }), fc.boolean())
      .map(([g, f, ro]) => grant(g, f, ro)),
    idx.map(endAccess),
    fc.tuple(fc.nat({ max: 1 }), idx, fc.boolean()).map(([g, i, ro]) => map(g, i, ro)),
    fc.tuple(fc.nat({ max: 1 }), idx, fc.boolean()).map(([g, i, ro]) => map(g, i, ro)),
    fc.tuple(idx, fc.boolean()).map(([i, b]) => unmap(i, b && i % 4 === 0)),
    fc.tuple(fc.nat({ max: 1 }), idx, fc.boolean()).map(([g, i, d]) => copy(g, i, d)),
  ];
  if (hostile) {
    const flags = fc.oneof(fc.constantFrom(0, 1, 5, 9, 0x11, 0x19, 0x101, 2, 3), fc.nat({ max: 0xffff }));
    arbs.push(fc.tuple(idx, flags).map(([i, f]) => scribbleFlags(i, f)));
  }
  return fc.commands(arbs, { size: "+1" });
};

function setup(): { model: Model; real: Real } {
  const hv = new Hypervisor();
  const granter = hv.createDomain(GRANTER);
  const scratch = new Map<number, Gfn>();
  for (const g of GRANTEES) scratch.set(g, hv.createDomain(g).memory.allocate() as Gfn);
  const frames = granter.memory.allocateMany(4) as Gfn[];
  return {
    model: { refs: [], flags: new Map(), domid: new Map(), pins: new Map(), mappings: [], hostile: false },
    real: { hv, frames, scratch },
  };
}

describe("grant-table state vs model", () => {
  it("honest granter: status bits mirror pins; end access succeeds iff unpinned", () => {
    fc.assert(
      fc.property(commands(false), (cmds) => fc.modelRun(setup, cmds)),
      { numRuns: 120 },
    );
  });

  it("granter rewriting its flags at any time: Xen's checks still hold, nothing throws", () => {
    fc.assert(
      fc.property(commands(true), (cmds) => fc.modelRun(setup, cmds)),
      { numRuns: 120 },
    );
  });
});
