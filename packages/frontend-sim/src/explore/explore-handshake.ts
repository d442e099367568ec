// exploreHandshake: the explorer, pointed at a user's own driver pair. A `HandshakeDevice`
// describes the device (frontend and backend driver factories, the toolstack spec, an optional
// I/O step and data check); `exploreHandshake` runs plug → connect → I/O → unplug (optionally
// backend restart, frontend reconnect, suspend/resume) under many generated schedules, a chosen
// fault set and chosen peer profiles (generic wrappers around the user's drivers, see
// xenbus/peer-profiles.ts), checks the framework's invariants, and throws a `HandshakeFailure`
// whose message holds the shrunk case and its replay token. `replayHandshake` re-runs a token.
import { type Schedule, scheduleArbitrary } from "@xensim/evtchn";
import fc from "fast-check";
import type { Guest, Machine } from "../host/machine.ts";
import type { DeviceSpec } from "../host/toolstack/device-spec.ts";
import type { XenbusDriver } from "../xenbus/driver.ts";
import {
  BACKEND_PEER_PROFILES,
  type BackendPeerProfile,
  checkPeerProfiles,
  FRONTEND_PEER_PROFILES,
  type FrontendPeerProfile,
  type PeerProfiles,
  withPeerProfiles,
} from "../xenbus/peer-profiles.ts";
import { XenbusState } from "../xenbus/xenbus-state.ts";
import type { DeviceKit, StoreReader } from "./devices.ts";
import { type ExploreResult, explore, runCase } from "./explore.ts";
import { FAULT_NAMES, FAULT_PROFILES, type FaultName } from "./faults.ts";
import { type CaseSpec, decodeToken } from "./replay-token.ts";
import { type CmdSpec, COMMAND_KINDS, type CommandKind, cmdToString, GUEST_DOMID } from "./workload.ts";

export type { FaultName } from "./faults.ts";
export type { CaseSpec } from "./replay-token.ts";
export type { CmdSpec, CommandKind } from "./workload.ts";
export { FAULT_NAMES, FAULT_PROFILES };

/** What the I/O step, the data check and the optional hooks of a device see, per run. */
export interface HandshakeContext<F extends XenbusDriver, B extends XenbusDriver, S> {
  /** This run's frontend driver (loaded in the guest) and backend driver (loaded in dom0). */
  readonly frontend: F;
  readonly backend: B;
  /** This run's state, made by `HandshakeDevice.state` (undefined without it). */
  readonly state: S;
  /** The machine (scheduler, hypervisor, xenstored, toolstack). */
  readonly machine: Machine;
  /** The guest the frontend runs in (domain `domid`). */
  readonly guest: Guest;
  readonly domid: number;
}

/**
 * A user's device type, as `exploreHandshake` drives it. The factories are called once per
 * run, so every run starts from fresh drivers.
 *
 * @typeParam F - the frontend driver type
 * @typeParam B - the backend driver type
 * @typeParam S - per-run state shared by `io` and `check` (e.g. what was sent)
 */
export interface HandshakeDevice<
  F extends XenbusDriver = XenbusDriver,
  B extends XenbusDriver = XenbusDriver,
  S = undefined,
