// The trace a `pnpm trace` / `pnpm run view` invocation is about: a FILE (JSON lines, either the
// simulator's or the daemon's format), or a scenario run on the spot (--run / --scenario NAME).
import { type LoadedTrace, loadScenarioTrace, loadTraceFile } from "../trace-tools/load.ts";
import { intValue, type ParsedArgs, UsageError } from "./args.ts";

export async function loadTraceArg(args: ParsedArgs): Promise<LoadedTrace> {
  const scenario = args.values.get("scenario")?.at(-1);
  if (scenario !== undefined || args.flags.has("run"))
    return loadScenarioTrace(scenario, intValue(args, "seed", 1));
  const [file, ...rest] = args.positionals;
  if (file === undefined) throw new UsageError("give a trace FILE, or --run / --scenario NAME");
  if (rest.length > 0) throw new UsageError(`one FILE only (got ${args.positionals.length})`);
  return loadTraceFile(file);
}
