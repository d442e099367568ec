// `pnpm fuzz`: explores handshake schedules × lifecycle commands × faults and reports the
// smallest failing case with a one-line replay. Campaigns scale out by batches: `--workers N`
// runs batches on N worker threads, `--shard i/n` takes every n-th batch so shards on many
// machines cover disjoint seeds, and `--merge` adds up their `--summary-json` files.
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type ExploreOptions, explore, hash32, runCase } from "../explore/explore.ts";
import { FAULT_PROFILES, FAULTS, type FaultName, parseFaultList } from "../explore/faults.ts";
import { HOSTILE, HOSTILE_NAMES, type HostileKind } from "../explore/hostile.ts";
import { MUTANTS } from "../explore/mutants/index.ts";
import { decodeToken } from "../explore/replay-token.ts";
import {
  COMMAND_KINDS,
  type CommandKind,
  cmdToString,
  DEFAULT_COMMANDS,
  type Mode,
} from "../explore/workload.ts";
import { intValue, type ParsedArgs, parseArgs, runCli, UsageError } from "./args.ts";

const USAGE = `usage: pnpm fuzz [--seed N] [--runs N] [--time S] [--mode safety|liveness]
                 [--profile none|events|store|transient|resources|all] [--faults a,b,…]
                 [--hostile a,b,…|all] [--workload vif+vbd|vif|vbd] [--commands a,b,…]
                 [--mutant NAME] [--max-commands N] [--batch N] [--no-shrink]
                 [--workers N] [--shard i/n] [--summary-json FILE] [--trace-json FILE]
       pnpm fuzz --merge A.json B.json …
       pnpm fuzz --list-mutants | --list-faults | --list-hostile`;

interface BatchJob {
  readonly options: Omit<ExploreOptions, "onRun" | "seed" | "runs">;
  readonly seed: number;
  readonly runs: number;
}

interface BatchResult {
  readonly runs: number;
  readonly faultsInjected: number;
  readonly faultCounts: Record<string, number>;
  readonly schedules: string[];
  readonly failure?: FailureJson;
}

interface FailureJson {
  readonly token: string;
  readonly message: string;
  readonly schedule: string;
  readonly commands: string[];
  readonly faults: string;
  readonly runsToDetection: number;
  readonly shrinkRuns: number;
}

export interface Summary {
  readonly version: 1;
  readonly mode: string;
  readonly workload: string;
  readonly faults: string[];
  readonly mutant?: string;
  readonly shards: string[];
  runs: number;
  faultsInjected: number;
  faultCounts: Record<string, number>;
  schedules: string[];
  failures: FailureJson[];
  elapsedMs: number;
}

/** The fast-check seed of batch `b` of a campaign seeded `seed`. */
function batchSeed(seed: number, b: number): number {
  return Number.parseInt(hash32(`${seed}:${b}`), 16) & 0x7fffffff;
}

async function runBatch(job: BatchJob, onRun?: () => void): Promise<BatchResult> {
  const r = await explore({ ...job.options, seed: job.seed, runs: job.runs, ...(onRun ? { onRun } : {}) });
  const f = r.failure;
  return {
    runs: r.runs,
    faultsInjected: r.faultsInjected,
    faultCounts: { ...r.faultCounts } as Record<string, number>,
    schedules: [...r.schedules],
    ...(f === undefined
      ? {}
      : {
          failure: {
            token: f.token,
            message: f.message,
            schedule: f.case.schedule.length === 0 ? "fifo" : f.case.schedule.join("."),
            commands: f.case.commands.map(cmdToString),
            faults: `${f.case.faults.join(",") || "none"} (seed ${f.case.faultSeed})`,
            runsToDetection: f.runsToDetection,
            shrinkRuns: f.shrinkRuns,
          },
        }),
  };
}

// ---- main ------------------------------------------------------------------------------------

