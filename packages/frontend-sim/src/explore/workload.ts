// The system under test of one exploration run: a Machine with dom0's backends and one guest
// whose devices are plugged at boot, the fault injector, the lifecycle commands `fc.commands`
// interleaves with the handshakes, and the checks after every command and at the end.
import { SchedulerLimitError, type ScriptedPolicy, TaskFailedError } from "@xensim/evtchn";
import fc from "fast-check";
import { BlockIoError } from "../guest/blkfront/block-io.ts";
import { isXenbusError, XenbusError } from "../guest/xenbus/xenbus-error.ts";
import type { Guest } from "../host/machine.ts";
import { Machine } from "../host/machine.ts";
import { backendPath, type DeviceSpec, libxlPath } from "../host/toolstack/device-spec.ts";
import { ToolstackError } from "../host/toolstack/toolstack.ts";
import { DEVICE_KITS, type DeviceKit, workloadDevices } from "./devices.ts";
import { FaultInjector, type FaultName, storeQuotasFor } from "./faults.ts";
import { type HostileKind, hostileInfo, runHostile } from "./hostile.ts";
import {
  type DevicePaths,
  devicePaths,
  livenessInvariants,
  quiescentInvariants,
  safetyInvariants,
  stepInvariants,
  storeReader,
} from "./invariants.ts";
import { findMutant, type Mode } from "./mutants/index.ts";
import { installReplyOrderMonitor } from "./wire-tap.ts";

export type { Mode };

/** The guest every run boots. */
export const GUEST_DOMID = 1;

/** Scheduler steps after a command: -1 = until idle, 0 = none (the next command overlaps it). */
export type Advance = number;

/** A lifecycle command as a token carries it. */
export type CmdSpec =
  | { readonly c: "plug"; readonly dev: string; readonly k: Advance }
  | { readonly c: "unplug"; readonly dev: string; readonly force: boolean; readonly k: Advance }
  | { readonly c: "io"; readonly dev: string; readonly n: number; readonly k: Advance }
  | { readonly c: "suspend"; readonly k: Advance }
  | { readonly c: "brestart"; readonly dev: string; readonly k: Advance }
  | { readonly c: "reconnect"; readonly dev: string; readonly k: Advance }
  | { readonly c: "xsrestart"; readonly k: Advance }
  | { readonly c: "hostile"; readonly kind: HostileKind }
  | { readonly c: "destroy"; readonly k: Advance };

export function cmdToString(s: CmdSpec): string {
  const k = "k" in s ? (s.k < 0 ? "" : ` +${s.k}`) : "";
  switch (s.c) {
    case "plug":
    case "brestart":
    case "reconnect":
      return `${s.c} ${s.dev}${k}`;
    case "unplug":
      return `unplug ${s.dev}${s.force ? " --force" : ""}${k}`;
    case "io":
      return `io ${s.dev} ×${s.n}${k}`;
    case "suspend":
    case "xsrestart":
    case "destroy":
      return `${s.c}${k}`;
    case "hostile":
      return `hostile ${s.kind}`;
  }
}

/** Tuples for tokens: compact and stable. */
export type CmdTuple = readonly (string | number | boolean)[];

export function cmdToTuple(s: CmdSpec): CmdTuple {
  switch (s.c) {
    case "plug":
    case "brestart":
    case "reconnect":
      return [s.c, s.dev, s.k];
    case "unplug":
      return [s.c, s.dev, s.force ? 1 : 0, s.k];
    case "io":
      return [s.c, s.dev, s.n, s.k];
    case "suspend":
    case "xsrestart":
    case "destroy":
      return [s.c, s.k];
    case "hostile":
      return [s.c, s.kind];
  }
}

export function cmdFromTuple(t: CmdTuple): CmdSpec {
  const [c, a, b, d] = t;
  const num = (x: unknown): number => {
    if (typeof x !== "number" || !Number.isInteger(x)) throw new Error(`bad command ${JSON.stringify(t)}`);
    return x;
  };
  const str = (x: unknown): string => {
    if (typeof x !== "string") throw new Error(`bad command ${JSON.stringify(t)}`);
    return x;
  };
  switch (c) {
    case "plug":
    case "brestart":
    case "reconnect":
      return { c, dev: str(a), k: num(b) };
    case "unplug":
      return { c, dev: str(a), force: num(b) !== 0, k: num(d) };
    case "io":
      return { c, dev: str(a), n: num(b), k: num(d) };
    case "suspend":
    case "xsrestart":
    case "destroy":
      return { c, k: num(a) };
    case "hostile":
      return { c, kind: str(a) as HostileKind };
    default:
      throw new Error(`unknown command ${JSON.stringify(t)}`);
  }
}

