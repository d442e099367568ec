// `pnpm run view`: the HTML step-through viewer of a trace, one self-contained page (script, styles
// and the trace inline), written to a file and/or served on localhost.
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { basename, dirname } from "node:path";
import { buildViewerHtml } from "../trace-tools/viewer/build.ts";
import { intValue, parseArgs, runCli } from "./args.ts";
import { loadTraceArg } from "./trace-input.ts";

const USAGE = `usage: pnpm run view (FILE | --run | --scenario NAME [--seed N]) [--out FILE.html] [--serve [--port N]]

  FILE        JSON lines from pnpm start --trace-json, fuzz/replay, or pnpm xenstored --trace ('-': stdin)
  --run       view the default scenario's run (--scenario NAME for another)
  --out       where to write the page (default out/view-<name>.html)
  --serve     also serve it on http://127.0.0.1:PORT/ (default port 8123) until interrupted`;

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, {
    flags: ["help", "serve", "run"],
    values: ["out", "port", "scenario", "seed"],
  });
  if (args.flags.has("help")) {
    console.log(USAGE);
    return 0;
  }
  const trace = await loadTraceArg(args);
  for (const w of trace.warnings.slice(0, 10)) console.error(`warning: ${w}`);
  const html = await buildViewerHtml(trace);
  const name = args.positionals[0] ? basename(args.positionals[0]).replace(/\.[^.]*$/, "") : "scenario";
  const out = args.values.get("out")?.at(-1) ?? `out/view-${name}.html`;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, html);
  console.log(`wrote ${out} (${trace.records.length} records, ${(html.length / 1024).toFixed(0)} KiB)`);
  if (!args.flags.has("serve")) return 0;
  const port = intValue(args, "port", 8123);
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  console.log(`serving on http://127.0.0.1:${port}/ (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  server.close();
  return 0;
}

runCli(main, USAGE);