function listValue(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name)?.at(-1);
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    flags: ["help", "list-mutants", "list-faults", "list-hostile", "no-shrink", "merge"],
    values: [
      "seed",
      "runs",
      "time",
      "mode",
      "faults",
      "profile",
      "hostile",
      "workload",
      "commands",
      "mutant",
      "max-commands",
      "batch",
      "workers",
      "shard",
      "summary-json",
      "trace-json",
    ],
  });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  if (args.flags.has("list-mutants")) {
    for (const m of MUTANTS) {
      const p = m.profile;
      console.log(`${m.name.padEnd(28)} ${m.description}`);
      console.log(
        `${"".padEnd(28)} found within ${m.budget} runs by: --mutant ${m.name} --mode ${p.mode} --workload ${p.workload}${p.faults.length ? ` --faults ${p.faults.join(",")}` : " --profile none"}${p.hostile ? ` --hostile ${p.hostile.join(",")}` : ""}`,
      );
    }
    return 0;
  }
  if (args.flags.has("list-faults")) {
    for (const f of FAULTS)
      console.log(
        `${f.name.padEnd(20)} ${f.kind.padEnd(9)} ${f.description} [${f.paramMeaning}: ${f.param}]`,
      );
    console.log("");
    for (const [name, fs] of Object.entries(FAULT_PROFILES))
      console.log(`--profile ${name.padEnd(10)} ${fs.join(",")}`);
    return 0;
  }
  if (args.flags.has("list-hostile")) {
    for (const h of HOSTILE)
      console.log(`${h.name.padEnd(26)} ${h.dev} ${h.peer.padEnd(8)} ${h.description}`);
    return 0;
  }
  if (args.flags.has("merge")) return merge(args.positionals);
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}`);

  const mode = (listValue(args, "mode") ?? "safety") as Mode;
  if (mode !== "safety" && mode !== "liveness") throw new UsageError(`--mode must be safety or liveness`);
  const mutantName = listValue(args, "mutant");
  const mutant = mutantName === undefined ? undefined : MUTANTS.find((m) => m.name === mutantName);
  if (mutantName !== undefined && mutant === undefined)
    throw new UsageError(`unknown mutant ${mutantName} (see --list-mutants)`);
  const profile = listValue(args, "profile") ?? "transient";
  if (!(profile in FAULT_PROFILES)) throw new UsageError(`unknown profile ${profile} (see --list-faults)`);
  const faultsText = listValue(args, "faults");
  const faults: FaultName[] =
    faultsText !== undefined ? parseFaultList(faultsText) : [...FAULT_PROFILES[profile]!];
  const hostileText = listValue(args, "hostile") ?? "none";
  const hostile: HostileKind[] =
    hostileText === "none"
      ? []
      : hostileText === "all"
        ? [...HOSTILE_NAMES]
        : hostileText.split(",").map((h) => {
            if (!HOSTILE_NAMES.includes(h as HostileKind))
              throw new UsageError(`unknown hostile action ${h}`);
            return h as HostileKind;
          });
  const commandsText = listValue(args, "commands");
  const commands: CommandKind[] =
    commandsText === undefined
      ? [...DEFAULT_COMMANDS]
      : commandsText.split(",").map((c) => {
          if (!COMMAND_KINDS.includes(c as CommandKind)) throw new UsageError(`unknown command kind ${c}`);
          return c as CommandKind;
        });
  const workload = listValue(args, "workload") ?? "vif+vbd";
  const seed = intValue(args, "seed", 1);
  const timeS = listValue(args, "time") === undefined ? undefined : intValue(args, "time", 0);
  const runs = intValue(args, "runs", timeS === undefined ? 100 : Number.MAX_SAFE_INTEGER);
  const batch = Math.max(1, intValue(args, "batch", 20));
  const workers = Math.max(1, Math.min(intValue(args, "workers", 1), availableParallelism()));
  const shardText = listValue(args, "shard") ?? "0/1";
  const sm = /^(\d+)\/(\d+)$/.exec(shardText);
  if (sm === null || Number(sm[2]) < 1 || Number(sm[1]) >= Number(sm[2]))
    throw new UsageError(`--shard must be i/n with 0 ≤ i < n`);
  const shard = { i: Number(sm[1]), n: Number(sm[2]) };
  const options: BatchJob["options"] = {
    mode,
    workload,
    faults,
    hostile,
    commands,
    mutant: mutantName,
    maxCommands: intValue(args, "max-commands", 6),
    shrink: !args.flags.has("no-shrink"),
  };

  const summary: Summary = {
    version: 1,
    mode,
    workload,
    faults,
    ...(mutantName === undefined ? {} : { mutant: mutantName }),
    shards: [shardText],
    runs: 0,
    faultsInjected: 0,
    faultCounts: {},
    schedules: [],
    failures: [],
    elapsedMs: 0,
  };
  const schedules = new Set<string>();
  const started = performance.now();
  const deadline = timeS === undefined ? Number.POSITIVE_INFINITY : started + timeS * 1000;
  const progress = new Progress(runs === Number.MAX_SAFE_INTEGER ? undefined : runs, timeS);
  console.error(
    `xensim fuzz — ${mode} mode, workload ${workload}, faults ${faults.join(",") || "none"}${hostile.length ? `, hostile ${hostile.join(",")}` : ""}${mutantName ? `, mutant ${mutantName}` : ""}; seed ${seed}, shard ${shardText}, ${workers} worker(s)`,
  );

  // Batches of this shard: b = shard.i, shard.i + n, …; stop at the first failure, the run
  // budget or the deadline.
  let nextBatch = shard.i;
  let scheduled = 0;
  const take = (): BatchJob | null => {
    if (summary.failures.length > 0 || scheduled >= runs || performance.now() >= deadline) return null;
    const n = Math.min(batch, runs - scheduled);
    scheduled += n;
    const job: BatchJob = { options, seed: batchSeed(seed, nextBatch), runs: n };
    nextBatch += shard.n;
    return job;
  };
  const absorb = (r: BatchResult): void => {
    summary.runs += r.runs;
    summary.faultsInjected += r.faultsInjected;
    for (const [k, v] of Object.entries(r.faultCounts))
      summary.faultCounts[k] = (summary.faultCounts[k] ?? 0) + v;
    for (const s of r.schedules) schedules.add(s);
    if (r.failure !== undefined) summary.failures.push(r.failure);
  };

  if (workers === 1) {
    for (let job = take(); job !== null; job = take()) {
      absorb(await runBatch(job, () => progress.tick(summary.failures.length)));
    }
  } else {
    await Promise.all(
      Array.from({ length: workers }, async () => {
        // The worker loads this file through tsx's loader (registered from inside the thread).
        const boot = `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); });`;
        const w = new Worker(boot, { eval: true, workerData: { fuzzWorker: true } });
        try {
          for (let job = take(); job !== null; job = take()) {
            const result = await new Promise<BatchResult>((resolve, reject) => {
              const onMessage = (m: { kind: string; result?: BatchResult; message?: string }): void => {
                if (m.kind === "run") progress.tick(summary.failures.length);
                else {
                  w.off("message", onMessage);
                  if (m.kind === "done") resolve(m.result!);
                  else reject(new Error(m.message));
                }
              };
              w.on("message", onMessage);
              w.postMessage(job);
            });
            absorb(result);
          }
        } finally {
          w.postMessage(null);
          await w.terminate();
        }
      }),
    );
  }
  progress.done();
  summary.schedules = [...schedules].sort();
  summary.elapsedMs = Math.round(performance.now() - started);
  printSummary(summary);
  for (const f of summary.failures) printFailure(f);
  const tracePath = listValue(args, "trace-json");
  if (tracePath !== undefined && summary.failures.length > 0) {
    const out = await runCase(decodeToken(summary.failures[0]!.token), { recordTrace: true });
    writeFileSync(tracePath, out.sut.sched.trace.toJsonLines());
    console.log(`trace of the failing run written to ${tracePath} (pnpm run view ${tracePath})`);
  }
  const summaryPath = listValue(args, "summary-json");
  if (summaryPath !== undefined) writeFileSync(summaryPath, `${JSON.stringify(summary, null, 1)}\n`);
  return summary.failures.length === 0 ? 0 : 1;
}

function printSummary(s: Summary): void {
  const rate = s.elapsedMs > 0 ? (s.runs / (s.elapsedMs / 1000)).toFixed(1) : "-";
  const rows: [string, string][] = [
    ["runs", String(s.runs)],
    ["faults injected", String(s.faultsInjected)],
    ["distinct schedules", String(s.schedules.length)],
    ["failures", String(s.failures.length)],
    ["runs/s", rate],
  ];
  for (const [k, v] of Object.entries(s.faultCounts).sort()) rows.push([`  ${k}`, String(v)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log("");
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v.padStart(8)}`);
}

