// `pnpm replay TOKEN`: re-runs one exploration case from its replay token (byte for byte the run
// the fuzzer found) and prints its verdict; --timeline adds the readable timeline, --trace-json
// writes the JSON-lines trace (readable by `pnpm trace` and `pnpm run view`).
import { writeFileSync } from "node:fs";
import { runCase } from "../explore/explore.ts";
import { decodeToken } from "../explore/replay-token.ts";
import { cmdToString } from "../explore/workload.ts";
import { renderTimeline } from "../timeline/timeline.ts";
import { parseArgs, runCli, UsageError } from "./args.ts";

const USAGE = "usage: pnpm replay TOKEN [--timeline] [--verbose] [--trace-json FILE]";

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { flags: ["timeline", "verbose", "help"], values: ["trace-json"] });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const token = args.positionals[0];
  if (token === undefined || args.positionals.length > 1) throw new UsageError("one replay token expected");
  const c = decodeToken(token);
  const out = await runCase(c, { recordTrace: true });
  const trace = out.sut.sched.trace;
  const lines: string[] = [];
  lines.push(
    `xensim replay — ${c.mode} mode, workload ${c.workload}${c.mutant ? `, mutant ${c.mutant}` : ""}`,
  );
  lines.push(`faults: ${c.faults.length === 0 ? "none" : c.faults.join(",")} (seed ${c.faultSeed})`);
  lines.push(`schedule: ${c.schedule.length === 0 ? "fifo" : c.schedule.join(".")}`);
  lines.push(
    `commands: ${c.commands.length === 0 ? "(none: boot and plug only)" : c.commands.map(cmdToString).join("; ")}`,
  );
  if (args.flags.has("timeline") || args.flags.has("verbose")) {
    lines.push("", "timeline:", renderTimeline(trace.all(), { verbose: args.flags.has("verbose") }));
  }
  lines.push(
    `${out.sut.sched.steps} scheduler steps, ${trace.length} trace records, ${(out.sut.sched.now / 1e6).toFixed(3)} ms virtual time, ${out.sut.faults.total} faults injected`,
  );
  for (const f of out.failures) lines.push(`FAILED: ${f}`);
  lines.push(out.failures.length === 0 ? "verdict: ok" : `verdict: ${out.failures.length} failure(s)`);
  process.stdout.write(`${lines.join("\n")}\n`);
  const tracePath = args.values.get("trace-json")?.at(-1);
  if (tracePath !== undefined) writeFileSync(tracePath, trace.toJsonLines());
  return out.failures.length === 0 ? 0 : 1;
}

runCli(main, USAGE, { errorStatus: 2 });
