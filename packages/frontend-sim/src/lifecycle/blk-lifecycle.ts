// The block device lifecycle cases and peer profiles (issue 8 §4–5) as named, deterministic
// scenarios with their own assertions. Each builds a machine, runs to quiescence and ends with
// checkQuiescentInvariants. Same seed ⇒ same run. `blkScenarios` lists them for the CLI.
import { Prng, type Scheduler } from "@xensim/evtchn";
import { Blkfront, type BlkfrontOptions } from "../guest/blkfront/blkfront.ts";
import type { BlockDevice } from "../guest/blkfront/block-io.ts";
import { XBT_NIL } from "../guest/xenbus/xs-client.ts";
import { backendPath, frontendPath, libxlPath, vbdSpec } from "../host/toolstack/device-spec.ts";
import type { Scenario, ScenarioContext, ScenarioResult } from "../scenarios/scenario.ts";
import { XenbusState } from "../xenbus/xenbus-state.ts";
import { type BackendProfile, BlkMachine, type BlkMachineOptions } from "./blk-harness.ts";
import { DiskModel, firstDiff, randomWorkload } from "./disk-model.ts";

/**
 * The default scenario's disk check in a few lines: write a pattern, flush, read it back.
 * Returns failures (empty when the data came back intact).
 */
export async function vbdPatternCheck(disk: BlockDevice, sector = 0, sectors = 64): Promise<string[]> {
  const pattern = new Uint8Array(sectors * 512);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31 + (i >> 9)) & 0xff;
  await disk.write(sector, pattern);
  await disk.flush();
  const back = await disk.read(sector, sectors);
  const d = firstDiff(back, pattern);
  return d < 0 ? [] : [`${disk.name}: pattern differs at byte ${d}`];
}

/** The `to` states a device's end wrote, from the trace (`xenbus.state` records). */
export function stateHistory(sched: Scheduler, nodename: string): string[] {
  return sched.trace
    .all()
    .filter((r) => r.kind === "xenbus.state" && r.details.dev === nodename)
    .map((r) => String(r.details.to));
}

interface CaseContext {
  readonly bm: BlkMachine;
  readonly rng: Prng;
  readonly summary: string[];
  readonly failures: string[];
  expect(cond: boolean, what: string): void;
}

