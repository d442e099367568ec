// Unit tests per operation and per error, written from /work/shared/reference/xenstore.md.
import { describe, expect, it } from "vitest";
import { decodeReply } from "../wire/client.ts";
import { encodeFrame, type XsFrame } from "../wire/frame.ts";
import { FrameParser } from "../wire/frame-parser.ts";
import { bytesToLatin1, encodeStrings, encodeWrite } from "../wire/payload.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenStoreServer, type XenStoreServerOptions } from "./xenstore-server.ts";

/** A test client on a connection: send(type, strings | bytes, tx) → reply text ("OK", "ENOENT", value…). */
function client(server: XenStoreServer, domid: number) {
  const conn = server.connect({ domid });
  const parser = new FrameParser();
  const events: string[] = [];
  let req = 0;
  const pull = (): XsFrame[] => {
    parser.push(conn.takeOutput());
    const out: XsFrame[] = [];
    for (let f = parser.next(); f && !(f instanceof Error); f = parser.next()) out.push(f);
    return out;
  };
  const send = (type: number, args: string[] | Uint8Array, txId = 0): string => {
    const payload = args instanceof Uint8Array ? args : encodeStrings(args);
    const reqId = ++req;
    conn.deliver(encodeFrame({ type, reqId, txId, payload }));
    let reply = "(none)";
    for (const f of pull()) {
      const r = decodeReply(f);
      if (r.kind === "event") events.push(`${r.path}|${r.token}`);
      else if (r.kind === "error") reply = String(r.errno);
      else if (f.reqId === reqId) {
        const text = bytesToLatin1(r.payload);
        reply = text === "OK\0" ? "OK" : text.replace(/\0/g, "|");
      }
    }
    return reply;
  };
  return {
    conn,
    events,
    send,
    read: (p: string, tx = 0) => send(XsType.READ, [p], tx),
    write: (p: string, v: string, tx = 0) => send(XsType.WRITE, encodeWrite(p, v), tx),
    mkdir: (p: string, tx = 0) => send(XsType.MKDIR, [p], tx),
    rm: (p: string, tx = 0) => send(XsType.RM, [p], tx),
    dir: (p: string, tx = 0) => send(XsType.DIRECTORY, [p], tx),
    getp: (p: string) => send(XsType.GET_PERMS, [p]),
    setp: (p: string, ...perms: string[]) => send(XsType.SET_PERMS, [p, ...perms]),
    watch: (p: string, t: string) => send(XsType.WATCH, [p, t]),
    unwatch: (p: string, t: string) => send(XsType.UNWATCH, [p, t]),
    tstart: (tx = 0) => send(XsType.TRANSACTION_START, [""], tx),
    tend: (tx: number, arg = "T") => send(XsType.TRANSACTION_END, [arg], tx),
    poll: () => {
      for (const f of pull()) {
        const r = decodeReply(f);
        if (r.kind === "event") events.push(`${r.path}|${r.token}`);
      }
      return events.splice(0);
    },
  };
}

function world(opts: XenStoreServerOptions = {}) {
  const server = new XenStoreServer(opts);
  const d0 = client(server, 0);
  for (const d of [1, 2]) {
    server.introduceDomain(d, 0, 1);
    d0.write(`/local/domain/${d}`, "");
    d0.setp(`/local/domain/${d}`, "n0", `r${d}`);
    d0.write(`/local/domain/${d}/data`, "");
    d0.setp(`/local/domain/${d}/data`, `n${d}`);
  }
  return { server, d0, g1: client(server, 1), g2: client(server, 2) };
}

