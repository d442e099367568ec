import { describe, expect, it } from "vitest";
import { NetRig, testFrame } from "./net-test-kit.ts";

describe("netfront ↔ netback end to end", () => {
  it("plugs two guests, exchanges frames both ways, unplugs cleanly", async () => {
    const rig = new NetRig();
    const [a, b] = await rig.boot([1, 2]);
    const fa = rig.front(a!);
    const fb = rig.front(b!);
    expect(fa.connected && fb.connected).toBe(true);
    const ab = testFrame(b!.mac, a!.mac, 1500, 1);
    expect(fa.send(ab)).toBe(true);
    await rig.drain();
    const gotB = fb.takeReceived();
    expect(gotB.map((f) => f.data)).toEqual([ab]);
    const ba = testFrame(a!.mac, b!.mac, 60, 2);
    expect(fb.send(ba)).toBe(true);
    await rig.drain();
    expect(fa.takeReceived().map((f) => f.data)).toEqual([ba]);
    const out = await rig.machine.settle(
      Promise.all([rig.machine.toolstack.removeDevice(a!.spec), rig.machine.toolstack.removeDevice(b!.spec)]),
    );
    expect(out).toEqual(["clean", "clean"]);
    expect(rig.leaks(a!)).toEqual([]);
    expect(rig.leaks(b!)).toEqual([]);
    expect(rig.dom0Leaks()).toEqual([]);
  });
});
