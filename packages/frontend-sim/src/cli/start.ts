// `pnpm start`: runs a scenario (the default one unless --scenario) and prints its timeline and
// summary. Same seed ⇒ byte-identical output.
import { writeFileSync } from "node:fs";
import { FifoPolicy, SeededPolicy } from "@xensim/evtchn";
import { findScenario, scenarios } from "../scenarios/registry.ts";
import { renderTimeline } from "../timeline/timeline.ts";
import { intValue, parseArgs, runCli, UsageError } from "./args.ts";

const USAGE = `usage: pnpm start [--scenario NAME] [--seed N] [--policy seeded|fifo] [--trace-json FILE] [--verbose] [--reads] [--quiet] [--list]`;

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    flags: ["list", "quiet", "help", "verbose", "reads"],
    values: ["scenario", "seed", "policy", "trace-json"],
  });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  if (args.flags.has("list")) {
    for (const s of scenarios) console.log(`${s.name.padEnd(24)} ${s.description}`);
    return 0;
  }
  const name = args.values.get("scenario")?.at(-1) ?? scenarios[0]!.name;
  const scenario = findScenario(name);
  if (scenario === undefined) throw new UsageError(`no scenario ${JSON.stringify(name)} (see --list)`);
  const seed = intValue(args, "seed", 1);
  const policyName = args.values.get("policy")?.at(-1) ?? "seeded";
  if (policyName !== "seeded" && policyName !== "fifo") throw new UsageError(`unknown policy ${policyName}`);
  const policy = policyName === "fifo" ? new FifoPolicy() : new SeededPolicy(seed);

  const result = await scenario.run({ seed, policy });
  const out: string[] = [];
  out.push(`xensim scenario ${scenario.name} — seed ${seed}, policy ${policy.name}`);
  out.push("");
  if (!args.flags.has("quiet")) {
    out.push("timeline:");
    out.push(
      renderTimeline(result.sched.trace.all(), {
        verbose: args.flags.has("verbose"),
        reads: args.flags.has("reads"),
      }),
    );
  }
  out.push("summary:");
  for (const line of result.summary) out.push(`  ${line}`);
  for (const f of result.failures) out.push(`  FAILED: ${f}`);
  out.push(result.failures.length === 0 ? "result: ok" : `result: ${result.failures.length} failure(s)`);
  process.stdout.write(`${out.join("\n")}\n`);
  const tracePath = args.values.get("trace-json")?.at(-1);
  if (tracePath !== undefined) writeFileSync(tracePath, result.sched.trace.toJsonLines());
  return result.failures.length === 0 ? 0 : 1;
}

runCli(main, USAGE, { stack: true });
