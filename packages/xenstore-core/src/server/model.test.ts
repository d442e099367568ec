// Model-based property test (fc.commands): random writes, removes, permission changes,
// watches and transactions from several domains, checked against a deliberately simple model
// (a map path → value/perms, expected watch events), under both conflict policies. After
// every command the server's snapshot must round-trip (restore → snapshot gives equal bytes).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DirectClient } from "./direct-client.ts";
import { XenStoreServer } from "./xenstore-server.ts";

interface MNode {
  value: string;
  perms: string[];
}
type Tree = Map<string, MNode>;

interface Model {
  tree: Tree;
  /** per client: open transactions (id → private copy of the tree, start serial) */
  txs: Map<number, { tree: Tree; serial: number }>[];
  /** per client: expected events not yet checked */
  events: string[][];
  /** per client: watches (path, token) */
  watches: { path: string; token: string }[][];
  serial: number;
}

interface Real {
  server: XenStoreServer;
  clients: DirectClient[];
  got: string[][];
}

const DOMS = [0, 1, 2];
const BASE = "/local/domain";
const parent = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";
const readable = (perms: string[], dom: number): boolean => {
  if (dom === 0) return true;
  const [owner, ...rest] = perms as [string, ...string[]];
  if (Number(owner.slice(1)) === dom) return true;
  const e = rest.find((x) => Number(x.slice(1)) === dom);
  const l = (e ?? owner)[0];
  return l === "r" || l === "b";
};
const writable = (perms: string[], dom: number): boolean => {
  if (dom === 0) return true;
  const [owner, ...rest] = perms as [string, ...string[]];
  if (Number(owner.slice(1)) === dom) return true;
  const e = rest.find((x) => Number(x.slice(1)) === dom);
  const l = (e ?? owner)[0];
  return l === "w" || l === "b";
};

/** Paths all below /local/domain/<d>/s so guests' homes are writable by them. */
const pathArb = fc
  .tuple(fc.constantFrom(1, 2), fc.array(fc.constantFrom("a", "b"), { minLength: 1, maxLength: 3 }))
  .map(([d, comps]) => `${BASE}/${d}/s/${comps.join("/")}`);

function initial(): { model: Model; real: Real } {
  const server = new XenStoreServer({ profile: policyProfile });
  const got: string[][] = DOMS.map(() => []);
  const clients = DOMS.map((d, i) => server.direct(d, (p, t) => got[i]!.push(`${p}|${t}`)));
  const tree: Tree = new Map();
  const c0 = clients[0]!;
  for (const d of [1, 2]) {
    c0.write(`${BASE}/${d}/s`, "");
    c0.setPerms(`${BASE}/${d}/s`, [`n${d}`]);
  }
  for (const [p, v] of server.store.dump()) tree.set(p, { value: v.value, perms: v.perms });
  return {
    model: {
      tree,
      txs: DOMS.map(() => new Map()),
      events: DOMS.map(() => []),
      watches: DOMS.map(() => []),
      serial: 0,
    },
    real: { server, clients, got },
  };
}

let policyProfile: "cxenstored" | "qemu" = "cxenstored";

function fireModel(m: Model, tree: Tree, path: string, removed: Map<string, MNode> | null): void {
  m.watches.forEach((ws, i) => {
    for (const w of ws) {
      if (!(path === w.path || path.startsWith(`${w.path}/`))) continue;
      const n = tree.get(path) ?? removed?.get(path);
      const par = tree.get(parent(path));
      const ok = (n && readable(n.perms, DOMS[i]!)) || (par && readable(par.perms, DOMS[i]!));
      if (ok) m.events[i]!.push(`${path}|${w.token}`);
    }
  });
}

class WriteCmd implements fc.Command<Model, Real> {
  constructor(
    readonly c: number,
    readonly path: string,
    readonly value: string,
    readonly useTx: boolean,
  ) {}
  check() {
    return true;
  }
  run(m: Model, r: Real) {
    const dom = DOMS[this.c]!;
    const txEntry = this.useTx ? [...m.txs[this.c]!.entries()][0] : undefined;
    const tree = txEntry ? txEntry[1].tree : m.tree;
    const res = r.clients[this.c]!.write(this.path, this.value, txEntry ? txEntry[0] : 0);
    // nearest existing ancestor decides creation
    let p = this.path;
    while (!tree.has(p)) p = parent(p);
    const ok = tree.has(this.path)
      ? writable(tree.get(this.path)!.perms, dom)
      : writable(tree.get(p)!.perms, dom);
    expect(res.ok).toBe(ok);
    if (!ok) return;
    const created: string[] = [];
    let q = this.path;
    while (!tree.has(q)) {
      created.unshift(q);
      q = parent(q);
    }
    for (const c of created) {
      const pp = tree.get(parent(c))!.perms;
      // cx: an unprivileged creator owns the new node; qemu: the parent's owner does
      const own = dom === 0 || policyProfile === "qemu";
      tree.set(c, { value: "", perms: own ? [...pp] : [`${pp[0]![0]}${dom}`, ...pp.slice(1)] });
    }
    tree.get(this.path)!.value = this.value;
    if (!txEntry) {
      m.serial++;
      fireModel(m, m.tree, this.path, null);
    }
  }
  toString() {
    return `write(c${this.c}, ${this.path}, ${this.value}${this.useTx ? ", tx" : ""})`;
  }
}

