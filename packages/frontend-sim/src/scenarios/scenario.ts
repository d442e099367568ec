import type { ChoicePolicy, Scheduler } from "@xensim/evtchn";

/** What a scenario is given: the seed and the policy the CLI (or a test) chose. */
export interface ScenarioContext {
  readonly seed: number;
  readonly policy: ChoicePolicy;
}

/** A named, deterministic run of the simulated machine with its own assertions. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

export interface ScenarioResult {
  /** The scheduler the run used: its trace is the timeline the CLI prints. */
  readonly sched: Scheduler;
  /** One line per fact worth a summary ("dom1 ↔ dom0: 8 notifications each way"). */
  readonly summary: readonly string[];
  /** Invariant or assertion failures; empty on success. */
  readonly failures: readonly string[];
}