function printFailure(f: FailureJson): void {
  console.log("");
  console.log(
    `FAILURE found after ${f.runsToDetection} run(s)${f.shrinkRuns > 0 ? `, shrunk in ${f.shrinkRuns} more` : ""}:`,
  );
  for (const line of f.message.split("\n")) console.log(`  ${line}`);
  console.log(`  schedule: ${f.schedule}`);
  console.log(
    `  commands: ${f.commands.length === 0 ? "(none: boot and plug only)" : f.commands.join("; ")}`,
  );
  console.log(`  faults:   ${f.faults}`);
  console.log(`  replay:   pnpm replay ${f.token}`);
}

function merge(files: readonly string[]): number {
  if (files.length === 0) throw new UsageError("--merge needs summary files");
  const all = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Summary);
  const first = all[0]!;
  const out: Summary = {
    ...first,
    shards: all.flatMap((s) => s.shards),
    runs: 0,
    faultsInjected: 0,
    faultCounts: {},
    schedules: [],
    failures: [],
    elapsedMs: 0,
  };
  const schedules = new Set<string>();
  for (const s of all) {
    if (s.version !== 1) throw new UsageError(`unsupported summary version in ${files.join(",")}`);
    out.runs += s.runs;
    out.faultsInjected += s.faultsInjected;
    for (const [k, v] of Object.entries(s.faultCounts)) out.faultCounts[k] = (out.faultCounts[k] ?? 0) + v;
    for (const h of s.schedules) schedules.add(h);
    out.failures.push(...s.failures);
    out.elapsedMs = Math.max(out.elapsedMs, s.elapsedMs);
  }
  out.schedules = [...schedules].sort();
  console.log(`merged ${files.length} summaries (shards ${out.shards.join(", ")})`);
  printSummary(out);
  for (const f of out.failures) printFailure(f);
  return out.failures.length === 0 ? 0 : 1;
}