> {
  /** The XenStore device type (`DeviceSpec.kind`, the drivers' `type`); it names the device in tokens. */
  readonly name: string;
  /** A fresh frontend driver. */
  frontend(): F;
  /** A fresh backend driver. */
  backend(): B;
  /** The toolstack spec of a plug of the device into guest `domid` (the toolstack hook). */
  spec(domid: number): DeviceSpec;
  /** Fresh per-run state for `io` and `check`. */
  state?(): S;
  /**
   * Starts an I/O burst of `n` units (the `io` command); resolves when it completed. It runs
   * whatever the device's state: do nothing when the device is not connected. Throwing a
   * `XenbusError` counts as an expected I/O failure; anything else is a crash.
   */
  io?(ctx: HandshakeContext<F, B, S>, n: number): Promise<void> | void;
  /**
   * Data-integrity violations so far (checked after every command), e.g. bytes received that
   * were never sent. Empty when all is well.
   */
  check?(ctx: HandshakeContext<F, B, S>): string[];
  /** After heal (liveness mode): I/O queued on the final connection must have completed. */
  settled?(ctx: HandshakeContext<F, B, S>): string[];
  /**
   * Ring refs the frontend published in its directory `feDir` (used by the checks "a Connected
   * frontend has published its ring refs" and "both ends Connected ⇒ dom0 maps every ref").
   * Default: the keys `ring-ref`, `ring-refN`, `*-ring-ref` in `feDir` and its `queue-N` dirs.
   */
  ringRefs?(store: StoreReader, feDir: string): number[];
  /**
   * The backend goes away and comes back (the `brestart` command). Without it, `brestart`
   * (option `backendRestart`) does what xen-blkback's restart does: the backend device switches
   * to Closing; the pair must then close cleanly or reconnect.
   */
  restartBackend?(ctx: HandshakeContext<F, B, S>): Promise<void>;
  /** A frontend-initiated reconnect (the `reconnect` command), if supported. */
  reconnectFrontend?(ctx: HandshakeContext<F, B, S>): Promise<void>;
}

/** Options of `exploreHandshake`. Every field has a default. */
export interface ExploreHandshakeOptions {
  /** Runs (generated schedules), not counting shrinking. Default 30. */
  readonly runs?: number;
  /** fast-check seed: the same seed explores the same runs. Default 1. */
  readonly seed?: number;
  /**
   * `liveness` (default): faults during the commands, then the system heals and must converge
   * (both ends Connected, or Closed without an error node), complete its I/O, and leak nothing
   * once unplugged. `safety`: faults until the end; only the safety checks.
   */
  readonly mode?: "safety" | "liveness";
  /**
   * Faults injected: a list of names (`FAULT_NAMES`) or a profile name (`FAULT_PROFILES`:
   * `none`, `events`, `store`, `transient`, `resources`, `all`). Default `none`.
   */
  readonly faults?: readonly FaultName[] | keyof typeof FAULT_PROFILES;
  /**
   * Lifecycle commands drawn. Default: `plug`, `unplug`, `io` (when the device has `io`),
   * `brestart`/`reconnect` (when it has those hooks), `destroy`. Add `suspend` for guest
   * suspend/resume onto re-created backends (exercises the drivers' suspend/resume hooks).
   */
  readonly commands?: readonly CommandKind[];
  /**
   * Also draw `suspend` (shorthand for adding it to `commands`): the guest suspends, the
   * toolstack re-creates the backends (as after a migration) and the guest resumes — the
   * drivers' `suspend`/`resume` hooks run. Default false.
   */
  readonly suspend?: boolean;
  /**
   * Also draw `brestart` (shorthand for adding it to `commands`): the device's `restartBackend`
   * hook, or by default the backend device switching to Closing as xen-blkback's restart does.
   * Default false (but `brestart` is drawn by default when the device has `restartBackend`).
   */
  readonly backendRestart?: boolean;
  /**
   * Peer profiles wrapped around the device's drivers (hostile-peers B15/D15), for every run:
   * `frontend`: `linux` (default, the driver as written), `windows` (a Closing → Closed →
   * Initialising cycle before the first connection), `closed` (straight to Closed, the frontend
   * driver never probes — this tests the backend); `backend`: `linux`, `skip-initwait` (InitWait
   * is never written: the frontend sees 1 → 4), `already-connected` (also, the frontend driver's
   * first backend event is Connected). Recorded in the replay token.
   */
  readonly profiles?: PeerProfiles;
  /** Most lifecycle commands per run. Default 5. */
  readonly maxCommands?: number;
  /** Longest generated schedule (scheduler decisions; FIFO afterwards). Default 400. */
  readonly maxScheduleLength?: number;
  /** Shrink a failure to a minimal case. Default true. */
  readonly shrink?: boolean;
}

/** What a passing exploration covered. */
export interface HandshakeSummary {
  readonly device: string;
  readonly runs: number;
  /** Distinct (schedule, commands) pairs executed. */
  readonly distinctSchedules: number;
  readonly faultsInjected: number;
}

