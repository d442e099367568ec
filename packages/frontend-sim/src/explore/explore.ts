// The explorer: fast-check generates a schedule (every choice of the scheduler), a list of
// lifecycle commands and a fault seed per run; a failing run shrinks to a minimal schedule and
// command list, and comes back as a replay token that reproduces it byte for byte.
import { policyFor, type ScriptedPolicy, scheduleArbitrary } from "@xensim/evtchn";
import fc from "fast-check";
import { type DeviceKit, workloadDevices } from "./devices.ts";
import type { FaultCounts, FaultName } from "./faults.ts";
import type { HostileKind } from "./hostile.ts";
import { type CaseSpec, encodeToken } from "./replay-token.ts";
import {
  applies,
  type CommandKind,
  commandsArbitrary,
  initialModel,
  type Mode,
  Sut,
  update,
} from "./workload.ts";

export interface ExploreOptions {
  readonly mode: Mode;
  /** Device types joined by `+`: `vif+vbd` (default), `vif`, `vbd`. */
  readonly workload?: string;
  readonly faults?: readonly FaultName[];
  /** Hostile-peer actions the command set may include. */
  readonly hostile?: readonly HostileKind[];
  readonly mutant?: string | undefined;
  /** fast-check seed of this batch of runs. */
  readonly seed: number;
  readonly runs: number;
  /** Command kinds drawn (default DEFAULT_COMMANDS: all but suspend). */
  readonly commands?: readonly CommandKind[];
  /** Most lifecycle commands per run (default 6). */
  readonly maxCommands?: number;
  /** Longest schedule generated (default 400 decisions; FIFO afterwards). */
  readonly maxScheduleLength?: number;
  /** Shrink a failure to a minimal case (default true). */
  readonly shrink?: boolean;
  /**
   * Device types made fresh per run instead of the built-in ones `workload` names (a user's
   * driver pair: exploreHandshake). `workload` still names the run in tokens.
   */
  readonly kits?: () => DeviceKit[];
  /** Called after every run (progress bars). */
  readonly onRun?: (info: RunInfo) => void;
}

export interface RunInfo {
  readonly ok: boolean;
  readonly shrinking: boolean;
  readonly faults: number;
  readonly steps: number;
}

export interface FailureReport {
  readonly token: string;
  readonly case: CaseSpec;
  readonly message: string;
  /** Runs until the first failing one (1 = the first run failed). */
  readonly runsToDetection: number;
  /** Runs spent shrinking. */
  readonly shrinkRuns: number;
}

export interface ExploreResult {
  /** Runs explored before a failure (or all of them), not counting shrinking. */
  readonly runs: number;
  readonly faultsInjected: number;
  readonly faultCounts: FaultCounts;
  /** Hashes of the distinct (schedule, commands) pairs actually executed. */
  readonly schedules: ReadonlySet<string>;
  readonly failure: FailureReport | undefined;
}

export interface CaseOutcome {
  readonly failures: readonly string[];
  readonly sut: Sut;
  readonly case: CaseSpec;
}

