import { Blkfront } from "../guest/blkfront/index.ts";
import { ethernetFrame, NetfrontDriver, netfrontOf, parseMac } from "../guest/netfront/index.ts";
import { Blkback, BlockDevices, MemoryDisk } from "../host/blkback/index.ts";
import { checkQuiescentInvariants } from "../host/invariants.ts";
import { Machine } from "../host/machine.ts";
import { macFor, NetbackDriver } from "../host/netback/index.ts";
import { type DeviceSpec, vbdSpec, vifSpec } from "../host/toolstack/device-spec.ts";
import { vbdPatternCheck } from "../lifecycle/blk-lifecycle.ts";
import { XenbusState } from "../xenbus/xenbus-state.ts";
import type { Scenario, ScenarioContext, ScenarioResult } from "./scenario.ts";

const GUESTS = [1, 2] as const;
const FRAMES_EACH_WAY = 8;
/** Each guest's disk: 8 MiB in 512-byte sectors. */
const DISK_SECTORS = 16384;
/** The pattern each guest writes, flushes and reads back: 64 sectors at sector 2048. */
const PATTERN_SECTOR = 2048;
const PATTERN_SECTORS = 64;

/** A frame whose payload names its sender and sequence number, so each arrival can be matched. */
function numberedFrame(from: number, to: number, seq: number): Uint8Array {
  const payload = new TextEncoder().encode(`xensim frame ${seq} from dom${from} to dom${to}`.padEnd(46, "."));
  return ethernetFrame(parseMac(macFor(to))!, parseMac(macFor(from))!, 0x88b5, payload);
}

/**
 * The default scenario: dom0 and two guests boot; each guest gets a vif and a vbd; netfront and
 * netback, blkfront and blkback negotiate to Connected/Connected through XenStore, grants, rings
 * and event channels; frames cross the virtual switch both ways; each guest writes a pattern to
 * its disk, flushes, reads it back and checks it; the toolstack unplugs everything; nothing leaks.
 */
export const vifVbdLifecycle: Scenario = {
  name: "vif-vbd-lifecycle",
  description: "dom0 + two guests: vif and vbd handshakes, packets both ways, disk pattern, unplug",
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const netback = new NetbackDriver();
    const disks = new BlockDevices();
    const blkback = new Blkback({ disks });
    const m = new Machine({ policy: ctx.policy, backends: [netback, blkback] });
    const blkfronts = new Map<number, Blkfront>();
    const vbds = new Map<number, DeviceSpec>();
    const ts = m.toolstack;
    const failures: string[] = [];
    const summary: string[] = [];
    const step = (what: string): void => m.sched.trace.emit("scenario", "scenario.step", { what });
    const vifs = new Map<number, DeviceSpec>();
    const received = new Map<string, number>();

    const work = (async () => {
      step("boot dom0 and guests");
      await m.startDom0();
      for (const d of GUESTS) {
        const blkfront = new Blkfront();
        blkfronts.set(d, blkfront);
        await m.createGuest(d, [new NetfrontDriver(), blkfront]);
      }

      step("plug a vif into each guest");
      for (const d of GUESTS) {
        const spec = vifSpec({ domid: d, devid: 0, mac: macFor(d) });
        vifs.set(d, spec);
        await ts.addDevice(spec);
      }
      for (const d of GUESTS) {
        await ts.waitForState(
          `/local/domain/${d}/device/vif/0/state`,
          (s) => s === XenbusState.Connected,
          1e11,
        );
        await ts.waitForState(
          `/local/domain/0/backend/vif/${d}/0/state`,
          (s) => s === XenbusState.Connected,
          1e11,
        );
      }
      summary.push(`vif/0 of ${GUESTS.map((d) => `dom${d}`).join(" and ")}: Connected/Connected`);

      step("send frames both ways");
      for (const d of GUESTS) {
        const nf = netfrontOf(m.guests.get(d)!.bus, 0)!;
        nf.onReceive((f) => {
          const key = new TextDecoder().decode(f.data.subarray(14, 14 + 46)).replace(/\.+$/, "");
          received.set(`${key}@dom${d}`, (received.get(`${key}@dom${d}`) ?? 0) + 1);
        });
      }
      const [a, b] = GUESTS;
      for (let seq = 0; seq < FRAMES_EACH_WAY; seq++) {
        netfrontOf(m.guests.get(a)!.bus, 0)!.send(numberedFrame(a, b, seq));
        netfrontOf(m.guests.get(b)!.bus, 0)!.send(numberedFrame(b, a, seq));
      }
      await m.sched.sleep("scenario", 1_000_000, "let frames drain");

      step("plug a vbd into each guest");
      for (const d of GUESTS) {
        const physical = disks.attach(new MemoryDisk({ sectors: DISK_SECTORS }));
        const spec = vbdSpec({ domid: d, physical });
        vbds.set(d, spec);
        await ts.addDevice(spec);
      }
      step("write a pattern to each disk, flush, read it back");
      for (const d of GUESTS) {
        const disk = await blkfronts.get(d)!.device("xvda");
        const bad = await vbdPatternCheck(disk, PATTERN_SECTOR, PATTERN_SECTORS);
        failures.push(...bad.map((f) => `dom${d}: ${f}`));
        if (bad.length === 0) {
          summary.push(
            `dom${d} xvda: ${disk.sectors} sectors; ${PATTERN_SECTORS * 512} bytes written, flushed, read back and verified`,
          );
        }
      }

      step("unplug every device");
      for (const d of GUESTS) {
        await ts.removeDevice(vifs.get(d)!);
        await ts.removeDevice(vbds.get(d)!);
      }
    })();

    try {
      await m.settle(work);
    } catch (e) {
      failures.push(`scenario did not complete: ${e instanceof Error ? e.message : String(e)}`);
    }

    // Every frame sent arrived exactly once, at the right guest.
    const [a, b] = GUESTS;
    let ok = 0;
    for (let seq = 0; seq < FRAMES_EACH_WAY; seq++) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const key = `xensim frame ${seq} from dom${from} to dom${to}@dom${to}`;
        const n = received.get(key) ?? 0;
        if (n === 1) ok++;
        else failures.push(`frame ${seq} dom${from}→dom${to} received ${n} times`);
      }
    }
    if (received.size !== ok) failures.push(`unexpected frames: ${[...received.keys()].length - ok}`);
    summary.push(`${ok} of ${2 * FRAMES_EACH_WAY} frames delivered exactly once through xenbr0`);
    failures.push(...checkQuiescentInvariants(m));
    summary.push(
      `after unplug: no leaked grants, mappings, event channels, watches or transactions${failures.length ? " (see failures)" : ""}`,
    );
    summary.push(
      `${m.sched.steps} scheduler steps, ${m.sched.trace.length} trace records, ${(m.sched.now / 1e6).toFixed(3)} ms virtual time`,
    );
    return { sched: m.sched, summary, failures };
  },
};