/** Thrown by `exploreHandshake` when a run fails; its message is the whole report. */
export class HandshakeFailure extends Error {
  override readonly name = "HandshakeFailure";
  constructor(
    message: string,
    /** The replay token of the (shrunk) failing run: `replayHandshake(device, token)`. */
    readonly token: string,
    /** The failing run, decoded. */
    readonly failingCase: CaseSpec,
    /** The invariant violations, one per line. */
    readonly failures: string,
    /** Runs until the first failing one (1 = the first run failed). */
    readonly runsToDetection: number,
  ) {
    super(message);
  }
}

/** The verdict of `replayHandshake`. */
export interface ReplayResult {
  /** True when the run passed every check. */
  readonly ok: boolean;
  /** The invariant violations (empty when ok). */
  readonly failures: readonly string[];
  readonly case: CaseSpec;
  /** The machine after the run (its `sched.trace` holds the recorded trace). */
  readonly machine: Machine;
}

const REF_KEY = /^(ring-ref\d*|.+-ring-ref)$/;

function defaultRingRefs(store: StoreReader, fe: string): number[] {
  const refs: number[] = [];
  const dirs = [
    fe,
    ...store
      .list(fe)
      .filter((k) => /^queue-\d+$/.test(k))
      .map((k) => `${fe}/${k}`),
  ];
  for (const dir of dirs) {
    for (const k of store.list(dir)) {
      if (!REF_KEY.test(k)) continue;
      const v = store.readString(`${dir}/${k}`);
      if (v !== undefined && /^\d+$/.test(v)) refs.push(Number(v));
    }
  }
  return refs;
}

/**
 * The default `brestart` (blkback's `restart`): the backend device switches to Closing, as a
 * backend that goes away does; the frontend follows (Closed, or a reconnect) and so must the
 * backend driver. Nothing happens when the backend is not bound or already closing.
 */
async function closeBackend(m: Machine, spec: DeviceSpec): Promise<void> {
  const dev = m.backendBus.device(`backend/${spec.kind}/${spec.domid}/${spec.devid}`);
  if (dev === undefined || dev.removed) return;
  if (dev.state === XenbusState.Closing || dev.state === XenbusState.Closed) return;
  await dev.switchState(XenbusState.Closing);
}

/** The engine's view of a user device: one DeviceKit with fresh drivers (in their profiles). */
function kitOf<F extends XenbusDriver, B extends XenbusDriver, S>(
  d: HandshakeDevice<F, B, S>,
  profiles: PeerProfiles,
): DeviceKit {
  const frontend = d.frontend();
  const backend = d.backend();
  const loaded = withPeerProfiles({ frontend, backend }, profiles);
  const state = (d.state?.() ?? undefined) as S;
  let machine: Machine | undefined;
  const ctx = (guest?: Guest): HandshakeContext<F, B, S> => {
    const m = machine!;
    return {
      frontend,
      backend,
      state,
      machine: m,
      guest: guest ?? m.guests.get(GUEST_DOMID)!,
      domid: GUEST_DOMID,
    };
  };
  const booted = (): boolean => machine?.guests.has(GUEST_DOMID) === true;
  const kit: DeviceKit = {
    name: d.name,
    frontend: loaded.frontend,
    backend: loaded.backend,
    attach(m) {
      machine = m;
    },
    spec(domid, hotplugFails) {
      const spec = d.spec(domid);
      if (spec.kind !== d.name)
        throw new Error(`device ${d.name}: spec(${domid}).kind is ${JSON.stringify(spec.kind)}`);
      // A failing hotplug script reports an error and writes nothing else.
      return hotplugFails ? { ...spec, hotplug: { "hotplug-status": "error" } } : spec;
    },
    async io(guest, n) {
      if (d.io !== undefined) await d.io(ctx(guest), n);
    },
    safety() {
      return booted() && d.check !== undefined ? d.check(ctx()) : [];
    },
    liveness(guest) {
      return d.settled !== undefined ? d.settled(ctx(guest)) : [];
    },
    ringRefs(store, fe) {
      return (d.ringRefs ?? defaultRingRefs)(store, fe);
    },
    frontBroken() {
      return undefined;
    },
  };
  const restart = d.restartBackend;
  kit.restartBackend =
    restart !== undefined ? () => restart.call(d, ctx()) : () => closeBackend(machine!, d.spec(GUEST_DOMID));
  const reconnect = d.reconnectFrontend;
  if (reconnect !== undefined) kit.reconnectFrontend = () => reconnect.call(d, ctx());
  return kit;
}

