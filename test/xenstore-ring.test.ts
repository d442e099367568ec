import { SeededPolicy } from "@xensim/evtchn";
import { Platform } from "@xensim/frontend-sim/host";
import { XENSTORE_ERROR_RINGIDX, XenstoreInterface } from "@xensim/ring";
import { describe, expect, it } from "vitest";
import { bootGuest } from "./support/boot-guest.ts";

describe("XenStore over the shared page", () => {
  it("carries a guest write to dom0 and a dom0 write to the guest's watch, through ring bytes only", async () => {
    const platform = new Platform({ policy: new SeededPolicy(3) });
    const guest = await bootGuest(platform, 1);
    const tools = platform.dom0Client("toolstack");
    const events: string[] = [];
    const work = (async () => {
      await guest.xenbus.write(0, "data/greeting", "hello from dom1");
      const seen = await tools.readString(0, "/local/domain/1/data/greeting");
      await guest.xenbus.watch("data/cmd", (path) => {
        events.push(path);
      });
      await tools.write(0, "/local/domain/1/data/cmd", "go");
      return seen;
    })();
    expect(await platform.settle(work)).toBe("hello from dom1");
    expect(events).toEqual(["data/cmd", "data/cmd"]); // initial fire, then the write
    const kinds = new Set(platform.sched.trace.all().map((r) => r.kind));
    for (const k of [
      "xs.ring.req_produced",
      "xs.ring.req",
      "xs.ring.rsp",
      "xs.ring.rsp_consumed",
      "evtchn.send",
    ]) {
      expect(kinds).toContain(k);
    }
  });

  it("streams 4 KiB payloads through the 1 KiB rings in both directions", async () => {
    const platform = new Platform({ policy: new SeededPolicy(9) });
    const guest = await bootGuest(platform, 2);
    const value = "x".repeat(2000);
    const work = (async () => {
      const writes = [];
      for (let i = 0; i < 5; i++) writes.push(guest.xenbus.write(0, `data/big${i}`, `${i}${value}`));
      await Promise.all(writes);
      return Promise.all([0, 1, 2, 3, 4].map((i) => guest.xenbus.readString(0, `data/big${i}`)));
    })();
    expect(await platform.settle(work)).toEqual([0, 1, 2, 3, 4].map((i) => `${i}${value}`));
  });

  it("stops serving a guest that corrupts its indices, and keeps serving the others", async () => {
    const platform = new Platform({ policy: new SeededPolicy(5) });
    const bad = await bootGuest(platform, 3);
    const good = await bootGuest(platform, 4);
    const page = new XenstoreInterface(bad.memory.page(bad.startInfo.storeGfn));
    page.reqProd = page.reqCons + 5000; // prod − cons > 1024
    bad.events.send(bad.startInfo.storePort);
    const work = (async () => {
      await good.xenbus.write(0, "data/ok", "still served");
      return good.xenbus.readString(0, "data/ok");
    })();
    expect(await platform.settle(work)).toBe("still served");
    expect(page.error).toBe(XENSTORE_ERROR_RINGIDX);
    expect(platform.ringHost.link(3)?.ignored).toMatch(/req indexes/);
  });
});