/** A progress bar on stderr when it is a terminal; otherwise a plain line every 100 runs. */
class Progress {
  private n = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly t0 = performance.now();
  constructor(
    private readonly total: number | undefined,
    private readonly timeS: number | undefined,
  ) {}
  tick(failures: number): void {
    this.n++;
    const secs = (performance.now() - this.t0) / 1000;
    if (this.tty) {
      const frac =
        this.total !== undefined
          ? this.n / this.total
          : this.timeS !== undefined
            ? Math.min(1, secs / this.timeS)
            : 0;
      const width = 30;
      const full = Math.round(frac * width);
      process.stderr.write(
        `\r[${"#".repeat(full)}${".".repeat(width - full)}] ${this.n}${this.total ? `/${this.total}` : ""} runs, ${(this.n / Math.max(secs, 0.001)).toFixed(1)}/s, ${failures} failure(s) `,
      );
    } else if (this.n % 100 === 0) {
      process.stderr.write(`${this.n} runs, ${secs.toFixed(1)} s, ${failures} failure(s)\n`);
    }
  }
  done(): void {
    if (this.tty) process.stderr.write("\n");
  }
}

// ---- worker thread ---------------------------------------------------------------------------

if (!isMainThread && (workerData as { fuzzWorker?: boolean } | null)?.fuzzWorker === true) {
  const port = parentPort!;
  port.on("message", (job: BatchJob | null) => {
    if (job === null) {
      port.close();
      return;
    }
    runBatch(job, () => port.postMessage({ kind: "run" })).then(
      (result) => port.postMessage({ kind: "done", result }),
      (e: unknown) =>
        port.postMessage({ kind: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
} else if (isMainThread) {
  runCli(main, USAGE, { errorStatus: 2, stack: true });
}