function faultList(f: ExploreHandshakeOptions["faults"]): readonly FaultName[] {
  if (f === undefined) return [];
  if (typeof f === "string") {
    const p = Object.hasOwn(FAULT_PROFILES, f) ? FAULT_PROFILES[f] : undefined;
    if (p === undefined)
      throw new RangeError(
        `exploreHandshake: unknown fault profile ${JSON.stringify(f)} (one of ${Object.keys(FAULT_PROFILES).join(", ")})`,
      );
    return p;
  }
  if (!Array.isArray(f))
    throw new TypeError("exploreHandshake: faults must be a list of fault names or a profile name");
  for (const x of f)
    if (!FAULT_NAMES.includes(x))
      throw new RangeError(
        `exploreHandshake: unknown fault ${JSON.stringify(x)} (one of ${FAULT_NAMES.join(", ")})`,
      );
  return f;
}

/** Every command kind a user may list (`suspend` is opt-in, not one of the defaults). */
const ALL_KINDS: readonly CommandKind[] = [...new Set<CommandKind>([...COMMAND_KINDS, "suspend"])];

function intOption(
  o: ExploreHandshakeOptions,
  key: "runs" | "seed" | "maxCommands" | "maxScheduleLength",
  min: number,
): void {
  const v = o[key];
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= min))
    throw new RangeError(
      `exploreHandshake: options.${key} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : ""} (got ${String(v)})`,
    );
}

/**
 * Checks a device and options before any run, so a mistake reads as what it is rather than as
 * a failing run: names, numbers, command kinds the device cannot do, profiles, and that the
 * device's drivers and spec agree on its type.
 */
function checkOptions(d: AnyDevice, o: ExploreHandshakeOptions): void {
  if (typeof d.name !== "string" || !/^[A-Za-z0-9_-]+$/.test(d.name))
    throw new TypeError(
      `exploreHandshake: device.name must be a XenStore device type (letters, digits, - and _), got ${JSON.stringify(d.name)}`,
    );
  intOption(o, "runs", 1);
  intOption(o, "seed", Number.MIN_SAFE_INTEGER);
  intOption(o, "maxCommands", 0);
  intOption(o, "maxScheduleLength", 0);
  if (o.mode !== undefined && o.mode !== "safety" && o.mode !== "liveness")
    throw new RangeError(
      `exploreHandshake: options.mode must be "safety" or "liveness" (got ${JSON.stringify(o.mode)})`,
    );
  for (const k of o.commands ?? []) {
    if (!ALL_KINDS.includes(k))
      throw new RangeError(
        `exploreHandshake: unknown command ${JSON.stringify(k)} (one of ${ALL_KINDS.join(", ")})`,
      );
    if (k === "io" && d.io === undefined)
      throw new RangeError(`exploreHandshake: commands include "io" but device ${d.name} has no io hook`);
    if (k === "reconnect" && d.reconnectFrontend === undefined)
      throw new RangeError(
        `exploreHandshake: commands include "reconnect" but device ${d.name} has no reconnectFrontend hook`,
      );
  }
  checkPeerProfiles(o.profiles ?? {});
  const spec = d.spec(GUEST_DOMID);
  if (spec.kind !== d.name)
    throw new TypeError(
      `exploreHandshake: device ${d.name}: spec(${GUEST_DOMID}).kind is ${JSON.stringify(spec.kind)}, not the device name`,
    );
  for (const [side, drv] of [
    ["frontend", d.frontend()],
    ["backend", d.backend()],
  ] as const)
    if (drv.type !== d.name)
      throw new TypeError(
        `exploreHandshake: device ${d.name}: its ${side} driver's type is ${JSON.stringify(drv.type)}, not the device name`,
      );
}

