import { SeededPolicy } from "@xensim/evtchn";
import {
  checkQuiescentInvariants,
  Machine,
  NetbackDriver,
  NetfrontDriver,
  vifSpec,
  XenbusState,
} from "@xensim/frontend-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

describe("xl destroy of a guest with a connected vif", () => {
  it("pauses the guest, removes its devices forced, releases it, and leaves nothing behind", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const netback = new NetbackDriver();
        const m = new Machine({ policy: new SeededPolicy(seed), backends: [netback] });
        const spec = vifSpec({ domid: 1, devid: 0, mac: "00:16:3e:00:00:01" });
        const released: string[] = [];
        await m.settle(
          (async () => {
            await m.startDom0();
            await m.createGuest(1, [new NetfrontDriver()]);
            await m.toolstack.addDevice(spec);
            await m.toolstack.waitForState(
              "/local/domain/0/backend/vif/1/0/state",
              (s) => s === XenbusState.Connected,
              1e10,
            );
            await m.toolstack.xb.watch("@releaseDomain", (p) => {
              released.push(p);
            });
            await m.destroyGuest(1, [spec]);
          })(),
        );
        expect(released).toEqual(["@releaseDomain", "@releaseDomain"]); // registration, then the release
        expect(m.platform.xenstored.store.exists("/local/domain/1")).toBe(false);
        expect(m.platform.xenstored.store.exists("/local/domain/0/backend/vif/1")).toBe(false);
        expect(netback.vif(1)).toBeUndefined();
        expect(m.platform.evtchn.has(1)).toBe(false);
        expect(checkQuiescentInvariants(m).filter((f) => !f.startsWith("toolstack:"))).toEqual([]);
      }),
      { numRuns: 8 },
    );
  });
});
