import { describe, expect, it } from "vitest";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { XenstoreGuestEnd, XenstoreServerEnd } from "./xenstore-byte-ring.ts";
import { XENSTORE_ERROR_RINGIDX, XENSTORE_RECONNECT, XenstoreInterface } from "./xenstore-interface.ts";

function page() {
  const mem = new GuestMemory(1);
  return mem.page(mem.allocate() as Gfn);
}

describe("XenStore page", () => {
  it("puts every field at its xs_wire.h offset", () => {
    const p = page();
    const intf = new XenstoreInterface(p);
    intf.reqCons = 1;
    intf.reqProd = 2;
    intf.rspCons = 3;
    intf.rspProd = 4;
    intf.serverFeatures = 5;
    intf.connection = XENSTORE_RECONNECT;
    intf.error = XENSTORE_ERROR_RINGIDX;
    intf.evtchnPort = 9;
    expect([2048, 2052, 2056, 2060, 2064, 2068, 2072, 2076].map((o) => p.getU32(o))).toEqual([
      1, 2, 3, 4, 5, 1, 2, 9,
    ]);
  });

  it("streams a 4096-byte payload through the 1024-byte request ring, wrapping at 2^32", () => {
    const p = page();
    const intf = new XenstoreInterface(p);
    intf.reqCons = intf.reqProd = 2 ** 32 - 10;
    const guest = new XenstoreGuestEnd(p);
    const server = new XenstoreServerEnd(p);
    const msg = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);
    const got = new Uint8Array(4096);
    let sent = 0;
    let recv = 0;
    for (let rounds = 0; recv < msg.length; rounds++) {
      expect(rounds).toBeLessThan(10);
      const w = guest.write(msg, sent);
      if (typeof w !== "number") throw new Error(w.kind);
      expect(w).toBeLessThanOrEqual(1024);
      sent += w;
      expect(guest.unconsumedRequestBytes()).toBe(1024);
      const r = server.read(got, recv);
      if (typeof r !== "number") throw new Error(r.kind);
      recv += r;
    }
    expect(got).toEqual(msg);
    expect(intf.reqProd).toBe((2 ** 32 - 10 + 4096) >>> 0);
  });

  it("reports indices no honest peer writes (prod − cons > 1024) instead of following them", () => {
    const p = page();
    const intf = new XenstoreInterface(p);
    const guest = new XenstoreGuestEnd(p);
    const server = new XenstoreServerEnd(p);
    intf.rspProd = 1025;
    expect(guest.read(new Uint8Array(10))).toEqual({
      kind: "bad-ring-indexes",
      ring: "rsp",
      prod: 1025,
      cons: 0,
    });
    intf.reqCons = 5; // the server ran past the guest's producer
    expect(guest.write(Uint8Array.of(1))).toEqual({
      kind: "bad-ring-indexes",
      ring: "req",
      prod: 0,
      cons: 5,
    });
    expect(server.pendingRequestBytes()).toMatchObject({ kind: "bad-ring-indexes" });
    intf.reqCons = 0;
    intf.rspProd = 1024;
    expect(guest.read(new Uint8Array(2000))).toBe(1024);
    expect(server.unconsumedResponseBytes()).toBe(0);
  });
});