/** The token's workload: the device name, then the profiles that are not `linux`. */
function workloadOf(name: string, p: PeerProfiles): string {
  let w = name;
  if (p.frontend !== undefined && p.frontend !== "linux") w += `;frontend=${p.frontend}`;
  if (p.backend !== undefined && p.backend !== "linux") w += `;backend=${p.backend}`;
  return w;
}

/** workloadOf's inverse (throws on a workload no exploreHandshake run wrote). */
function parseWorkload(w: string): { name: string; profiles: PeerProfiles } {
  const [name = "", ...rest] = w.split(";");
  let frontend: FrontendPeerProfile | undefined;
  let backend: BackendPeerProfile | undefined;
  for (const part of rest) {
    const [k, v] = part.split("=");
    if (k === "frontend" && FRONTEND_PEER_PROFILES.includes(v as FrontendPeerProfile))
      frontend = v as FrontendPeerProfile;
    else if (k === "backend" && BACKEND_PEER_PROFILES.includes(v as BackendPeerProfile))
      backend = v as BackendPeerProfile;
    else
      throw new Error(
        `the token's workload ${JSON.stringify(w)} names an unknown profile ${JSON.stringify(part)}`,
      );
  }
  return {
    name,
    profiles: {
      ...(frontend === undefined ? {} : { frontend }),
      ...(backend === undefined ? {} : { backend }),
    },
  };
}

function commandKinds(d: AnyDevice, o: ExploreHandshakeOptions): CommandKind[] {
  const kinds: CommandKind[] = o.commands
    ? [...o.commands]
    : [
        "plug",
        "unplug",
        ...(d.io !== undefined ? (["io"] as const) : []),
        ...(d.restartBackend !== undefined || o.backendRestart === true ? (["brestart"] as const) : []),
        ...(d.reconnectFrontend !== undefined ? (["reconnect"] as const) : []),
        "destroy",
      ];
  if (o.suspend === true && !kinds.includes("suspend")) kinds.push("suspend");
  if (o.backendRestart === true && !kinds.includes("brestart")) kinds.push("brestart");
  return kinds;
}

// biome-ignore lint/suspicious/noExplicitAny: any driver pair and state
type AnyDevice = HandshakeDevice<any, any, any>;

/** The failure report: what broke, the shrunk case, and how to replay it. */
export function formatHandshakeFailure(device: string, c: CaseSpec, failures: string, token: string): string {
  const p = c.workload.includes(";") ? parseWorkload(c.workload).profiles : {};
  const prof = [
    ...(p.frontend === undefined ? [] : [`frontend ${p.frontend}`]),
    ...(p.backend === undefined ? [] : [`backend ${p.backend}`]),
  ];
  const lines = [
    `${device}: handshake exploration failed (${c.mode} mode, faults: ${c.faults.length === 0 ? "none" : c.faults.join(",")}${prof.length === 0 ? "" : `, profiles: ${prof.join(", ")}`})`,
    ...failures.split("\n").map((l) => `  ${l}`),
    `shrunk case: plug ${device} at boot, then ${c.commands.length === 0 ? "no commands" : c.commands.map(cmdToString).join("; ")}`,
    `schedule: ${c.schedule.length} decision(s) [${c.schedule.slice(0, 40).join(",")}${c.schedule.length > 40 ? ",…" : ""}]`,
    `replay: replayHandshake(${device}Device, "${token}")`,
    `token: ${token}`,
  ];
  return lines.join("\n");
}

/**
 * Explores the handshake of a user's device under `runs` generated schedules: the guest boots,
 * the device is plugged through the toolstack, then a generated list of lifecycle commands
 * (plug, unplug [--force], io, brestart, reconnect, suspend, destroy) runs, each followed by a
 * generated number of scheduler steps, under the chosen faults. Checked: every XenStore state
 * node holds a state; a Connected frontend has published its ring refs; both ends Connected ⇒
 * dom0 maps them; no task crashed; no hypervisor memory hazard; the device's data check; in
 * liveness mode, after heal, both ends agree (Connected/Connected or cleanly Closed/Closed),
 * every operation and I/O completed, and after the final unplug no grant, mapping, port, watch
 * or transaction leaked.
 *
 * Resolves with a summary when every run passes; throws a {@link HandshakeFailure} whose
 * message holds the violations, the shrunk command list and schedule, and the replay token.
 *
 * @example
 * ```ts
 * it("survives the explorer", async () => {
 *   await exploreHandshake(consoleDevice, { runs: 40, faults: "transient" });
 * }, 60_000);
 * ```
 */
