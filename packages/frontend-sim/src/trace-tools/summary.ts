// `pnpm trace --summary`: what a trace holds, at a glance.
import type { LoadedTrace } from "./load.ts";
import { deviceViews, Replayer, stateName } from "./state-replay.ts";

export function traceSummary(trace: LoadedTrace): string {
  const byKind = new Map<string, number>();
  const byActor = new Map<string, number>();
  for (const r of trace.records) {
    byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
    byActor.set(r.actor, (byActor.get(r.actor) ?? 0) + 1);
  }
  const rp = new Replayer(trace.records);
  const end = rp.at(trace.records.length - 1);
  const lines = [
    `${trace.source}: ${trace.format} trace, ${trace.records.length} records, ${rp.stateChangeSteps.length} state changes`,
    "",
    "actors:",
    ...[...byActor].sort().map(([a, n]) => `  ${a.padEnd(24)} ${n}`),
    "",
    "kinds:",
    ...[...byKind].sort().map(([k, n]) => `  ${k.padEnd(32)} ${n}`),
    "",
    "devices at the end:",
    ...deviceViews(end).map(
      (d) => `  ${d.key.padEnd(16)} frontend ${stateName(d.frontState)}  backend ${stateName(d.backState)}`,
    ),
  ];
  if (trace.warnings.length > 0)
    lines.push("", `warnings (${trace.warnings.length}):`, ...trace.warnings.map((w) => `  ${w}`));
  return `${lines.join("\n")}\n`;
}