/** The model: just enough to say which commands make sense next. */
export interface Model {
  readonly plugged: Record<string, boolean>;
  destroyed: boolean;
  suspended: boolean;
  hostile: boolean;
}

export function initialModel(devices: readonly string[]): Model {
  const plugged: Record<string, boolean> = {};
  for (const d of devices) plugged[d] = true;
  return { plugged, destroyed: false, suspended: false, hostile: false };
}

/** Whether a command applies in this model state (fc.commands' `check`, and replay's). */
export function applies(m: Model, s: CmdSpec, kits: ReadonlyMap<string, DeviceKit>): boolean {
  if (m.destroyed) return false;
  switch (s.c) {
    case "plug":
      return m.plugged[s.dev] === false;
    case "unplug":
    case "io":
      return m.plugged[s.dev] === true;
    case "brestart":
      return m.plugged[s.dev] === true && kits.get(s.dev)?.restartBackend !== undefined;
    case "reconnect":
      return m.plugged[s.dev] === true && kits.get(s.dev)?.reconnectFrontend !== undefined;
    case "suspend":
      return !m.suspended;
    case "xsrestart":
      return true;
    case "hostile": {
      const dev = hostileInfo(s.kind)?.dev;
      if (dev === undefined || m.hostile || m.plugged[dev] !== true) return false;
      const kit = kits.get(dev);
      return dev === "vif" ? kit?.netback !== undefined : kit?.blkback !== undefined;
    }
    case "destroy":
      return true;
  }
}

export function update(m: Model, s: CmdSpec): void {
  switch (s.c) {
    case "plug":
      m.plugged[s.dev] = true;
      return;
    case "unplug":
      m.plugged[s.dev] = false;
      return;
    case "suspend":
      m.suspended = true;
      return;
    case "hostile":
      m.hostile = true;
      return;
    case "destroy":
      m.destroyed = true;
      return;
    default:
      return;
  }
}

export interface SutOptions {
  readonly mode: Mode;
  readonly workload: string;
  readonly faults: readonly FaultName[];
  readonly faultSeed: number;
  readonly policy: ScriptedPolicy;
  readonly mutant?: string | undefined;
  readonly recordTrace?: boolean;
  /**
   * The device types of this run, made fresh (a user's own driver pair, see exploreHandshake).
   * Default: the built-in kits `workload` names. `workload` then only names them in tokens.
   */
  readonly kits?: () => DeviceKit[];
}

/** Bounds: a command's advance, the final settle, the heal phase (virtual ns, steps). */
const ADVANCE_NS = 30_000_000_000;
const HEAL_NS = 120_000_000_000;
const IDLE_STEP_CAP = 150_000;

interface Op {
  readonly label: string;
  state: "pending" | "done" | "failed";
  error?: string;
}

/** One run's machine, devices, faults, commands and verdict. */
export class Sut {
  readonly m: Machine;
  readonly kits: ReadonlyMap<string, DeviceKit>;
  readonly devices: readonly DevicePaths[];
  readonly faults: FaultInjector;
  readonly failures: string[] = [];
  /** Commands executed, in order (what a replay token carries). */
  readonly log: CmdSpec[] = [];
  readonly ops: Op[] = [];
  guest!: Guest;
  private readonly specs = new Map<string, DeviceSpec>();
  private readonly tainted = new Set<string>();
  private destroyed = false;
  private readonly orderFailures: string[] = [];
  /** libxl serialises device addition/removal per domain (its userdata lock): so do we. */
  private toolLock: Promise<void> = Promise.resolve();

  constructor(readonly options: SutOptions) {
    const kits =
      options.kits !== undefined
        ? options.kits()
        : workloadDevices(options.workload).map((n) => DEVICE_KITS[n]!());
    const mutant = options.mutant === undefined ? undefined : findMutant(options.mutant);
    if (options.mutant !== undefined && mutant === undefined)
      throw new Error(`unknown mutant ${options.mutant}`);
    mutant?.kits?.(kits);
    this.kits = new Map(kits.map((k) => [k.name, k]));
    this.m = new Machine({
      policy: options.policy,
      backends: kits.map((k) => k.backend),
      recordTrace: options.recordTrace ?? false,
      store: { quotas: storeQuotasFor(options.faults, options.faultSeed) },
    });
    mutant?.machine?.(this.m);
    this.m.platform.withXenstored((server) => installReplyOrderMonitor(server, this.orderFailures));
    for (const k of kits) k.attach(this.m, GUEST_DOMID);
    this.devices = kits.map((k) => {
      const spec = k.spec(GUEST_DOMID, false);
      return devicePaths(k, GUEST_DOMID, spec.devid);
    });
    this.faults = new FaultInjector(this.m, options.faults, options.faultSeed);
  }