export async function exploreHandshake(
  device: AnyDevice,
  options: ExploreHandshakeOptions = {},
): Promise<HandshakeSummary> {
  checkOptions(device, options);
  const profiles = options.profiles ?? {};
  const r: ExploreResult = await explore({
    mode: options.mode ?? "liveness",
    workload: workloadOf(device.name, profiles),
    faults: faultList(options.faults),
    seed: options.seed ?? 1,
    runs: options.runs ?? 30,
    commands: commandKinds(device, options),
    maxCommands: options.maxCommands ?? 5,
    maxScheduleLength: options.maxScheduleLength ?? 400,
    shrink: options.shrink ?? true,
    kits: () => [kitOf(device, profiles)],
  });
  if (r.failure !== undefined) {
    const f = r.failure;
    throw new HandshakeFailure(
      formatHandshakeFailure(device.name, f.case, f.message, f.token),
      f.token,
      f.case,
      f.message,
      f.runsToDetection,
    );
  }
  return {
    device: device.name,
    runs: r.runs,
    distinctSchedules: r.schedules.size,
    faultsInjected: r.faultsInjected,
  };
}

/**
 * Re-runs one run of `exploreHandshake` from its replay token, byte for byte (same schedule,
 * commands, faults and fault seed, peer profiles), with fresh drivers from `device`. The token
 * names the device: replaying it with another device throws.
 */
export async function replayHandshake(
  device: AnyDevice,
  token: string,
  options: { recordTrace?: boolean } = {},
): Promise<ReplayResult> {
  const c = decodeToken(token);
  const { name, profiles } = parseWorkload(c.workload);
  if (name !== device.name)
    throw new Error(
      `the token is a run of device ${JSON.stringify(name)}, not ${JSON.stringify(device.name)}`,
    );
  const out = await runCase(c, {
    recordTrace: options.recordTrace ?? true,
    kits: () => [kitOf(device, profiles)],
  });
  return { ok: out.failures.length === 0, failures: out.failures, case: out.case, machine: out.sut.m };
}

// ---- arbitraries for users who compose their own properties ------------------------------------

/** Schedules: the choice at each decision point of the deterministic scheduler (`policyFor`). */
export function scheduleArb(options: { maxLength?: number } = {}): fc.Arbitrary<Schedule> {
  return scheduleArbitrary({ maxLength: options.maxLength ?? 400 });
}

/** Fault sets: any subset of `from` (default: every fault of the catalogue). */
export function faultSetArb(from: readonly FaultName[] = FAULT_NAMES): fc.Arbitrary<FaultName[]> {
  return fc.subarray([...from]);
}

/** Lifecycle command lists of a device as the explorer draws them (advance k: -1 = until idle). */
export function lifecycleArb(
  device: string,
  options: { kinds?: readonly CommandKind[]; maxCommands?: number } = {},
): fc.Arbitrary<CmdSpec[]> {
  const k = fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 300 }));
  const dev = fc.constant(device);
  const all: Record<CommandKind, fc.Arbitrary<CmdSpec>> = {
    plug: fc.record({ c: fc.constant("plug" as const), dev, k }),
    unplug: fc.record({ c: fc.constant("unplug" as const), dev, force: fc.boolean(), k }),
    io: fc.record({ c: fc.constant("io" as const), dev, n: fc.integer({ min: 1, max: 6 }), k }),
    brestart: fc.record({ c: fc.constant("brestart" as const), dev, k }),
    reconnect: fc.record({ c: fc.constant("reconnect" as const), dev, k }),
    suspend: fc.record({ c: fc.constant("suspend" as const), k }),
    xsrestart: fc.record({ c: fc.constant("xsrestart" as const), k }),
    destroy: fc.record({ c: fc.constant("destroy" as const), k }),
  };
  const kinds = options.kinds ?? ["plug", "unplug", "io", "destroy"];
  return fc.array(fc.oneof(...kinds.map((x) => all[x])), { maxLength: options.maxCommands ?? 6 });
}