class RmCmd implements fc.Command<Model, Real> {
  constructor(
    readonly c: number,
    readonly path: string,
  ) {}
  check() {
    return true;
  }
  run(m: Model, r: Real) {
    const dom = DOMS[this.c]!;
    const res = r.clients[this.c]!.rm(this.path);
    const n = m.tree.get(this.path);
    if (!n) {
      // missing: OK if parent exists (and is writable for guests: cx hides otherwise)
      if (policyProfile === "qemu") expect(res.ok ? "OK" : res.errno).toBe("ENOENT");
      else if (m.tree.has(parent(this.path)) && writable(m.tree.get(parent(this.path))!.perms, dom))
        expect(res.ok).toBe(true);
      return;
    }
    expect(res.ok).toBe(writable(n.perms, dom));
    if (!res.ok) return;
    const removed = new Map<string, MNode>();
    for (const [p, v] of [...m.tree]) {
      if (p === this.path || p.startsWith(`${this.path}/`)) {
        removed.set(p, v);
        m.tree.delete(p);
      }
    }
    m.serial++;
    // exact watches on removed descendants (children first), then the subtree event
    const desc = [...removed.keys()]
      .filter((p) => p !== this.path)
      .sort((a, b) => b.split("/").length - a.split("/").length);
    m.watches.forEach((ws, i) => {
      for (const w of ws) {
        for (const d of desc) {
          if (w.path !== d) continue;
          const par = m.tree.get(parent(d)) ?? removed.get(parent(d));
          if (readable(removed.get(d)!.perms, DOMS[i]!) || (par && readable(par.perms, DOMS[i]!)))
            m.events[i]!.push(`${d}|${w.token}`);
        }
      }
    });
    fireModel(m, m.tree, this.path, removed);
  }
  toString() {
    return `rm(c${this.c}, ${this.path})`;
  }
}

class SetPermsCmd implements fc.Command<Model, Real> {
  constructor(
    readonly path: string,
    readonly perms: string[],
  ) {}
  check(m: Readonly<Model>) {
    return m.tree.has(this.path);
  }
  run(m: Model, r: Real) {
    const res = r.clients[0]!.setPerms(this.path, this.perms);
    expect(res.ok).toBe(true);
    const n = m.tree.get(this.path)!;
    const old = n.perms;
    n.perms = [...this.perms];
    m.serial++;
    m.watches.forEach((ws, i) => {
      for (const w of ws) {
        if (!(this.path === w.path || this.path.startsWith(`${w.path}/`))) continue;
        const par = m.tree.get(parent(this.path));
        const d = DOMS[i]!;
        if (readable(old, d) || readable(n.perms, d) || (par && readable(par.perms, d)))
          m.events[i]!.push(`${this.path}|${w.token}`);
      }
    });
  }
  toString() {
    return `setperms(${this.path}, ${this.perms.join(" ")})`;
  }
}

class WatchCmd implements fc.Command<Model, Real> {
  constructor(
    readonly c: number,
    readonly path: string,
    readonly token: string,
  ) {}
  check() {
    return true;
  }
  run(m: Model, r: Real) {
    const res = r.clients[this.c]!.watch(this.path, this.token);
    const dup = m.watches[this.c]!.some((w) => w.path === this.path && w.token === this.token);
    expect(res.ok ? "OK" : res.errno).toBe(dup ? "EEXIST" : "OK");
    if (dup) return;
    m.watches[this.c]!.push({ path: this.path, token: this.token });
    m.events[this.c]!.push(`${this.path}|${this.token}`);
  }
  toString() {
    return `watch(c${this.c}, ${this.path}, ${this.token})`;
  }
}

class TxStartCmd implements fc.Command<Model, Real> {
  constructor(readonly c: number) {}
  check(m: Readonly<Model>) {
    return m.txs[this.c]!.size < 2;
  }
  run(m: Model, r: Real) {
    const res = r.clients[this.c]!.transactionStart();
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const copy: Tree = new Map([...m.tree].map(([k, v]) => [k, { value: v.value, perms: [...v.perms] }]));
    m.txs[this.c]!.set(res.value, { tree: copy, serial: m.serial });
  }
  toString() {
    return `tstart(c${this.c})`;
  }
}

