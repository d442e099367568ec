import fc from "fast-check";
import { ScriptedPolicy } from "./policy.ts";

/**
 * A schedule: the choice taken at each decision point of a run (see `ScriptedPolicy`). fast-check
 * generates and shrinks it — shorter lists and smaller numbers mean "closer to FIFO" — and it
 * prints as a compact string that `parseSchedule` reads back, so a failing interleaving can be
 * pasted into a replay.
 */
export interface Schedule {
  readonly choices: readonly number[];
}

export function scheduleToString(s: Schedule): string {
  return s.choices.length === 0 ? "fifo" : s.choices.join(".");
}

export function parseSchedule(text: string): Schedule {
  const t = text.trim();
  if (t === "fifo" || t === "") return { choices: [] };
  const choices = t.split(".").map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff)
      throw new Error(`bad schedule entry ${JSON.stringify(x)}`);
    return n;
  });
  return { choices };
}

/** A fresh policy that follows the schedule (policies are stateful: one per run). */
export function policyFor(schedule: Schedule): ScriptedPolicy {
  return new ScriptedPolicy(schedule.choices);
}

export interface ScheduleArbitraryOptions {
  /** Longest schedule generated (decision points beyond it are FIFO). Default 400. */
  readonly maxLength?: number;
  /** Largest choice value (taken modulo the number of ready actors). Default 15. */
  readonly maxChoice?: number;
}

/** The fast-check arbitrary for schedules: drives every choice of the scheduler and shrinks. */
export function scheduleArbitrary(options: ScheduleArbitraryOptions = {}): fc.Arbitrary<Schedule> {
  const maxLength = options.maxLength ?? 400;
  const maxChoice = options.maxChoice ?? 15;
  return fc.array(fc.nat({ max: maxChoice }), { maxLength }).map(
    (choices): Schedule => ({ choices, toString: () => scheduleToString({ choices }) }) as Schedule,
    (v: unknown) => {
      if (typeof v !== "object" || v === null || !Array.isArray((v as Schedule).choices)) {
        throw new Error("not a schedule");
      }
      return [...(v as Schedule).choices];
    },
  );
}