/** One XenStore operation of `xenstoreOpsArb`. Paths are relative to a root directory. */
export type XenstoreOp =
  | { readonly op: "write"; readonly path: string; readonly value: string }
  | { readonly op: "read"; readonly path: string }
  | { readonly op: "mkdir"; readonly path: string }
  | { readonly op: "rm"; readonly path: string }
  | { readonly op: "directory"; readonly path: string }
  | { readonly op: "transaction"; readonly ops: readonly XenstoreOp[]; readonly abort: boolean };

/**
 * XenStore operation sequences over a small tree of `keys` (default the ring keys every device
 * publishes, and `state`), with nested transactions one level deep. Apply them with
 * `applyXenstoreOps`.
 */
export function xenstoreOpsArb(
  options: { keys?: readonly string[]; maxLength?: number } = {},
): fc.Arbitrary<XenstoreOp[]> {
  const keys = options.keys ?? [
    "ring-ref",
    "event-channel",
    "port",
    "state",
    "feature-x",
    "queue-0/ring-ref",
  ];
  const path = fc.constantFrom(...keys);
  const value = fc.oneof(fc.integer({ min: 0, max: 8 }).map(String), fc.string({ maxLength: 8 }));
  const plain: fc.Arbitrary<XenstoreOp> = fc.oneof(
    { arbitrary: fc.record({ op: fc.constant("write" as const), path, value }), weight: 4 },
    fc.record({ op: fc.constant("read" as const), path }),
    fc.record({ op: fc.constant("mkdir" as const), path }),
    fc.record({ op: fc.constant("rm" as const), path }),
    fc.record({ op: fc.constant("directory" as const), path: fc.constant("") }),
  );
  const tx: fc.Arbitrary<XenstoreOp> = fc.record({
    op: fc.constant("transaction" as const),
    ops: fc.array(plain, { minLength: 1, maxLength: 4 }),
    abort: fc.boolean(),
  });
  return fc.array(fc.oneof({ arbitrary: plain, weight: 5 }, tx), { maxLength: options.maxLength ?? 10 });
}

/** The subset of `XenbusClient` that `applyXenstoreOps` uses. */
export interface XenstoreOpsClient {
  write(tx: number, path: string, value: string): Promise<void>;
  readString(tx: number, path: string): Promise<string>;
  mkdir(tx: number, path: string): Promise<void>;
  rm(tx: number, path: string): Promise<void>;
  directory(tx: number, path: string): Promise<string[]>;
  transactionStart(): Promise<number>;
  transactionEnd(tx: number, abort: boolean): Promise<void>;
}

/**
 * Applies `ops` under `root` through a XenBus client (e.g. `dev.xb`, or `machine.toolstack.xb`).
 * Errors of single operations (ENOENT, EACCES, EAGAIN on commit, …) are collected, not thrown.
 * Returns the error messages in order.
 */
export async function applyXenstoreOps(
  xb: XenstoreOpsClient,
  root: string,
  ops: readonly XenstoreOp[],
): Promise<string[]> {
  const errors: string[] = [];
  const at = (p: string): string => (p === "" ? root : `${root}/${p}`);
  const one = async (tx: number, o: XenstoreOp): Promise<void> => {
    try {
      switch (o.op) {
        case "write":
          await xb.write(tx, at(o.path), o.value);
          return;
        case "read":
          await xb.readString(tx, at(o.path));
          return;
        case "mkdir":
          await xb.mkdir(tx, at(o.path));
          return;
        case "rm":
          await xb.rm(tx, at(o.path));
          return;
        case "directory":
          await xb.directory(tx, at(o.path));
          return;
        case "transaction": {
          const t = await xb.transactionStart();
          for (const inner of o.ops) await one(t, inner);
          await xb.transactionEnd(t, o.abort);
          return;
        }
      }
    } catch (e) {
      errors.push(`${o.op}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  for (const o of ops) await one(0, o);
  return errors;
}