describe("nodes", () => {
  it("READ/WRITE/MKDIR/RM/DIRECTORY basics (§6)", () => {
    const { d0 } = world();
    expect(d0.read("/a")).toBe("ENOENT");
    expect(d0.write("/a/b/c", "x\0y")).toBe("OK");
    expect(d0.read("/a/b/c")).toBe("x|y");
    expect(d0.read("/a/b")).toBe("");
    expect(d0.dir("/a")).toBe("b|");
    expect(d0.mkdir("/a/b")).toBe("OK");
    expect(d0.write("/a/b/d", "")).toBe("OK");
    expect(d0.write("/a/b/a", "")).toBe("OK");
    expect(d0.dir("/a/b")).toBe("c|d|a|");
    expect(d0.rm("/a/b/zz")).toBe("OK");
    expect(d0.rm("/a/q/zz")).toBe("ENOENT");
    expect(d0.rm("/a")).toBe("OK");
    expect(d0.read("/a/b/c")).toBe("ENOENT");
    expect(d0.rm("/")).toBe("EINVAL");
    expect(d0.write("/", "root")).toBe("OK");
    expect(d0.read("/")).toBe("root");
  });

  it("path rules (§5): charset, //, trailing /, length limits, relative paths", () => {
    const { d0, g1 } = world();
    for (const bad of ["/a//b", "/a/", "/a b", "/a.b", "/a*", "", "@foo"])
      expect(d0.write(bad, "")).toBe("EINVAL");
    expect(d0.write("/a-b_c@d", "")).toBe("OK");
    expect(d0.write(`/e/${"x".repeat(2045)}`, "")).toBe("OK");
    expect(d0.write(`/e/${"x".repeat(2046)}`, "")).toBe("EINVAL");
    expect(d0.write(`/local/domain/7/${"x".repeat(2048)}`, "")).toBe("OK");
    expect(d0.write("rel", "0")).toBe("OK");
    expect(d0.read("/local/domain/0/rel")).toBe("0");
    expect(g1.write("data/k", "1")).toBe("OK");
    expect(d0.read("/local/domain/1/data/k")).toBe("1");
  });

  it("malformed payloads answer EINVAL (xensim), unknown types ENOSYS", () => {
    const { d0 } = world();
    expect(d0.send(XsType.READ, new Uint8Array([47, 97]))).toBe("EINVAL");
    expect(d0.send(XsType.READ, encodeStrings(["/a", "junk"]))).toBe("EINVAL");
    expect(d0.send(XsType.READ, new Uint8Array(0))).toBe("EINVAL");
    expect(d0.send(XsType.WRITE, new Uint8Array([47, 97]))).toBe("EINVAL");
    expect(d0.send(XsType.TRANSACTION_END, ["X"])).toBe("EINVAL");
    expect(d0.send(XsType.WATCH, ["/a"])).toBe("EINVAL");
    for (const t of [XsType.WATCH_EVENT, XsType.ERROR, XsType.RESTRICT, 23, 26, 999, XsType.INVALID])
      expect(d0.send(t, ["/a"])).toBe("ENOSYS");
  });

  it("a reply over 4096 bytes becomes E2BIG", () => {
    const { d0 } = world();
    for (let i = 0; i < 300; i++) d0.write(`/big/child-number-${i}`, "");
    expect(d0.dir("/big")).toBe("E2BIG");
  });

  it("DIRECTORY_PART pages whole names with a generation (§10)", () => {
    const { server, d0 } = world();
    for (let i = 0; i < 3; i++) d0.write(`/p/n${i}`, "");
    const gen = server.store.generation("/p");
    expect(d0.send(XsType.DIRECTORY_PART, ["/p", "0"])).toBe(`${gen}|n0|n1|n2||`);
    expect(d0.send(XsType.DIRECTORY_PART, ["/p", "3"])).toBe(`${gen}|n1|n2||`);
    expect(d0.send(XsType.DIRECTORY_PART, ["/p", "100"])).toBe(`${gen}||`);
    expect(d0.send(XsType.DIRECTORY_PART, ["/p"])).toBe("EINVAL");
  });
});

