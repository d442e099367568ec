// `pnpm bench [--json] [--quick] [filter]`: runs every `packages/*/bench/*.bench.ts` module and
// prints its named figures (human-readable by default, one JSON object with --json).
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BenchModule, Figures } from "./bench-kit.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const filters = args.filter((a) => !a.startsWith("--"));

const root = resolve(import.meta.dirname, "..");
const files: string[] = [];
for (const pkg of readdirSync(join(root, "packages")).sort()) {
  const dir = join(root, "packages", pkg, "bench");
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith(".bench.ts")) files.push(join(dir, f));
}

const all: Figures = {};
for (const file of files) {
  const name = file.slice(root.length + 1);
  if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
  const mod = (await import(pathToFileURL(file).href)) as BenchModule;
  if (!json) process.stdout.write(`# ${name}\n`);
  const figures = await mod.run({ quick });
  for (const [k, v] of Object.entries(figures)) {
    all[k] = v;
    if (!json) process.stdout.write(`  ${k.padEnd(48)} ${formatFigure(v)}\n`);
  }
}
if (json) process.stdout.write(`${JSON.stringify(all)}\n`);

function formatFigure(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toPrecision(4);
}
