// The server's fault hooks (XenStoreServerFaults): EAGAIN on commit and duplicated watch events.
import { describe, expect, it } from "vitest";
import { XenStoreServer } from "./xenstore-server.ts";

describe("XenStoreServer fault hooks", () => {
  it("fails a commit with EAGAIN when the commit hook says so, and commits once it stops", () => {
    let fail = 1;
    const seen: number[] = [];
    const server = new XenStoreServer({
      faults: {
        commit(domid) {
          seen.push(domid);
          return fail-- > 0 ? "EAGAIN" : null;
        },
      },
    });
    const c = server.direct(0);
    const tx1 = c.transactionStart();
    expect(tx1.ok).toBe(true);
    if (!tx1.ok) return;
    expect(c.write("/a", "1", tx1.value).ok).toBe(true);
    expect(c.transactionEnd(tx1.value, true)).toEqual({ ok: false, errno: "EAGAIN" });
    expect(c.read("/a").ok).toBe(false);
    const tx2 = c.transactionStart();
    if (!tx2.ok) throw new Error("no tx");
    c.write("/a", "2", tx2.value);
    expect(c.transactionEnd(tx2.value, true)).toEqual({ ok: true, value: undefined });
    expect(c.readString("/a")).toEqual({ ok: true, value: "2" });
    expect(seen).toEqual([0, 0]);
    // Aborts never consult the hook.
    const tx3 = c.transactionStart();
    if (!tx3.ok) throw new Error("no tx");
    expect(c.transactionEnd(tx3.value, false).ok).toBe(true);
    expect(seen).toEqual([0, 0]);
  });

  it("queues a watch event as many times as the watch hook asks", () => {
    const events: string[] = [];
    const server = new XenStoreServer();
    const c = server.direct(0, (path, token) => events.push(`${path}|${token}`));
    c.watch("/w", "tok");
    expect(events).toEqual(["/w|tok"]);
    server.faults = { watchEvent: (_d, _c, path) => (path === "/w/x" ? 3 : 1) };
    c.write("/w/x", "1");
    c.write("/w/y", "1");
    expect(events).toEqual(["/w|tok", "/w/x|tok", "/w/x|tok", "/w/x|tok", "/w/y|tok"]);
    server.faults = null;
    c.write("/w/x", "2");
    expect(events.length).toBe(6);
  });
});