describe("permissions (§6)", () => {
  it("inheritance: a guest owns what it creates, other entries kept", () => {
    const { d0, g1 } = world();
    d0.setp("/local/domain/1/data", "n1", "r2");
    expect(g1.write("data/a/b", "")).toBe("OK");
    expect(d0.getp("/local/domain/1/data/a/b")).toBe("n1|r2|");
    d0.write("/local/domain/1/data/d0made", "");
    expect(d0.getp("/local/domain/1/data/d0made")).toBe("n1|r2|");
  });

  it("EACCES vs ENOENT as cx errno_from_parents()", () => {
    const { d0, g1 } = world();
    d0.write("/secret/x", "1");
    d0.write("/open", "");
    d0.setp("/open", "r0");
    expect(g1.read("/secret/x")).toBe("EACCES");
    expect(g1.read("/secret/missing")).toBe("EACCES");
    expect(g1.read("/open/missing")).toBe("ENOENT");
    expect(g1.write("/open/new", "")).toBe("EACCES");
    expect(g1.rm("/open/missing")).toBe("EACCES");
    expect(g1.read("/local/domain/2/data")).toBe("EACCES");
  });

  it("SET_PERMS: ownership, EPERM on owner change, ENOSPC beyond 5 entries, bad strings EINVAL", () => {
    const { d0, g1 } = world();
    g1.write("data/n", "");
    expect(g1.setp("data/n", "n1", "r2")).toBe("OK");
    expect(g1.setp("data/n", "n2")).toBe("EPERM");
    expect(g1.setp("data/n", "n1", "r2", "r3", "r4", "r5", "r6")).toBe("ENOSPC");
    expect(g1.setp("data/n", "x1")).toBe("EINVAL");
    expect(g1.setp("data/n", "n1x")).toBe("EINVAL");
    expect(g1.setp("/local/domain/1", "n1")).toBe("EACCES");
    expect(d0.setp("/local/domain/1/data/n", "n2", "b1")).toBe("OK");
    expect(d0.send(XsType.SET_PERMS, ["/x"])).toBe("EINVAL");
  });

  it("privileged-only operations answer EACCES to guests", () => {
    const { g1 } = world();
    for (const t of [
      XsType.INTRODUCE,
      XsType.RELEASE,
      XsType.IS_DOMAIN_INTRODUCED,
      XsType.RESUME,
      XsType.SET_TARGET,
      XsType.CONTROL,
    ]) {
      expect(g1.send(t, ["1", "2", "3"])).toBe("EACCES");
    }
  });
});

