// Property tests of XenStore over the shared page (issue 6): the ring path gives the same answers
// as a plain connection, under random chunking, random scheduling, indices near 2³², a response
// ring left full for long stretches — and a hostile guest never disturbs anyone else.
import { SeededPolicy } from "@xensim/evtchn";
import { Platform } from "@xensim/frontend-sim/host";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bootGuest, introduceGuest } from "./support/boot-guest.ts";
import { equivalentTraffic, referenceReplies, reqArb, viaRing } from "./support/xs-ring-traffic.ts";

describe("XenStore ring transport: properties", () => {
  it("answers exactly as a plain connection does, under random chunking, scheduling and start indices", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(reqArb, { minLength: 1, maxLength: 30 }),
        fc.integer(),
        fc.option(fc.integer({ min: 0xffff_fc00, max: 0xffff_ffff }), { nil: null }),
        async (reqs, seed, startIndex) => {
          const frames = reqs.map((r, i) => r(i + 1));
          const expected = referenceReplies(frames);
          const got = await viaRing(frames, seed, startIndex);
          const eq = equivalentTraffic(got, expected);
          expect(eq.replies[0]).toEqual(eq.replies[1]);
          expect(eq.events[0]).toEqual(eq.events[1]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("drops a transaction and watches on reconnect, then serves the new connection", async () => {
    const platform = new Platform({ policy: new SeededPolicy(11) });
    const guest = await bootGuest(platform, 6);
    const xb = guest.xenbus;
    const fired: string[] = [];
    const work = (async () => {
      await xb.watch("data/w", (p) => {
        fired.push(p);
      });
      const tx = await xb.transactionStart();
      await xb.write(tx, "data/in-tx", "lost");
      await guest.xsTransport.reconnect();
      const end = await xb.transactionEnd(tx, false).then(
        () => "committed",
        (e: Error) => e.message,
      );
      const exists = await xb.exists(0, "data/in-tx");
      await xb.write(0, "data/w", "after");
      return { end, exists };
    })();
    const r = await platform.settle(work);
    expect(r.end).toMatch(/ENOENT/);
    expect(r.exists).toBe(false);
    expect(fired).toEqual(["data/w"]); // only the initial fire: the watch died with the connection
  });

  it("never crashes on a hostile guest and never disturbs another guest's data", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 200,
        }),
        fc.array(
          fc.tuple(fc.constantFrom(2048, 2052, 2056, 2060, 2068), fc.integer({ min: 0, max: 0xffff_ffff })),
          {
            maxLength: 6,
          },
        ),
        fc.integer(),
        async (bytes, indices, seed) => {
          const platform = new Platform({ policy: new SeededPolicy(seed), recordTrace: false });
          const good = await bootGuest(platform, 7);
          const badStart = await introduceGuest(platform, 8);
          const page = platform.hypervisor.domain(8)!.memory.page(badStart.storeGfn);
          const bad = platform.evtchn.domain(8);
          const work = (async () => {
            await good.xenbus.write(0, "data/mine", "precious");
            for (let i = 0; i < 5; i++) await good.xenbus.write(0, `data/k${i}`, `v${i}`);
            return Promise.all([0, 1, 2, 3, 4].map((i) => good.xenbus.readString(0, `data/k${i}`)));
          })();
          platform.sched.post("dom8", "garbage", () => {
            for (const [off, v] of bytes) page.setU8(off, v);
            for (const [off, v] of indices) page.setU32(off, v);
            bad.send(badStart.storePort);
          });
          expect(await platform.settle(work)).toEqual(["v0", "v1", "v2", "v3", "v4"]);
          const reads = platform.xenstored.direct(0);
          const mine = reads.readString("/local/domain/7/data/mine");
          expect(mine).toEqual({ ok: true, value: "precious" });
        },
      ),
      { numRuns: 40 },
    );
  });
});
