// The console device, end to end on the public API: plug through the toolstack, both ends reach
// Connected, bytes flow both ways through the shared page, unplug leaves nothing behind.
import { checkQuiescentInvariants, Machine, SeededPolicy, XenbusState } from "@xensim/frontend-sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConsoleBackend } from "./console-backend.ts";
import { ConsoleFrontend, type ConsoleFrontendOptions } from "./console-frontend.ts";
import { consoleSpec } from "./console-spec.ts";

async function session(seed: number, options: ConsoleFrontendOptions = {}) {
  const back = new ConsoleBackend();
  const front = new ConsoleFrontend(options);
  const m = new Machine({ policy: new SeededPolicy(seed), backends: [back] });
  const spec = consoleSpec(1);
  const fe = "/local/domain/1/device/console/1/state";
  const be = "/local/domain/0/backend/console/1/1/state";
  const out = await m.settle(
    (async () => {
      await m.startDom0();
      await m.createGuest(1, [front]);
      await m.toolstack.addDevice(spec);
      const s = await m.toolstack.waitForState(
        fe,
        (x) => x === XenbusState.Connected || x === XenbusState.Closing || x === XenbusState.Closed,
        1e10,
      );
      if (s !== XenbusState.Connected) return { connected: false, log: "", input: "" };
      await m.toolstack.waitForState(be, (x) => x === XenbusState.Connected, 1e10);
      const guest = front.devices.get("device/console/1")!;
      const host = back.devices.get("backend/console/1/1")!;
      guest.write("Linux version 6.1 (xensim)\n");
      host.type("root\n");
      await m.sched.sleep("test", 1_000_000);
      const result = { connected: true, log: host.log, input: guest.input };
      await m.toolstack.removeDevice(spec);
      return result;
    })(),
  );
  return { m, out };
}

describe("example: the Xen PV console on xensim's public API", () => {
  it("connects, carries bytes both ways and unplugs cleanly", async () => {
    const { m, out } = await session(1);
    expect(out).toEqual({ connected: true, log: "Linux version 6.1 (xensim)\n", input: "root\n" });
    expect(checkQuiescentInvariants(m)).toEqual([]);
  });

  it("does so under many schedules", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const { m, out } = await session(seed);
        expect(out.connected).toBe(true);
        expect(checkQuiescentInvariants(m)).toEqual([]);
      }),
      { numRuns: 15 },
    );
  });
});