describe("watches (§7)", () => {
  it("initial fire, subtree events, relative form, EEXIST, ENOENT unwatch", () => {
    const { d0, g1 } = world();
    expect(g1.watch("data", "t")).toBe("OK");
    expect(g1.poll()).toEqual(["data|t"]);
    expect(g1.watch("/local/domain/1/data", "t")).toBe("EEXIST");
    d0.write("/local/domain/1/data/x/y", "1");
    expect(g1.poll()).toEqual(["data/x/y|t"]);
    expect(g1.unwatch("data", "nope")).toBe("ENOENT");
    expect(g1.unwatch("/local/domain/1/data", "t")).toBe("OK");
    d0.write("/local/domain/1/data/x", "2");
    expect(g1.poll()).toEqual([]);
  });

  it("RM fires exact watches of removed descendants, then the subtree watches", () => {
    const { server, d0 } = world();
    const w = client(server, 0);
    d0.write("/r/a/b", "1");
    w.watch("/r", "t2");
    w.watch("/r/a/b", "t1");
    w.watch("/r/a", "t3");
    w.poll();
    d0.rm("/r/a");
    expect(w.poll()).toEqual(["/r/a/b|t1", "/r/a|t2", "/r/a|t3"]);
  });

  it("events are filtered by read permission of the node or its parent", () => {
    const { d0, g1 } = world();
    expect(g1.watch("/", "all")).toBe("OK");
    g1.poll();
    d0.write("/hidden/x", "1");
    expect(g1.poll()).toEqual([]);
    d0.write("/local/domain/1/data/v", "1");
    expect(g1.poll()).toEqual(["/local/domain/1/data/v|all"]);
  });

  it("transaction changes fire only at commit", () => {
    const { d0, g1 } = world();
    g1.watch("data", "t");
    g1.poll();
    const tx = Number(d0.tstart().replace("|", ""));
    d0.write("/local/domain/1/data/a", "1", tx);
    expect(g1.poll()).toEqual([]);
    expect(d0.tend(tx)).toBe("OK");
    expect(g1.poll()).toEqual(["data/a|t"]);
  });

  it("special watches fire on INTRODUCE and RELEASE (privileged watchers)", () => {
    const { server, d0, g1 } = world();
    d0.watch("@introduceDomain", "i");
    d0.watch("@releaseDomain", "r");
    g1.watch("@releaseDomain", "g");
    d0.poll();
    g1.poll();
    expect(server.introduceDomain(5, 0, 7)).toBe("OK");
    expect(d0.poll()).toEqual(["@introduceDomain|i"]);
    expect(server.releaseDomain(5)).toBe("OK");
    expect(d0.poll()).toEqual(["@releaseDomain|r"]);
    expect(g1.poll()).toEqual([]);
  });

  it("watch quota: 129 allowed for a guest, then E2BIG; CONTROL quota names it", () => {
    const { server, d0, g1 } = world();
    for (let i = 0; i < 129; i++) expect(g1.watch(`data/w${i}`, "t")).toBe("OK");
    expect(g1.watch("data/w999", "t")).toBe("E2BIG");
    expect(server.quotaRefusals(1)).toEqual([{ quota: "watches", errno: "E2BIG", count: 1 }]);
    expect(d0.send(XsType.CONTROL, ["quota", "1"])).toContain("refused: watches (E2BIG) x1");
  });

  it("identical pending events are coalesced (XSA-326) and reported", () => {
    const dropped: string[] = [];
    const server = new XenStoreServer({
      trace: (e) => e.kind === "watch-event-dropped" && dropped.push(e.reason),
    });
    const a = client(server, 0);
    const b = client(server, 0);
    b.watch("/x", "t");
    b.poll();
    a.write("/x", "1");
    a.write("/x", "2");
    expect(b.poll()).toEqual(["/x|t"]);
    expect(dropped).toEqual(["coalesced"]);
  });
});

describe("transactions (§8)", () => {
  it("ids, EBUSY, ENOENT, abort, poisoned", () => {
    const { d0 } = world();
    expect(d0.tstart()).toBe("1|");
    expect(d0.tstart(1)).toBe("EBUSY");
    expect(d0.tstart(9)).toBe("ENOENT");
    expect(d0.read("/a", 9)).toBe("ENOENT");
    expect(d0.tend(0)).toBe("ENOENT");
    expect(d0.tend(1, "X")).toBe("EINVAL");
    expect(d0.write("/t/a", "1", 1)).toBe("OK");
    expect(d0.read("/t/a", 1)).toBe("1");
    expect(d0.read("/t/a")).toBe("ENOENT");
    expect(d0.tend(1, "F")).toBe("OK");
    expect(d0.read("/t/a")).toBe("ENOENT");
    expect(d0.tend(1)).toBe("ENOENT");
  });

  it("per-domain open transaction quota: 11 allowed, the 12th ENOSPC", () => {
    const { g1 } = world();
    for (let i = 0; i < 11; i++) expect(g1.tstart()).toMatch(/^\d+\|$/);
    expect(g1.tstart()).toBe("ENOSPC");
  });

  it("global (qemu) policy: any commit since start fails the transaction", () => {
    const server = new XenStoreServer({ profile: "qemu" });
    const a = client(server, 0);
    const b = client(server, 0);
    const tx = Number(a.tstart().replace("|", ""));
    a.write("/x", "1", tx);
    b.write("/unrelated", "1");
    expect(a.tend(tx)).toBe("EAGAIN");
    const tx2 = Number(a.tstart().replace("|", ""));
    a.write("/x", "1", tx2);
    expect(a.tend(tx2)).toBe("OK");
    expect(a.read("/x")).toBe("1");
  });

  it("read-set (cx) policy: unrelated commits do not conflict, related ones do", () => {
    const server = new XenStoreServer();
    const a = client(server, 0);
    const b = client(server, 0);
    a.write("/r", "0");
    a.write("/x", "");
    const tx = Number(a.tstart().replace("|", ""));
    a.read("/r", tx);
    a.write("/x/y", "1", tx);
    b.write("/unrelated", "1");
    expect(a.tend(tx)).toBe("OK");
    const tx2 = Number(a.tstart().replace("|", ""));
    a.read("/r", tx2);
    b.write("/r", "2");
    expect(a.tend(tx2)).toBe("EAGAIN");
  });

  it("closing a connection drops its transactions and watches", () => {
    const { server, g1 } = world();
    g1.tstart();
    g1.watch("data", "t");
    expect(server.store.transactionCount(1)).toBe(1);
    g1.conn.close();
    expect(server.store.transactionCount(1)).toBe(0);
    expect(server.store.watchCount(1)).toBe(0);
  });
});

