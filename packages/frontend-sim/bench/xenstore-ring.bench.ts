// XenStore over the shared page: guest READ requests answered through the ring per second of wall
// time, one guest and sixteen guests at once. Baseline in the same run: the same READs sent to a
// plain in-process connection (no ring, no event channels, no scheduler), as a ratio.
import { FifoPolicy } from "@xensim/evtchn";
import { XsRequest } from "@xensim/xenstore-core";
import { type BenchOptions, timeAsync, timeSync } from "../../../scripts/bench-kit.ts";
import { GuestKernel } from "../src/guest/kernel.ts";
import { XBT_NIL } from "../src/guest/xenbus/xs-client.ts";
import { Platform } from "../src/host/platform.ts";

async function bootGuests(platform: Platform, n: number): Promise<GuestKernel[]> {
  const tools = platform.dom0Client("toolstack");
  const guests: GuestKernel[] = [];
  for (let d = 1; d <= n; d++) {
    const start = platform.buildDomain(d);
    await platform.settle(
      (async () => {
        await tools.write(XBT_NIL, `/local/domain/${d}`, "");
        await tools.setPerms(XBT_NIL, `/local/domain/${d}`, ["n0", `r${d}`]);
        await tools.write(XBT_NIL, `/local/domain/${d}/data/key`, "value");
        await tools.introduceDomain(d, start.storeGfn, start.storePort);
      })(),
    );
    guests.push(new GuestKernel(platform.guestResources(d), start));
  }
  return guests;
}

/** Each guest keeps `depth` READs in flight until it has done `perGuest` round trips. */
async function roundTrips(guests: number, perGuest: number, depth: number): Promise<number> {
  const platform = new Platform({ policy: new FifoPolicy(), recordTrace: false });
  const gs = await bootGuests(platform, guests);
  const work = Promise.all(
    gs.map(async (g) => {
      let left = perGuest;
      const lane = async (): Promise<void> => {
        while (left-- > 0) await g.xenbus.read(XBT_NIL, "data/key");
      };
      await Promise.all(Array.from({ length: depth }, lane));
    }),
  );
  const secs = await timeAsync(() => platform.settle(work));
  return (guests * perGuest) / secs;
}

export async function run({ quick }: BenchOptions): Promise<Record<string, number>> {
  const n = quick ? 2_000 : 20_000;
  await roundTrips(1, n / 4, 4); // warm-up: let the JIT see the whole path once
  const single = await roundTrips(1, n, 4);
  const sixteen = await roundTrips(16, n / 8, 4);

  // Baseline: the same READ frames straight into a connection, replies pulled at once.
  const platform = new Platform({ recordTrace: false });
  const conn = platform.xenstored.connect({ domid: 0 });
  const frame = XsRequest.read("/local/domain/0");
  platform.xenstored.direct(0).write("/local/domain/0", "x");
  const secs = timeSync(() => {
    for (let i = 0; i < n; i++) {
      conn.deliver(frame);
      conn.takeOutput();
    }
  });
  const direct = n / secs;
  return {
    "xenstore.ring.roundtrips_per_s": single,
    "xenstore.ring.roundtrips_per_s.g16": sixteen,
    "xenstore.ring.ratio_vs_direct_connection": single / direct,
  };
}