/** FNV-1a over a string: a schedule's identity in summaries. */
export function hash32(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

function caseOf(sut: Sut, policy: ScriptedPolicy): CaseSpec {
  const o = sut.options;
  // Past the list every choice is FIFO (0): trailing zeros say nothing.
  const taken = [...policy.taken];
  while (taken.length > 0 && taken[taken.length - 1] === 0) taken.pop();
  return {
    mode: o.mode,
    workload: o.workload,
    faults: o.faults,
    faultSeed: o.faultSeed,
    schedule: taken,
    commands: [...sut.log],
    ...(o.mutant === undefined ? {} : { mutant: o.mutant }),
  };
}

/** Runs one case exactly as its token describes it (the replay path). */
export async function runCase(
  c: CaseSpec,
  options: { recordTrace?: boolean; kits?: () => DeviceKit[] } = {},
): Promise<CaseOutcome> {
  const policy = policyFor({ choices: c.schedule });
  const sut = new Sut({
    mode: c.mode,
    workload: c.workload,
    faults: c.faults,
    faultSeed: c.faultSeed,
    policy,
    mutant: c.mutant,
    recordTrace: options.recordTrace ?? true,
    ...(options.kits === undefined ? {} : { kits: options.kits }),
  });
  await sut.boot();
  const model = initialModel([...sut.kits.keys()]);
  for (const s of c.commands) {
    if (sut.failures.length > 0) break;
    if (!applies(model, s, sut.kits)) continue;
    update(model, s);
    await sut.exec(s);
  }
  if (sut.failures.length === 0) await sut.finish();
  return { failures: sut.failures, sut, case: caseOf(sut, policy) };
}

class RunFailed extends Error {
  override readonly name = "RunFailed";
}

/** Explores `runs` runs from `seed`; stops at the first failure and shrinks it. */
export async function explore(o: ExploreOptions): Promise<ExploreResult> {
  const workload = o.workload ?? "vif+vbd";
  const custom = o.kits?.();
  const devices = custom !== undefined ? custom.map((k) => k.name) : workloadDevices(workload);
  const caps = custom === undefined ? undefined : new Map(custom.map((k) => [k.name, k]));
  const faults = o.faults ?? [];
  const schedules = new Set<string>();
  const faultCounts: FaultCounts = {};
  let faultsInjected = 0;
  let explored = 0;
  let shrinkRuns = 0;
  let firstFailureAt = 0;
  let last: { case: CaseSpec; message: string } | undefined;

  const property = fc.asyncProperty(
    scheduleArbitrary({ maxLength: o.maxScheduleLength ?? 400 }),
    commandsArbitrary({
      devices,
      hostile: o.hostile ?? [],
      maxCommands: o.maxCommands ?? 6,
      ...(caps === undefined ? {} : { caps }),
      ...(o.commands === undefined ? {} : { kinds: o.commands }),
    }),
    fc.integer({ min: 0, max: 0x7fffffff }),
    async (schedule, cmds, faultSeed) => {
      const shrinking = firstFailureAt > 0;
      if (shrinking) shrinkRuns++;
      else explored++;
      const policy = policyFor(schedule);
      const sut = new Sut({
        mode: o.mode,
        workload,
        faults,
        faultSeed,
        policy,
        mutant: o.mutant,
        ...(o.kits === undefined ? {} : { kits: o.kits }),
      });
      let ok = false;
      try {
        await sut.boot();
        if (sut.failures.length > 0) throw new RunFailed(sut.failures.join("\n"));
        await fc.asyncModelRun(() => ({ model: initialModel(devices), real: sut }), cmds);
        await sut.finish();
        if (sut.failures.length > 0) throw new RunFailed(sut.failures.join("\n"));
        ok = true;
      } catch (e) {
        const message =
          sut.failures.length > 0 ? sut.failures.join("\n") : e instanceof Error ? e.message : String(e);
        last = { case: caseOf(sut, policy), message };
        if (firstFailureAt === 0) firstFailureAt = explored;
        throw e;
      } finally {
        if (!shrinking) {
          schedules.add(
            hash32(`${policy.taken.join(".")}|${sut.log.map((c) => JSON.stringify(c)).join(";")}`),
          );
          faultsInjected += sut.faults.total;
          for (const [k, v] of Object.entries(sut.faults.counts))
            faultCounts[k as FaultName] = (faultCounts[k as FaultName] ?? 0) + (v ?? 0);
        }
        o.onRun?.({ ok, shrinking, faults: sut.faults.total, steps: sut.sched.steps });
      }
    },
  );
  await fc.check(property, { numRuns: o.runs, seed: o.seed, endOnFailure: o.shrink === false });
  const failure =
    last === undefined
      ? undefined
      : {
          token: encodeToken(last.case),
          case: last.case,
          message: last.message,
          runsToDetection: firstFailureAt,
          shrinkRuns,
        };
  return { runs: explored, faultsInjected, faultCounts, schedules, failure };
}