describe("quotas (§12)", () => {
  it("node quota per domain (ENOSPC) and node size (ENOSPC)", () => {
    const { server, g1 } = world({ quotas: { nodes: 10 } });
    let ok = 0;
    for (let i = 0; i < 20; i++) if (g1.write(`data/n${i}`, "") === "OK") ok++;
    expect(ok).toBe(10 - server.store.nodeCount(1) + ok);
    expect(g1.write("data/more", "")).toBe("ENOSPC");
    const { g1: h } = world();
    expect(h.write("data/s", "x".repeat(2015))).toBe("OK");
    expect(h.write("data/s", "x".repeat(2016))).toBe("ENOSPC");
  });

  it("outstanding requests: input waits while 20 replies are unread", () => {
    const { server } = world();
    const conn = server.connect({ domid: 1 });
    const frames: number[] = [];
    for (let i = 0; i < 30; i++)
      frames.push(
        ...encodeFrame({ type: XsType.GET_DOMAIN_PATH, reqId: i, txId: 0, payload: encodeStrings(["1"]) }),
      );
    conn.deliver(new Uint8Array(frames));
    expect(conn.outstandingReplies).toBe(20);
    expect(conn.inputBytes).toBeGreaterThan(0);
    const first = conn.takeOutput(10);
    expect(first.length).toBe(10);
    conn.takeOutput();
    expect(conn.outstandingReplies).toBe(10);
    conn.takeOutput();
    expect(conn.outstandingReplies).toBe(0);
    expect(conn.inputBytes).toBe(0);
  });
});

describe("domains (§9)", () => {
  it("INTRODUCE/IS_DOMAIN_INTRODUCED/GET_DOMAIN_PATH/RELEASE/SET_TARGET", () => {
    const { server, d0 } = world();
    expect(d0.send(XsType.IS_DOMAIN_INTRODUCED, ["3"])).toBe("F|");
    expect(d0.send(XsType.INTRODUCE, ["3", "99", "5"])).toBe("OK");
    expect(d0.send(XsType.INTRODUCE, ["3", "99"])).toBe("EINVAL");
    expect(d0.send(XsType.INTRODUCE, ["4", "99", "0"])).toBe("EINVAL");
    expect(d0.send(XsType.IS_DOMAIN_INTRODUCED, ["3"])).toBe("T|");
    expect(d0.send(XsType.GET_DOMAIN_PATH, ["3"])).toBe("/local/domain/3|");
    expect(d0.send(XsType.GET_DOMAIN_PATH, ["abc"])).toBe("/local/domain/0|");
    expect(d0.send(XsType.SET_TARGET, ["3", "2"])).toBe("OK");
    expect(d0.send(XsType.SET_TARGET, ["3", "44"])).toBe("ENOENT");
    d0.write("/local/domain/3/x", "");
    d0.setp("/local/domain/3/x", "n3");
    expect(d0.send(XsType.RELEASE, ["3"])).toBe("OK");
    expect(server.store.exists("/local/domain/3/x")).toBe(false);
    expect(d0.send(XsType.RELEASE, ["3"])).toBe("ENOENT");
    expect(d0.send(XsType.RELEASE, ["0"])).toBe("EINVAL");
  });

  it("SET_TARGET gives the stub owner rights on the target's nodes", () => {
    const { server, d0, g2 } = world();
    expect(g2.read("/local/domain/1/data")).toBe("EACCES");
    server.introduceDomain(2, 0, 1);
    expect(d0.send(XsType.SET_TARGET, ["2", "1"])).toBe("OK");
    expect(g2.write("/local/domain/1/data/fromstub", "1")).toBe("OK");
  });
});

