// `pnpm trace`: diagrams and summaries of a trace file (the simulator's JSON lines or the daemon's
// --trace lines), or of a scenario run on the spot. Schema: docs/trace-format.md.
import { writeFileSync } from "node:fs";
import { renderTimeline } from "../timeline/timeline.ts";
import { renderMermaidSvg } from "../trace-tools/browser.ts";
import { parseTime } from "../trace-tools/classify.ts";
import { type MermaidOptions, toMermaid } from "../trace-tools/mermaid.ts";
import { traceSummary } from "../trace-tools/summary.ts";
import { intValue, type ParsedArgs, parseArgs, runCli, UsageError } from "./args.ts";
import { loadTraceArg } from "./trace-input.ts";

const USAGE = `usage: pnpm trace [--mermaid | --timeline | --summary] (FILE | --scenario NAME [--seed N] | --run)
       [--device TYPE[/DOMID[/DEVID]]] [--kind K[,K…]] [--exclude-kind K[,K…]] [--from T] [--to T]
       [--reads] [--replies] [--xs-kicks] [--threads] [--max N] [--title TEXT] [--out FILE] [--svg FILE]

  FILE            JSON lines from pnpm start --trace-json, fuzz/replay, or pnpm xenstored --trace ('-': stdin)
  --run           run the default scenario (--scenario NAME for another one) instead of reading a file
  --mermaid       a Mermaid sequenceDiagram (the default)
  --timeline      the readable text timeline
  --summary       record counts per kind and actor, devices, warnings
  --device        only records about that device (vif/1/0 = dom1's vif 0; vif = every vif)
  --kind          only these kinds (K* or K. is a prefix: xenbus.*, xs.)
  --exclude-kind  drop these kinds
  --from/--to     virtual-time window: 1200 (ns), 12us, 3.5ms, 1s
  --reads         draw XenStore reads too;  --replies  every reply;  --xs-kicks  XenStore ring kicks
  --threads       keep domN:xenwatch as its own lane
  --max N         most messages drawn (default 600)
  --out FILE      write to FILE instead of stdout
  --svg FILE      also render the diagram to SVG (headless Chromium + mermaid)`;

const list = (args: ParsedArgs, name: string): string[] =>
  (args.values.get(name) ?? []).flatMap((v) => v.split(",")).filter((v) => v !== "");

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    flags: ["help", "mermaid", "timeline", "summary", "run", "reads", "replies", "xs-kicks", "threads"],
    values: [
      "scenario",
      "seed",
      "device",
      "kind",
      "exclude-kind",
      "from",
      "to",
      "max",
      "title",
      "out",
      "svg",
    ],
  });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const trace = await loadTraceArg(args);
  for (const w of trace.warnings.slice(0, 10)) console.error(`warning: ${w}`);
  let out: string;
  if (args.flags.has("summary")) out = traceSummary(trace);
  else if (args.flags.has("timeline")) out = renderTimeline(trace.records);
  else {
    const time = (name: string): number | undefined => {
      const v = args.values.get(name)?.at(-1);
      if (v === undefined) return undefined;
      try {
        return parseTime(v);
      } catch (e) {
        throw new UsageError(`--${name}: ${(e as Error).message}`);
      }
    };
    const options: MermaidOptions = {
      device: args.values.get("device")?.at(-1),
      kinds: list(args, "kind"),
      excludeKinds: list(args, "exclude-kind"),
      from: time("from"),
      to: time("to"),
      reads: args.flags.has("reads"),
      replies: args.flags.has("replies"),
      xsKicks: args.flags.has("xs-kicks"),
      threads: args.flags.has("threads"),
      maxMessages: intValue(args, "max", 600),
      title: args.values.get("title")?.at(-1),
    };
    out = toMermaid(trace.records, options);
    const svgPath = args.values.get("svg")?.at(-1);
    if (svgPath !== undefined) {
      writeFileSync(svgPath, await renderMermaidSvg(out));
      console.error(`wrote ${svgPath}`);
    }
  }
  const outPath = args.values.get("out")?.at(-1);
  if (outPath !== undefined) {
    writeFileSync(outPath, out);
    console.error(`wrote ${outPath}`);
  } else process.stdout.write(out);
  return 0;
}

runCli(main, USAGE);
