// Server snapshots: store (tree, generations, special nodes), domains, quota refusals and
// every wire connection (id, domid, watches, open transactions, unprocessed input, queued
// output), so a restarted server continues mid-handshake. Direct clients are not kept.

import { ByteReader, ByteWriter, XsSnapshotError } from "../store/snapshot.ts";
import { XsStore } from "../store/store.ts";
import { Transaction, type TxEntry } from "../store/transactions.ts";
import { EMPTY_VALUE, newNode } from "../store/tree.ts";
import { Session } from "./session.ts";
import { XenStoreServer, type XenStoreServerOptions } from "./xenstore-server.ts";

const PLACEHOLDER = newNode(null, EMPTY_VALUE, [], 0);

export function snapshotServer(server: XenStoreServer): Uint8Array {
  const w = new ByteWriter();
  const db = server.db;
  w.str(server.profile.name);
  const c = server.counters();
  w.u32(c.nextConnId);
  w.u32(c.nextSeq);
  w.u32(c.nextGlobalTx);
  w.f64(db.gen);
  w.f64(db.serial);
  const special = [...db.special.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  w.u32(special.length);
  for (const [name, perms] of special) {
    w.str(name);
    w.perms(perms);
  }
  const gens = [...db.domainGens.entries()].sort(([a], [b]) => a - b);
  w.u32(gens.length);
  for (const [domid, g] of gens) {
    w.u32(domid);
    w.f64(g);
  }
  w.u8(db.domainFreed ? 1 : 0);
  w.tree(db.root);
  const domains = server.domainTable.all();
  w.u32(domains.length);
  for (const d of domains) {
    w.u32(d.domid);
    w.str(d.gfn);
    w.u32(d.port);
    w.u32(d.target === undefined ? 0xffffffff : d.target);
  }
  const hits = [...server.quotaHits.entries()].sort(([a], [b]) => a - b);
  w.u32(hits.length);
  for (const [domid, m] of hits) {
    w.u32(domid);
    const hs = [...m.values()];
    w.u32(hs.length);
    for (const h of hs) {
      w.str(h.quota);
      w.str(h.errno);
      w.u32(h.count);
    }
  }
  const sessions = server.allSessions().filter((s) => server.attachedConnection(s.id) !== null);
  w.u32(sessions.length);
  for (const s of sessions) {
    const conn = server.attachedConnection(s.id)!;
    w.u32(s.id);
    w.u32(s.domid);
    w.optStr(s.label);
    w.u32(s.seq);
    w.u32(s.nextTxId);
    const ws = server.watchTable.forConnection(s.id);
    w.u32(ws.length);
    for (const x of ws) {
      w.str(x.path);
      w.str(x.token);
      w.u32(x.prefixLen);
      w.u32(x.seq);
    }
    w.u32(s.txs.size);
    for (const tx of s.txs.values()) {
      w.u32(tx.id);
      w.u32(tx.maxNodes);
      w.f64(tx.startSerial);
      w.u8((tx.failed ? 1 : 0) | (tx.nodeCreated ? 2 : 0));
      const snap = tx.snapshotRoot;
      w.u8(snap ? 1 : 0);
      if (snap) w.tree(snap);
      const deltas = [...tx.deltas.entries()].sort(([a], [b]) => a - b);
      w.u32(deltas.length);
      for (const [owner, d] of deltas) {
        w.u32(owner);
        w.f64(d);
      }
      w.u32(tx.order.length);
      for (const e of tx.order) {
        w.str(e.path);
        w.u8(e.rec ? 1 : 0);
        if (e.rec) w.record(e.rec);
        w.f64(e.gen0);
        w.u8((e.checkGen ? 1 : 0) | (e.modified ? 2 : 0) | (e.fire ? 4 : 0) | (e.exact ? 8 : 0));
        w.u8(e.origPerms ? 1 : 0);
        if (e.origPerms) w.perms(e.origPerms);
        w.u32(e.childOps.length);
        for (const [add, name] of e.childOps) {
          w.u8(add ? 1 : 0);
          w.str(name);
        }
      }
    }
    const b = conn.exportBuffers();
    w.bytes(b.input);
    w.u32(b.out.length);
    for (const f of b.out) {
      w.bytes(f.bytes);
      w.u8(f.reply ? 1 : 0);
      w.optStr(f.key);
    }
    w.u32(b.offset);
  }
  return w.finish();
}

export function restoreServer(bytes: Uint8Array, options: XenStoreServerOptions): XenStoreServer {
  try {
    return restoreInner(bytes, options);
  } catch (e) {
    if (e instanceof XsSnapshotError) throw e;
    throw new XsSnapshotError(`corrupt snapshot: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function restoreInner(bytes: Uint8Array, options: XenStoreServerOptions): XenStoreServer {
  const r = new ByteReader(bytes);
  const profileName = r.str();
  const counters = { nextConnId: r.u32(), nextSeq: r.u32(), nextGlobalTx: r.u32() };
  const gen = r.f64();
  const serial = r.f64();
  const nspecial = r.count();
  const special: [string, ReturnType<ByteReader["perms"]>][] = [];
  for (let i = 0; i < nspecial; i++) special.push([r.str(), r.perms()]);
  const ngens = r.count();
  const gens: [number, number][] = [];
  for (let i = 0; i < ngens; i++) gens.push([r.u32(), r.f64()]);
  const domainFreed = r.u8() !== 0;
  const root = r.tree(null);
  const db = new XsStore(root);
  db.gen = gen;
  db.serial = serial;
  for (const [n, p] of special) db.special.set(n, p);
  for (const [d, g] of gens) db.domainGens.set(d, g);
  db.domainFreed = domainFreed;
  // node counts are derived from the tree
  const count = (n: typeof root) => {
    db.countDelta(n.perms[0]?.id ?? 0, 1);
    forEachChild(n, count);
  };
  count(root);
  const opts: XenStoreServerOptions = {
    ...options,
    profile: options.profile ?? (profileName === "qemu" ? "qemu" : "cxenstored"),
  };
  const server = new XenStoreServer(opts, db);
  server.setCounters(counters);
  const ndom = r.count();
  for (let i = 0; i < ndom; i++) {
    const domid = r.u32();
    const gfn = r.str();
    const port = r.u32();
    const t = r.u32();
    server.domainTable.add({ domid, gfn, port, target: t === 0xffffffff ? undefined : t });
  }
  const nhits = r.count();
  for (let i = 0; i < nhits; i++) {
    const domid = r.u32();
    const m = new Map<string, { quota: string; errno: string; count: number }>();
    const k = r.count();
    for (let j = 0; j < k; j++) {
      const quota = r.str();
      m.set(quota, { quota, errno: r.str(), count: r.u32() });
    }
    server.quotaHits.set(domid, m);
  }
  const nsess = r.count();
  for (let i = 0; i < nsess; i++) {
    const s = new Session(r.u32(), r.u32(), r.optStr() ?? undefined, r.u32(), () => "queued");
    s.nextTxId = r.u32();
    const conn = server.attach(s);
    const nw = r.count();
    for (let j = 0; j < nw; j++) {
      server.watchTable.restore({
        connId: s.id,
        connSeq: s.seq,
        path: r.str(),
        token: r.str(),
        prefixLen: r.u32(),
        seq: r.u32(),
      });
    }
    const ntx = r.count();
    for (let j = 0; j < ntx; j++) {
      const id = r.u32();
      const maxNodes = r.u32();
      const startSerial = r.f64();
      const flags = r.u8();
      const snapshot = r.u8() ? r.tree(null) : null;
      const tx = new Transaction(db, id, s.id, s.domid, server.profile.conflictPolicy, maxNodes, {
        startSerial,
        snapshot,
      });
      tx.failed = (flags & 1) !== 0;
      tx.nodeCreated = (flags & 2) !== 0;
      const nd = r.count();
      for (let k = 0; k < nd; k++) tx.deltas.set(r.u32(), r.f64());
      const ne = r.count();
      for (let k = 0; k < ne; k++) {
        const path = r.str();
        const rec = r.u8() ? r.record(tx.editToken, PLACEHOLDER) : null;
        const gen0 = r.f64();
        const f = r.u8();
        const origPerms = r.u8() ? r.perms() : null;
        const nops = r.count();
        const childOps: [boolean, string][] = [];
        for (let m = 0; m < nops; m++) childOps.push([r.u8() === 1, r.str()]);
        const e: TxEntry = {
          path,
          rec,
          gen0,
          checkGen: (f & 1) !== 0,
          modified: (f & 2) !== 0,
          fire: (f & 4) !== 0,
          exact: (f & 8) !== 0,
          origPerms,
          childOps,
        };
        tx.restoreEntry(e);
      }
      s.txs.set(id, tx);
    }
    const input = r.bytes();
    const nout = r.count();
    const out: { bytes: Uint8Array; reply: boolean; key: string | null }[] = [];
    for (let k = 0; k < nout; k++) out.push({ bytes: r.bytes(), reply: r.u8() === 1, key: r.optStr() });
    const offset = r.u32();
    if (nout > 0 && offset >= out[0]!.bytes.length) throw new XsSnapshotError("bad output offset");
    conn.importBuffers({ input, out, offset });
  }
  r.end();
  return server;
}

function forEachChild(
  n: { children: import("../pds/ordered-map.ts").OrderedMap<import("../store/tree.ts").XsNode> },
  f: (c: import("../store/tree.ts").XsNode) => void,
): void {
  omForEach(n.children, (_k, c) => f(c));
}

import { omForEach } from "../pds/ordered-map.ts";