describe("domids introduced again (XSA-419, cx ≥ 4.17)", () => {
  it("ACL entries older than the domain's new introduction are ignored, for good once written", () => {
    const { server, d0 } = world();
    d0.write("/shared/a", "1");
    d0.setp("/shared/a", "n0", "r2");
    d0.write("/shared/b", "1");
    d0.setp("/shared/b", "n0", "b2", "r1");
    expect(d0.send(XsType.RELEASE, ["2"])).toBe("OK");
    // written while no domain 2 exists: the entry is marked ignored and stays so
    expect(d0.write("/shared/a", "2")).toBe("OK");
    expect(d0.send(XsType.INTRODUCE, ["2", "7", "1"])).toBe("OK");
    const g2 = client(server, 2);
    expect(g2.read("/shared/a")).toBe("EACCES");
    expect(g2.write("/shared/b", "x")).toBe("EACCES");
    // GET_PERMS still shows the entries; domain 1's are untouched
    expect(d0.getp("/shared/b")).toBe("n0|b2|r1|");
    expect(client(server, 1).read("/shared/b")).toBe("1");
    // a node written after the new introduction (or new perms) counts again
    expect(d0.write("/shared/b", "3")).toBe("OK");
    expect(g2.read("/shared/b")).toBe("EACCES");
    expect(d0.setp("/shared/b", "n0", "b2")).toBe("OK");
    expect(g2.write("/shared/b", "4")).toBe("OK");
    d0.write("/shared/c", "1");
    d0.setp("/shared/c", "n0", "r2");
    expect(g2.read("/shared/c")).toBe("1");
    // the marks survive a snapshot
    const restored = XenStoreServer.restore(server.snapshot());
    expect(client(restored, 2).read("/shared/a")).toBe("EACCES");
    expect(client(restored, 2).read("/shared/c")).toBe("1");
  });

  it("an entry naming a domain the hypervisor does not report is ignored; the qemu profile keeps no history", () => {
    const gone = world({ host: { domainExists: (d) => d < 3 } });
    expect(gone.d0.write("/x", "1")).toBe("OK");
    expect(gone.d0.setp("/x", "n0", "r7")).toBe("OK");
    expect(gone.d0.getp("/x")).toBe("n0|r7|");
    expect(gone.d0.setp("/x", "n7")).toBe("ENOENT");
    const q = world({ profile: "qemu" });
    q.d0.write("/shared/a", "1");
    q.d0.setp("/shared/a", "n0", "r2");
    q.d0.send(XsType.RELEASE, ["2"]);
    q.d0.send(XsType.INTRODUCE, ["2", "7", "1"]);
    expect(client(q.server, 2).read("/shared/a")).toBe("1");
  });
});

describe("snapshots", () => {
  it("round-trips mid-transaction and rejects corrupt bytes", () => {
    const { server, d0, g1 } = world();
    g1.watch("data", "t");
    const tx = Number(g1.tstart().replace("|", ""));
    g1.write("data/in-tx", "1", tx);
    d0.conn.deliver(new Uint8Array([1, 2, 3]));
    const snap = server.snapshot();
    const restored = XenStoreServer.restore(snap);
    expect(Buffer.from(restored.snapshot()).equals(Buffer.from(snap))).toBe(true);
    const again = restored.connection(g1.conn.id)!;
    expect(again.domid).toBe(1);
    expect(restored.store.transactionCount(1)).toBe(1);
    const bad = snap.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    expect(() => XenStoreServer.restore(bad)).toThrow(/checksum/);
    expect(() => XenStoreServer.restore(snap.subarray(0, 20))).toThrow();
  });
});
