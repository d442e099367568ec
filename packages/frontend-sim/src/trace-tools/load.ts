// Where the CLIs get a trace: a file (`-` for stdin), or a scenario run on the spot.
import { readFileSync } from "node:fs";
import { SeededPolicy, type TraceRecord } from "@xensim/evtchn";
import { findScenario, scenarios } from "../scenarios/registry.ts";
import { type ParsedTrace, parseTrace } from "./trace-reader.ts";

export interface LoadedTrace extends ParsedTrace {
  /** The file name or `scenario NAME seed N`, for titles. */
  readonly source: string;
}

export function loadTraceFile(path: string): LoadedTrace {
  const text = readFileSync(path === "-" ? 0 : path, "utf8");
  return { ...parseTrace(text), source: path === "-" ? "stdin" : path };
}

/** Runs a scenario (the default one when `name` is undefined) and returns its trace. */
export async function loadScenarioTrace(name: string | undefined, seed: number): Promise<LoadedTrace> {
  const scenario = name === undefined ? scenarios[0] : findScenario(name);
  if (scenario === undefined)
    throw new Error(`no scenario ${JSON.stringify(name)} (have: ${scenarios.map((s) => s.name).join(", ")})`);
  const result = await scenario.run({ seed, policy: new SeededPolicy(seed) });
  const records: readonly TraceRecord[] = result.sched.trace.all();
  return { format: "sim", records, warnings: [], source: `scenario ${scenario.name}, seed ${seed}` };
}