  get sched() {
    return this.m.sched;
  }

  private fail(msg: string): void {
    if (!this.failures.includes(msg)) this.failures.push(msg);
  }

  /** Starts `work` as a tracked operation (its unexpected exceptions are failures). */
  private track(label: string, work: () => Promise<unknown>): void {
    const op: Op = { label, state: "pending" };
    this.ops.push(op);
    work().then(
      () => {
        op.state = "done";
      },
      (e: unknown) => {
        op.state = "failed";
        op.error = e instanceof Error ? e.message : String(e);
        const expected =
          e instanceof ToolstackError ||
          e instanceof XenbusError ||
          e instanceof BlockIoError ||
          isXenbusError(e);
        if (!expected)
          this.fail(`${label} crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      },
    );
  }

  /** Runs `work` once every earlier toolstack operation on the domain has finished. */
  private serial(work: () => Promise<unknown>): () => Promise<unknown> {
    return () => {
      const run = this.toolLock.then(work);
      this.toolLock = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    };
  }

  /**
   * Runs the scheduler: `k` steps, or until idle when k < 0 — bounded in virtual time (timers
   * such as netfront's 5 s re-checks keep a stuck handshake busy) and in steps (livelock).
   * The per-step protocol checks run before every step.
   */
  async advance(k: Advance, timeNs = ADVANCE_NS): Promise<void> {
    const s = this.sched;
    const target = k < 0 ? s.steps + IDLE_STEP_CAP : s.steps + k;
    const reader = storeReader(this.m);
    let stepFailure: string[] = [];
    // The step checks read only the store: re-run them when it changed (every mutation of the
    // live tree bumps its serial; a live update brings a new store object).
    let checkedDb: object | null = null;
    let checkedSerial = -1;
    try {
      const r = await s.run({
        until: () => {
          const db = this.m.platform.xenstored.db;
          if (db !== checkedDb || db.serial !== checkedSerial) {
            checkedDb = db;
            checkedSerial = db.serial;
            stepFailure = stepInvariants(reader, this.devices);
          }
          return stepFailure.length > 0 || s.steps >= target;
        },
        maxTimeNs: s.now + timeNs,
      });
      if (stepFailure.length > 0) for (const f of stepFailure) this.fail(f);
      else if (k < 0 && r.outcome === "until")
        this.fail(`no quiescence after ${IDLE_STEP_CAP} steps (livelock?)`);
    } catch (e) {
      if (e instanceof TaskFailedError) this.fail(`task crashed: ${e.message}`);
      else if (e instanceof SchedulerLimitError) this.fail(e.message);
      else throw e;
    }
    for (const f of this.orderFailures) this.fail(f);
  }

  /** Boots dom0 and the guest (fault-free), arms the faults and starts plugging every device. */
  async boot(): Promise<void> {
    const m = this.m;
    let guest: Guest | undefined;
    this.faults.suspend();
    const booting = (async () => {
      await m.startDom0();
      guest = await m.createGuest(
        GUEST_DOMID,
        [...this.kits.values()].map((k) => k.frontend),
      );
    })();
    await m.settle(booting);
    this.guest = guest!;
    this.faults.armGuest(GUEST_DOMID);
    this.faults.resume();
    for (const k of this.kits.values()) this.plug(k);
    for (const f of safetyInvariants(this.m, this.devices, GUEST_DOMID)) this.fail(f);
  }

  private plug(k: DeviceKit): void {
    const spec = k.spec(GUEST_DOMID, this.faults.hotplugFails(k.name));
    this.specs.set(k.name, spec);
    this.track(
      `plug ${k.name}`,
      this.serial(() => this.m.toolstack.addDevice(spec)),
    );
  }

  /** Executes one command: starts its operation, then advances the scheduler. */
  async exec(s: CmdSpec): Promise<void> {
    // Let every continuation of the previous command settle first (run() drains the microtask
    // queue before looking at `until`), so a command starts at the same point whoever calls it.
    await this.sched.run({ until: () => true });
    this.log.push(s);
    this.sched.trace.emit("explore", "explore.command", { cmd: cmdToString(s) });
    const m = this.m;
    const ts = m.toolstack;
    switch (s.c) {
      case "plug":
        this.plug(this.kits.get(s.dev)!);
        break;
      case "unplug": {
        const spec = this.specs.get(s.dev)!;
        this.track(
          `unplug ${s.dev}`,
          this.serial(() => ts.removeDevice(spec, { force: s.force })),
        );
        break;
      }
      case "io": {
        const k = this.kits.get(s.dev)!;
        this.track(`io ${s.dev}`, () => k.io(this.guest, s.n));
        break;
      }
      case "brestart": {
        const k = this.kits.get(s.dev)!;
        this.track(`restart ${s.dev} backend`, () => k.restartBackend!(GUEST_DOMID));
        break;
      }
      case "reconnect": {
        const k = this.kits.get(s.dev)!;
        this.track(`reconnect ${s.dev}`, () => k.reconnectFrontend!());
        break;
      }
      case "xsrestart":
        // `xenstore-control live-update`: the daemon swaps itself between two requests.
        this.m.sched.post("xenstored", "xs.live-update", () => {
          this.m.platform.restartXenstored();
        });
        break;
      case "suspend":
        this.track(
          "suspend/resume",
          this.serial(() => this.suspendResume()),
        );
        break;
      case "destroy":
        this.destroyed = true;
        this.track(
          "destroy",
          this.serial(() =>
            ts.destroyDomain(
              GUEST_DOMID,
              [...this.specs.values()].filter((sp) => this.present(sp)),
            ),
          ),
        );
        break;
      case "hostile": {
        const r = await runHostile(s.kind, {
          m,
          guest: this.guest,
          kits: this.kits,
          advance: () => this.advance(-1),
        });
        if (r.applied) this.tainted.add(hostileInfo(s.kind)!.dev);
        for (const f of r.failures) this.fail(f);
        break;
      }
    }
    if ("k" in s) await this.advance(s.k);
    for (const f of safetyInvariants(this.m, this.devices, GUEST_DOMID)) this.fail(f);
  }

  private present(spec: DeviceSpec): boolean {
    return this.m.platform.xenstored.store.readString(`${backendPath(spec)}/state`) !== undefined;
  }

  /**
   * Guest suspend and resume onto a fresh backend (as after a migration): the vCPU quiesces,
   * the toolstack tears the backends down and waits for dom0 to let go of them, re-creates them,
   * and the guest resumes.
   *
   * A real guest is paused between suspend and resume and its XenStore is quiesced (xs_suspend):
   * the guest bus drops watch events while suspended (XenbusBus.suspend) and resume re-watches
   * and rescans, so the guest never acts on the window where its backends are gone (it used to:
   * a frontend still probing failed "unable to read other end", netfront's state writes landed in
   * the re-created directory). libxl only reuses a backend path once the old backend let go of
   * it; recreating it while dom0 still has the old device bound made the old instance read the
   * new directory (it failed "parsing …/mac"). So the toolstack waits until dom0 has unbound
   * every old backend device *and* unmapped the guest's pages.
   *
   * Once dom0 has let go, the old backends' error nodes (`<dom0>/error/backend/<type>/<domid>/<devid>`)
   * go too, and so does anything an old backend wrote back into its removed directory. A
   * backend still probing when its directory vanished fails xenbus_read_otherend_details and
   * leaves "2 reading other end details from …" there
   * (xenbus_dev_fatal, hostile-peers D2) — real behaviour, but of the *old* incarnation. A real
   * save/restore or migration builds the resumed guest as a new domain with a new domid, so its
   * backends live at new paths and that node never sits beside them (xenopsd's
   * rm_device_state removes it outright; libxl__device_destroy leaves it, harmlessly, under the
   * dead domid). Here the guest keeps its domid and the re-created backends reuse the old paths,
   * so a left-over node would be read as the new device's error: a frontend that then closes
   * cleanly (the `closed` peer profile) would be reported "closed with dom0 error".
   */
  private async suspendResume(): Promise<void> {
    const m = this.m;
    const tools = m.toolstack;
    await this.guest.bus.suspend();
    const specs = [...this.specs.values()].filter((sp) => this.present(sp));
    await tools.xb.transaction(async (tx) => {
      for (const sp of specs) {
        await tools.xb.rm(tx, backendPath(sp)).catch(() => undefined);
        await tools.xb.rm(tx, libxlPath(sp)).catch(() => undefined);
      }
    });
    const dom0Prefix = `/local/domain/${specs[0]?.backendDomid ?? 0}/`;
    for (let i = 0; i < 1000; i++) {
      const bound = specs.some(
        (sp) => m.backendBus.device(backendPath(sp).replace(dom0Prefix, "")) !== undefined,
      );
      const busy = m.platform.hypervisor
        .activeMappings(0)
        .some((mp) => mp.granter === GUEST_DOMID && mp.ref !== 1);
      if (!busy && !bound) break;
      await m.sched.sleep("toolstack", 10_000, "wait-unmap");
    }
    await tools.xb.transaction(async (tx) => {
      for (const sp of specs) {
        const home = `/local/domain/${sp.backendDomid}`;
        const node = backendPath(sp).slice(home.length + 1); // the backend's nodename, `backend/…`
        await tools.xb.rm(tx, `${home}/error/${node}`).catch(() => undefined);
        // and whatever an old backend wrote under its directory after it was removed (blkback
        // in the middle of connecting writes its features back: xenbus_printf creates the
        // path), which would make the re-add find the device still there
        await tools.xb.rm(tx, backendPath(sp)).catch(() => undefined);
      }
    });
    for (const sp of specs) await tools.addDevice(sp);
    await this.guest.bus.resume();
  }

  /** Device types whose failure to converge is explained (permanent fault, hostile peer). */
  excused(): Set<string> {
    const out = new Set<string>(this.tainted);
    for (const hit of this.faults.permanent) {
      const [fault, dev] = hit.split(":");
      if (dev !== undefined) out.add(dev);
      else if (fault !== undefined) for (const k of this.kits.keys()) out.add(k);
    }
    return out;
  }

  /**
   * The end of a run. Safety: settle (bounded) and check. Liveness: heal — every fault off,
   * quotas restored, every bound interdomain port kicked once (the pending bits a real
   * hypervisor would have kept) — settle, require convergence and completed I/O, then unplug
   * everything and require a leak-free machine.
   */
  async finish(): Promise<string[]> {
    if (this.options.mode === "safety") {
      await this.advance(-1);
      for (const f of safetyInvariants(this.m, this.devices, GUEST_DOMID)) this.fail(f);
      return this.failures;
    }
    this.faults.heal();
    this.kickAll();
    await this.advance(-1, HEAL_NS);
    for (const f of safetyInvariants(this.m, this.devices, GUEST_DOMID)) this.fail(f);
    for (const op of this.ops)
      if (op.state === "pending") this.fail(`after heal: ${op.label} never completed`);
    if (!this.destroyed) {
      const excused = this.excused();
      for (const f of livenessInvariants({ m: this.m, devices: this.devices, domid: GUEST_DOMID, excused }))
        this.fail(`after heal: ${f}`);
      for (const d of this.devices)
        if (!excused.has(d.kit.name))
          for (const f of d.kit.liveness(this.guest)) this.fail(`after heal: ${f}`);
      if (this.failures.length > 0) return this.failures;
      // Teardown: every device unplugged, and nothing may leak.
      for (const [name, spec] of this.specs) {
        if (this.present(spec))
          this.track(
            `final unplug ${name}`,
            this.serial(() => this.m.toolstack.removeDevice(spec)),
          );
      }
      await this.advance(-1, HEAL_NS);
      for (const op of this.ops)
        if (op.state === "pending") this.fail(`teardown: ${op.label} never completed`);
      for (const f of quiescentInvariants(this.m, () => false)) this.fail(`after unplug: ${f}`);
    }
    return this.failures;
  }

  /** Sets every bound interdomain port pending on both ends (the heal's one kick per port). */
  private kickAll(): void {
    const ev = this.m.platform.evtchn;
    for (const domid of [0, GUEST_DOMID]) {
      if (!ev.has(domid)) continue;
      const d = ev.domain(domid);
      for (const p of d.openPorts()) if (p.status === "interdomain") d.setPending(p.port);
    }
    this.sched.trace.emit("explore", "explore.heal", { kicked: "all interdomain ports" });
  }
}

// ---- fast-check command set ------------------------------------------------------------------

class Cmd implements fc.AsyncCommand<Model, Sut> {
  constructor(
    readonly spec: CmdSpec,
    private readonly caps: ReadonlyMap<string, DeviceKit> = CAPS,
  ) {}
  check(m: Readonly<Model>): boolean {
    // The kits' capabilities are the same for every run of a workload.
    return applies(m as Model, this.spec, this.caps);
  }
  async run(m: Model, sut: Sut): Promise<void> {
    update(m, this.spec);
    await sut.exec(this.spec);
    if (sut.failures.length > 0) throw new Error(sut.failures.join("\n"));
  }
  toString(): string {
    return cmdToString(this.spec);
  }
}

/** Capabilities of the built-in device types, for `check` (which has no Sut at hand). */
const CAPS: ReadonlyMap<string, DeviceKit> = new Map(Object.entries(DEVICE_KITS).map(([n, f]) => [n, f()]));

/** Command kinds `fc.commands` draws from (hostile ones come with a list of kinds). */
export type CommandKind =
  | "plug"
  | "unplug"
  | "io"
  | "brestart"
  | "reconnect"
  | "suspend"
  | "xsrestart"
  | "destroy";
export const COMMAND_KINDS: readonly CommandKind[] = [
  "plug",
  "unplug",
  "io",
  "brestart",
  "reconnect",
  "suspend",
  "xsrestart",
  "destroy",
];
/**
 * The default set. `suspend`'s failures are triaged and fixed (the harness recreated backends
 * dom0 still had bound; the guest acted on the window where they were gone) and a 150-run
 * transient-fault liveness campaign with it passes (`--commands …,suspend`), but adding it here
 * shifts every campaign's draws: the trust-response-ids mutant is then not found within its
 * 20-run budget — re-budget mutants.test.ts before making it a default.
 */
export const DEFAULT_COMMANDS: readonly CommandKind[] = [
  "plug",
  "unplug",
  "io",
  "brestart",
  "reconnect",
  "destroy",
];

export interface CommandSetOptions {
  readonly devices: readonly string[];
  readonly kinds?: readonly CommandKind[];
  readonly hostile: readonly HostileKind[];
  readonly maxCommands: number;
  /** Capabilities of the device types (default: the built-in ones), for `check`. */
  readonly caps?: ReadonlyMap<string, DeviceKit>;
}

const advanceArb: fc.Arbitrary<Advance> = fc.oneof(
  { arbitrary: fc.constant(-1), weight: 4 },
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 300 }), weight: 3 },
);

/** The fc.commands arbitrary of lifecycle operations. */
export function commandsArbitrary(o: CommandSetOptions): fc.Arbitrary<Iterable<fc.AsyncCommand<Model, Sut>>> {
  const dev = fc.constantFrom(...o.devices);
  const caps = o.caps ?? CAPS;
  const all: Record<CommandKind, fc.Arbitrary<fc.AsyncCommand<Model, Sut>>> = {
    plug: fc.record({ dev, k: advanceArb }).map(({ dev, k }) => new Cmd({ c: "plug", dev, k }, caps)),
    unplug: fc
      .record({ dev, force: fc.boolean(), k: advanceArb })
      .map(({ dev, force, k }) => new Cmd({ c: "unplug", dev, force, k }, caps)),
    io: fc
      .record({ dev, n: fc.integer({ min: 1, max: 6 }), k: advanceArb })
      .map(({ dev, n, k }) => new Cmd({ c: "io", dev, n, k }, caps)),
    brestart: fc.record({ dev, k: advanceArb }).map(({ dev, k }) => new Cmd({ c: "brestart", dev, k }, caps)),
    reconnect: fc
      .record({ dev, k: advanceArb })
      .map(({ dev, k }) => new Cmd({ c: "reconnect", dev, k }, caps)),
    suspend: advanceArb.map((k) => new Cmd({ c: "suspend", k }, caps)),
    xsrestart: advanceArb.map((k) => new Cmd({ c: "xsrestart", k }, caps)),
    destroy: advanceArb.map((k) => new Cmd({ c: "destroy", k }, caps)),
  };
  const arbs = (o.kinds ?? DEFAULT_COMMANDS).map((k) => all[k]);
  // Hostile actions of the device types in the workload only.
  const hostile = o.hostile.filter((h) => o.devices.includes(hostileInfo(h)!.dev));
  if (hostile.length > 0)
    arbs.push(fc.constantFrom(...hostile).map((kind) => new Cmd({ c: "hostile", kind }, caps)));
  return fc.commands(arbs, { maxCommands: o.maxCommands });
}