async function runCase(
  ctx: ScenarioContext,
  machine: BlkMachineOptions,
  body: (c: CaseContext) => Promise<void>,
  after?: (c: CaseContext) => void,
  /** Invariant lines that do not apply (resources of a destroyed domain). */
  exempt: (line: string) => boolean = () => false,
): Promise<ScenarioResult> {
  const bm = new BlkMachine({ ...machine, policy: ctx.policy });
  const summary: string[] = [];
  const failures: string[] = [];
  const c: CaseContext = {
    bm,
    rng: new Prng(ctx.seed),
    summary,
    failures,
    expect(cond, what) {
      if (!cond) failures.push(what);
    },
  };
  try {
    await bm.m.settle(
      (async () => {
        await bm.m.startDom0();
        await body(c);
      })(),
    );
  } catch (e) {
    failures.push(`run failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  // Checks that hold once everything settled (backends drained, deferred grants revoked).
  after?.(c);
  failures.push(
    ...bm
      .invariants()
      .filter((f) => !exempt(f))
      .map((f) => `invariant: ${f}`),
  );
  summary.push(`${bm.m.sched.steps} scheduler steps, ${bm.m.sched.now} ns virtual time`);
  return { sched: bm.m.sched, summary, failures };
}

const FE = "device/vbd/51712";
const BE = "backend/vbd/1/51712";
const SECTORS = 4096;

function workload(
  c: CaseContext,
  disk: BlockDevice,
  model: DiskModel,
  batches: number,
  hook?: (b: number) => Promise<void>,
) {
  return randomWorkload(disk, model, c.rng, {
    batches,
    concurrency: 6,
    maxSectors: 160,
    discard: disk.features.discard,
    ...(hook ? { onBatch: hook } : {}),
  });
}

/** The basic path: plug, random I/O against a model, pattern check, clean unplug. */
export const blkIo: Scenario = {
  name: "blk-io",
  description: "vbd plug, random I/O checked against a disk model, flush, clean unplug",
  run: (ctx) =>
    runCase(ctx, { blkback: { maxQueues: 4 } }, async (c) => {
      const { disk: image, physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { maxQueues: 2, maxRingPageOrder: 1 });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
      const model = new DiskModel(SECTORS);
      const w = await workload(c, disk, model, 8);
      c.failures.push(...w.failures);
      c.failures.push(...(await vbdPatternCheck(disk, 100)));
      model.write(100, image.peek(100 * 512, 64 * 512));
      c.expect(firstDiff(image.peek(0, SECTORS * 512), model.bytes) < 0, "image differs from the model");
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`${w.ops} ops, ${w.bytes} bytes, ${disk.stats.submitted} blkif requests`);
      c.summary.push(`features ${JSON.stringify(disk.features)}`);
    }),
};

/** Hot-unplug with I/O in flight: every request settles, completed writes are on disk. */
export const blkHotUnplugInflight: Scenario = {
  name: "blk-hot-unplug-inflight",
  description: "toolstack removes the vbd while requests are in flight at a slow disk",
  run: (ctx) =>
    runCase(
      ctx,
      { blkback: { ioLatencyNs: 50_000 } },
      async (c) => {
        const { disk: image, physical } = c.bm.image({ sectors: SECTORS });
        const { blkfront } = await c.bm.guest(1);
        const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
        const datas: Uint8Array[] = [];
        const io: Promise<unknown>[] = [];
        for (let i = 0; i < 8; i++) {
          const d = new Uint8Array(16 * 512).fill(i + 1);
          datas.push(d);
          io.push(disk.write(i * 64, d));
          io.push(disk.read(1024 + i * 64, 16));
        }
        const removal = c.bm.m.toolstack.removeDevice(spec);
        const results = await Promise.allSettled(io);
        const outcome = await removal;
        c.expect(outcome === "clean", `unplug was ${outcome}`);
        let ok = 0;
        for (let i = 0; i < 8; i++) {
          const r = results[2 * i]!;
          if (r.status === "fulfilled") {
            ok++;
            c.expect(
              firstDiff(image.peek(i * 64 * 512, 16 * 512), datas[i]!) < 0,
              `write ${i} completed but is not on disk`,
            );
          }
        }
        const failed = results.filter((r) => r.status === "rejected").length;
        c.expect(blkfront.find("xvda") === undefined, "blkfront still has the device");
        c.expect(disk.state === "closed", `disk state ${disk.state}`);
        c.summary.push(
          `${results.length} requests in flight at unplug: ${results.length - failed} completed, ${failed} failed; ${ok} writes landed`,
        );
        c.summary.push(`frontend states ${stateHistory(c.bm.m.sched, FE).join(" → ")}`);
      },
      (c) => c.expect(c.bm.blkback.all.size === 0, "blkback still has the device"),
    ),
};

/** Backend restart: the backend closes and comes back; the frontend goes 5 → 6 → 1 and reconnects. */
export const blkBackendRestart: Scenario = {
  name: "blk-backend-restart",
  description: "the backend goes away (Closing) and comes back; the frontend reconnects and re-issues I/O",
  run: (ctx) =>
    runCase(ctx, { blkback: { ioLatencyNs: 20_000 } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { reconnect: true });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
      const model = new DiskModel(SECTORS);
      const w = await workload(c, disk, model, 6, async (b) => {
        if (b === 2) await c.bm.blkback.device(1, spec.devid)!.restart();
      });
      c.failures.push(...w.failures);
      await disk.whenConnected();
      c.failures.push(...(await vbdPatternCheck(disk, 8)));
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      const be = stateHistory(c.bm.m.sched, BE).join(" ");
      c.expect(fe.includes("Closed Initialising Initialised Connected"), `frontend states: ${fe}`);
      c.expect(be.includes("Closing Closed InitWait Connected"), `backend states: ${be}`);
      c.expect(disk.stats.requeued > 0 || w.ops > 0, "nothing was re-issued");
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(
        `frontend ${fe}`,
        `backend ${be}`,
        `${disk.stats.requeued} requests re-issued after reconnect`,
      );
    }),
};

/** Frontend-initiated reconnect with I/O in flight. */
export const blkFrontendReconnect: Scenario = {
  name: "blk-frontend-reconnect",
  description: "the frontend closes and reconnects by itself while requests are in flight",
  run: (ctx) =>
    runCase(ctx, { blkback: { ioLatencyNs: 20_000 } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { maxQueues: 2 });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
      const model = new DiskModel(SECTORS);
      let again: Promise<void> = Promise.resolve();
      const w = await workload(c, disk, model, 6, async (b) => {
        if (b === 1) again = disk.reconnect();
      });
      await again;
      c.failures.push(...w.failures);
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      c.expect(
        fe.startsWith("Initialised Connected Closing Closed Initialising Initialised Connected"),
        `frontend states: ${fe}`,
      );
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`frontend ${fe}`, `${disk.stats.requeued} requests re-issued`);
    }),
};

/**
 * Guest suspend and resume: the vCPU pauses with I/O in flight, the old backend is torn down (as
 * on migration), the toolstack recreates the device — here with a different backend (a QEMU-style
 * one) — and the guest resumes: cache reset to Initialising, rings re-created at once, requests
 * re-queued and re-split to the new backend's limits.
 */
export const blkSuspendResume: Scenario = {
  name: "blk-suspend-resume",
  description: "suspend with I/O in flight, backend replaced (blkback → QEMU-style), resume and re-issue",
  run: (ctx) => {
    let profile: BackendProfile = "linux";
    return runCase(ctx, { blkback: { ioLatencyNs: 20_000, profile: () => profile } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { guest, blkfront } = await c.bm.guest(1, { maxRingPageOrder: 2 });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
      const before = disk.features;
      const model = new DiskModel(SECTORS);
      const tools = c.bm.m.toolstack;
      const w = await workload(c, disk, model, 6, async (b) => {
        if (b !== 2) return;
        await guest.bus.suspend();
        // The old host's toolstack destroys the backend; the guest cannot answer.
        await tools.xb.transaction(async (tx) => {
          await tools.xb.rm(tx, backendPath(spec));
          await tools.xb.rm(tx, libxlPath(spec));
        });
        // Wait until the old backend let go of every page (its in-flight I/O drained).
        while (c.bm.m.platform.hypervisor.activeMappings(0).some((mp) => mp.granter === 1 && mp.ref !== 1)) {
          await c.bm.m.sched.sleep("toolstack", 10_000);
        }
        profile = "qemu";
        await tools.addDevice(vbdSpec({ domid: 1, physical, type: "qdisk" }));
        await guest.bus.resume();
      });
      c.failures.push(...w.failures);
      await disk.whenConnected();
      c.failures.push(...(await vbdPatternCheck(disk, 16)));
      const after = disk.features;
      c.expect(before.indirectSegments > 0 && after.indirectSegments === 0, "backend limits did not change");
      c.expect(after.ringPages === 1 && !after.persistent, `after resume: ${JSON.stringify(after)}`);
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      c.expect(fe === "Initialised Connected Initialised Connected", `frontend states: ${fe}`);
      const qemu = c.bm.blkback.device(1, spec.devid)!;
      c.expect(qemu.stats.copies > 0 && qemu.stats.maps === 0, "QEMU-style backend mapped data pages");
      const outcome = await tools.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`frontend ${fe}`, `${disk.stats.requeued} requests re-queued across resume`);
    });
  },
};

/** Domain destroy with the vbd connected and I/O in flight. */
export const blkDestroyDomain: Scenario = {
  name: "blk-destroy-domain",
  description: "xl destroy of a guest whose vbd is connected with requests in flight",
  run: (ctx) =>
    runCase(
      ctx,
      { blkback: { ioLatencyNs: 30_000 } },
      async (c) => {
        const { physical } = c.bm.image({ sectors: SECTORS });
        const { blkfront } = await c.bm.guest(1);
        const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
        const io: Promise<unknown>[] = [];
        for (let i = 0; i < 6; i++) io.push(disk.write(i * 16, new Uint8Array(8 * 512).fill(9)));
        const settled = Promise.allSettled(io);
        await c.bm.m.toolstack.destroyDomain(1, [spec]);
        const results = await settled;
        const store = c.bm.m.platform.xenstored.direct(0);
        c.expect(!store.read(frontendPath(spec)).ok, "frontend directory left behind");
        c.expect(!store.read(backendPath(spec)).ok, "backend directory left behind");
        c.expect(!store.read("/local/domain/1").ok, "domain home left behind");
        c.summary.push(
          `${results.filter((r) => r.status === "fulfilled").length}/${results.length} in-flight writes completed before the device went`,
        );
      },
      (c) => {
        c.expect(c.bm.blkback.all.size === 0, "blkback still has devices");
        c.expect(
          c.bm.m.platform.hypervisor.activeMappings(0).every((m) => m.granter !== 1 || m.ref === 1),
          "dom0 still maps guest pages",
        );
      },
      // xc_domain_destroy takes the guest's grant table and event channels with it; the simulated
      // machine keeps the dead domain's hypervisor state, so only dom0's side must be clean. (The
      // guest may not even have seen its device go: RELEASE can overtake its watch event.)
      (line) => /^leaked (grants|event channel): dom1\b/.test(line),
    ),
};

// ---------------------------------------------------------------------------------------------
// Peer profiles

async function ioCheck(c: CaseContext, disk: BlockDevice): Promise<void> {
  const model = new DiskModel(SECTORS);
  const w = await workload(c, disk, model, 3);
  c.failures.push(...w.failures);
  c.failures.push(...(await vbdPatternCheck(disk, 32)));
}

/** Backend skips InitWait (1 → 4); blkfront does talk_to_blkback + connect on Connected. */
export const blkProfileSkipInitWait: Scenario = {
  name: "blk-profile-skip-initwait",
  description: "backend goes 1 → 4 without InitWait; blkfront publishes rings and connects anyway",
  run: (ctx) =>
    runCase(ctx, { blkback: { profile: "skip-initwait" } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { maxRingPageOrder: 2, maxQueues: 2 });
      // No block script for this backend: it opens `params` itself.
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, params: physical.path });
      await ioCheck(c, disk);
      const be = stateHistory(c.bm.m.sched, BE).join(" ");
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      c.expect(be === "Connected", `backend states: ${be}`);
      c.expect(fe === "Initialised Connected", `frontend states: ${fe}`);
      c.expect(disk.features.ringPages === 1 && disk.features.queues === 1, "defaults not in effect");
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`backend ${be}`, `frontend ${fe}`);
    }),
};

/** The backend is Connected before blkfront binds: the frontend's first view is Connected. */
export const blkProfileAlreadyConnected: Scenario = {
  name: "blk-profile-already-connected",
  description: "blkfront loads after the backend reached Connected",
  run: (ctx) =>
    runCase(ctx, { blkback: { profile: "already-connected" } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const guest = await c.bm.m.createGuest(1, []);
      const spec = vbdSpec({ domid: 1, params: physical.path });
      await c.bm.m.toolstack.addDevice(spec);
      await c.bm.m.toolstack.waitForState(
        `/local/domain/0/${BE}/state`,
        (s) => s === XenbusState.Connected,
        1e10,
      );
      const blkfront = new Blkfront();
      guest.bus.addDriver(blkfront);
      await guest.bus.rescan();
      const disk = await blkfront.device("xvda");
      await ioCheck(c, disk);
      const first = c.bm.m.sched.trace
        .all()
        .find((r) => r.kind === "xenbus.otherend_changed" && r.details.dev === FE);
      c.expect(
        first?.details.otherend_state === "Connected",
        `first backend state seen: ${first?.details.otherend_state}`,
      );
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      c.expect(fe === "Initialised Connected", `frontend states: ${fe}`);
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(
        `first backend state seen by blkfront: ${first?.details.otherend_state}`,
        `frontend ${fe}`,
      );
    }),
};

/** Windows-style frontend: a close cycle before connecting. */
export const blkProfileWindows: Scenario = {
  name: "blk-profile-windows",
  description: "frontend runs Closing → Closed → Initialising before its first connection",
  run: (ctx) =>
    runCase(ctx, {}, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { profile: "windows" });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical });
      await ioCheck(c, disk);
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      const be = stateHistory(c.bm.m.sched, BE).join(" ");
      c.expect(fe === "Closing Closed Initialising Initialised Connected", `frontend states: ${fe}`);
      c.expect(be === "InitWait Closing Closed InitWait Connected", `backend states: ${be}`);
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`frontend ${fe}`, `backend ${be}`);
    }),
};

/** A frontend that jumps straight to Closed: both ends settle Closed/Closed; unplug still works. */
export const blkProfileClosed: Scenario = {
  name: "blk-profile-closed",
  description: "frontend jumps straight to Closed; blkback follows to Closed; unplug is clean",
  run: (ctx) =>
    runCase(ctx, {}, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { profile: "closed" });
      const spec = vbdSpec({ domid: 1, physical });
      await c.bm.m.toolstack.addDevice(spec);
      const tools = c.bm.m.toolstack;
      await tools.waitForState(`/local/domain/1/${FE}/state`, (s) => s === XenbusState.Closed, 1e10);
      await tools.waitForState(`/local/domain/0/${BE}/state`, (s) => s === XenbusState.Closed, 1e10);
      c.expect(
        c.bm.m.platform.hypervisor.activeMappings(0).every((m) => m.ref === 1),
        "rings mapped for a closed frontend",
      );
      const fe = stateHistory(c.bm.m.sched, FE).join(" ");
      c.expect(fe === "Closed", `frontend states: ${fe}`);
      c.expect(blkfront.find("xvda")?.state !== "connected", "disk connected");
      const outcome = await tools.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`frontend ${fe}`, `backend ${stateHistory(c.bm.m.sched, BE).join(" ")}`);
    }),
};

/** QEMU-style backend: grant copy only, single-page single-queue rings, no indirect/persistent. */
export const blkProfileQemu: Scenario = {
  name: "blk-profile-qemu",
  description: "QEMU xen-block style backend: grant copy, 1-page 1-queue rings, no persistent grants",
  run: (ctx) =>
    runCase(ctx, { blkback: { profile: "qemu" } }, async (c) => {
      const { physical } = c.bm.image({ sectors: SECTORS });
      const { blkfront } = await c.bm.guest(1, { maxRingPageOrder: 2, maxQueues: 4 });
      const { spec, disk } = await c.bm.plug(blkfront, { domid: 1, physical, type: "qdisk" });
      await ioCheck(c, disk);
      const f = disk.features;
      c.expect(
        f.ringPages === 1 && f.queues === 1 && !f.persistent && f.indirectSegments === 0,
        `features ${JSON.stringify(f)}`,
      );
      const be = c.bm.blkback.device(1, spec.devid)!;
      c.expect(
        be.stats.copies > 0 && be.stats.maps === 0,
        `maps ${be.stats.maps}, copies ${be.stats.copies}`,
      );
      const keys = await c.bm.m.toolstack.xb.directory(XBT_NIL, `/local/domain/0/${BE}`);
      c.expect(
        !keys.includes("max-ring-page-order") && !keys.includes("feature-persistent"),
        "QEMU backend advertised blkback limits",
      );
      const outcome = await c.bm.m.toolstack.removeDevice(spec);
      c.expect(outcome === "clean", `unplug was ${outcome}`);
      c.summary.push(`${be.stats.copies} segments by grant copy, ${be.stats.maps} maps`);
    }),
};

/** Every lifecycle case and profile, for the CLI's list. */
export const blkScenarios: readonly Scenario[] = [
  blkIo,
  blkHotUnplugInflight,
  blkBackendRestart,
  blkFrontendReconnect,
  blkSuspendResume,
  blkDestroyDomain,
  blkProfileSkipInitWait,
  blkProfileAlreadyConnected,
  blkProfileWindows,
  blkProfileClosed,
  blkProfileQemu,
];

export type { BlkfrontOptions };