class TxEndCmd implements fc.Command<Model, Real> {
  constructor(
    readonly c: number,
    readonly commit: boolean,
  ) {}
  check(m: Readonly<Model>) {
    return m.txs[this.c]!.size > 0;
  }
  run(m: Model, r: Real) {
    const [id, tx] = [...m.txs[this.c]!.entries()][0]!;
    m.txs[this.c]!.delete(id);
    const res = r.clients[this.c]!.transactionEnd(id, this.commit);
    if (!this.commit) {
      expect(res.ok).toBe(true);
      return;
    }
    if (m.serial !== tx.serial) {
      // something committed meanwhile: global policy always fails; read-set may succeed
      if (policyProfile === "qemu") expect(res.ok ? "OK" : res.errno).toBe("EAGAIN");
      if (!res.ok) {
        expect(res.errno).toBe("EAGAIN");
        return;
      }
      // read-set success: the real store is authoritative, resync the model from it
      m.tree = new Map([...r.server.store.dump()].map(([k, v]) => [k, { value: v.value, perms: v.perms }]));
      m.serial++;
      m.events = m.events.map(() => []);
      for (const g of r.got) g.splice(0, g.length);
      return;
    }
    expect(res.ok).toBe(true);
    const changed = [...tx.tree].filter(([k, v]) => {
      const o = m.tree.get(k);
      return !o || o.value !== v.value || o.perms.join() !== v.perms.join();
    });
    m.tree = tx.tree;
    m.serial++;
    if (changed.length > 0) {
      // commit events are not modelled (cx fires them in access order); differential.test.ts covers them
      m.events = m.events.map(() => []);
      for (const g of r.got) g.splice(0, g.length);
    }
  }
  toString() {
    return `tend(c${this.c}, ${this.commit ? "T" : "F"})`;
  }
}

function checkState(m: Model, r: Real): void {
  const real = r.server.store.dump();
  expect([...real.keys()].sort()).toEqual([...m.tree.keys()].sort());
  for (const [p, n] of m.tree) {
    expect(real.get(p)?.value, p).toBe(n.value);
    expect(real.get(p)?.perms, p).toEqual(n.perms);
  }
  m.events.forEach((ev, i) => {
    expect(r.got[i], `events of dom${DOMS[i]}`).toEqual(ev);
    ev.length = 0;
    r.got[i]!.length = 0;
  });
  const snap = r.server.snapshot();
  const again = XenStoreServer.restore(snap, { profile: policyProfile }).snapshot();
  expect(Buffer.from(again).equals(Buffer.from(snap))).toBe(true);
}

const commands = [
  fc
    .tuple(fc.integer({ min: 0, max: 2 }), pathArb, fc.constantFrom("", "v", "w"), fc.boolean())
    .map(([c, p, v, t]) => new WriteCmd(c, p, v, t)),
  fc.tuple(fc.integer({ min: 0, max: 2 }), pathArb).map(([c, p]) => new RmCmd(c, p)),
  fc
    .tuple(pathArb, fc.constantFrom<string[]>(["n0"], ["n1"], ["n2"], ["r1", "w2"], ["n1", "r2"], ["b2"]))
    .map(([p, perms]) => new SetPermsCmd(p, perms)),
  fc
    .tuple(fc.integer({ min: 0, max: 2 }), pathArb, fc.constantFrom("t1", "t2"))
    .map(([c, p, t]) => new WatchCmd(c, p, t)),
  fc.integer({ min: 0, max: 2 }).map((c) => new TxStartCmd(c)),
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean()).map(([c, t]) => new TxEndCmd(c, t)),
];

for (const profile of ["cxenstored", "qemu"] as const) {
  describe(`model-based (${profile === "cxenstored" ? "read-set" : "global"} conflict policy)`, () => {
    it("matches the reference model; snapshots round-trip after every step", () => {
      policyProfile = profile;
      fc.assert(
        fc.property(fc.commands(commands, { maxCommands: 40 }), (cmds) => {
          const { model, real } = initial();
          fc.modelRun(
            () => ({ model, real }),
            [...cmds].map((c) => ({
              check: (mm: Readonly<Model>) => c.check(mm),
              run: (mm: Model, rr: Real) => {
                c.run(mm, rr);
                checkState(mm, rr);
              },
              toString: () => c.toString(),
            })),
          );
        }),
        { numRuns: 150 },
      );
    });
  });
}
