// Builds the self-contained viewer page: the client script (client.ts and the state replay it
// imports, bundled by esbuild on first use), the styles, and the trace embedded as JSON.
import { fileURLToPath } from "node:url";
import type { TraceRecord } from "@xensim/evtchn";
import { build } from "esbuild";

let bundled: Promise<string> | undefined;

/** The client script as one IIFE (cached for the process). */
export function clientScript(): Promise<string> {
  bundled ??= build({
    entryPoints: [fileURLToPath(new URL("./client.ts", import.meta.url))],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    platform: "browser",
    legalComments: "none",
    logLevel: "silent",
  }).then((r) => r.outputFiles[0]!.text);
  return bundled;
}

export interface ViewerInput {
  readonly records: readonly TraceRecord[];
  readonly source: string;
  readonly format: string;
}

/** JSON that can sit inside a <script> element (no `</script>`, no `<!--`). */
function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export async function buildViewerHtml(input: ViewerInput): Promise<string> {
  const script = (await clientScript()).replace(/<\/script/gi, "<\\/script");
  const title = `xensim trace — ${input.source}`.replace(/[<>&"]/g, "");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <div class="title"><b>xensim</b> trace viewer <span id="source"></span></div>
  <div class="controls">
    <button id="btn-first" title="first record (Home)">|◀</button>
    <button id="btn-prevState" title="previous state change (p, Shift+←)">◀◀ state</button>
    <button id="btn-back" title="step back (←)">◀</button>
    <button id="btn-forward" title="step forward (→)">▶</button>
    <button id="btn-nextState" title="next state change (n, Shift+→)">state ▶▶</button>
    <button id="btn-end" title="last record (End)">▶|</button>
    <input id="slider" type="range" min="0" value="0" aria-label="step">
    <span class="pos">step <b id="step-no">0</b> / <span id="step-total">0</span> · <span id="time"></span></span>
  </div>
</header>
<main>
  <section class="col-log">
    <h2>Record</h2><div id="record"></div>
    <h2>Around it</h2><ol id="log"></ol>
    <p class="help">← → step · n / p next / previous state change · Home / End · click a line to jump</p>
  </section>
  <section class="col-tree"><h2>XenStore</h2><div id="tree"></div></section>
  <section class="col-side">
    <h2>XenBus devices</h2><div id="devices"></div>
    <h2>Rings</h2><div id="rings"></div>
    <h2>Grants</h2><div id="grants"></div>
    <h2>Event channels</h2><div id="ports"></div>
    <h2>Watches</h2><div id="watches"></div>
  </section>
</main>
<script id="trace-data" type="application/json">${scriptSafeJson({ source: input.source, format: input.format, records: input.records })}</script>
<script>${script}</script>
</body>
</html>
`;
}

const STYLE = `
:root { --bg:#fbfbfa; --fg:#1d2330; --mute:#6b7280; --line:#e3e5e8; --chg:#ffe98a; --recent:#fff6cf; --accent:#2457c5; }
* { box-sizing: border-box; }
body { margin:0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { position:sticky; top:0; z-index:2; background:#fff; border-bottom:1px solid var(--line); padding:8px 14px; }
.title { font-size:15px; margin-bottom:6px; } #source { color:var(--mute); font-size:12px; margin-left:8px; }
.controls { display:flex; align-items:center; gap:6px; flex-wrap:wrap; }
button { font:inherit; padding:3px 10px; border:1px solid #c9ced6; background:#f4f6f9; border-radius:5px; cursor:pointer; }
button:hover { background:#e8edf5; }
#slider { flex:1; min-width:200px; accent-color:var(--accent); }
.pos { font-variant-numeric: tabular-nums; min-width:200px; }
main { display:grid; grid-template-columns: minmax(300px, 1.1fr) minmax(320px, 1.2fr) minmax(360px, 1.3fr); gap:12px; padding:12px 14px; align-items:start; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:4px 12px 12px; min-width:0; }
.col-tree { max-height: calc(100vh - 110px); overflow:auto; }
h2 { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--mute); margin:12px 0 6px; }
table { border-collapse:collapse; width:100%; font-size:12px; }
th { text-align:left; color:var(--mute); font-weight:600; border-bottom:1px solid var(--line); padding:2px 6px; }
td { border-bottom:1px solid #f0f1f3; padding:3px 6px; vertical-align:top; font-variant-numeric: tabular-nums; }
tr.chg td, li.chg { background:var(--chg); }
li.recent { background:var(--recent); }
.sub, small { color:var(--mute); font-size:11px; }
.drv { color:var(--mute); font-size:11px; margin-top:2px; }
.empty { color:var(--mute); font-style:italic; margin:2px 0; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-weight:600; font-size:12px; }
.badge small { color:inherit; opacity:.7; }
.s-unknown { background:#eceef1; color:#596170; } .s-init { background:#e3ecfb; color:#2b4f9a; }
.s-initwait { background:#fdf0c9; color:#8a5a00; } .s-initialised { background:#e0f4e4; color:#27693a; }
.s-connected { background:#c9efd3; color:#176a30; } .s-closing { background:#fde2cc; color:#9a4a0a; }
.s-closed { background:#f6d4d4; color:#902828; } .s-reconf { background:#eadcf8; color:#5b2f91; }
ul.tree, ul.watches { list-style:none; margin:0; padding:0; font: 12px/1.5 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
ul.tree li { white-space:nowrap; border-radius:3px; padding-right:6px; }
ul.tree .n { color:#334; } ul.tree .v { color:#0b6b3a; } ul.tree i { color:var(--accent); font-style:normal; margin-left:4px; }
ul.tree .perms { color:#a0a6b0; margin-left:10px; font-size:11px; }
.removed { background:#fde8e8; border-radius:4px; padding:4px 6px; margin-bottom:6px; font: 11px ui-monospace, monospace; }
.removed span { text-decoration: line-through; color:#902828; margin-right:6px; }
#record .rec { border-left:3px solid var(--accent); padding:4px 8px; background:#f5f8ff; border-radius:4px; }
#record .actor { font-weight:700; } #record .k { color:var(--accent); font-family: ui-monospace, monospace; }
#record pre { white-space:pre-wrap; word-break:break-all; font-size:11px; color:#4b5563; margin:4px 0 0; }
ol#log { list-style:none; padding:0; margin:0; font: 11.5px/1.45 ui-monospace, monospace; }
ol#log li { padding:1px 4px; border-radius:3px; cursor:pointer; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
ol#log li:hover { background:#eef2f8; }
ol#log li.cur { background:var(--chg); font-weight:600; }
ol#log li.future { color:#9aa1ac; }
ol#log li.sc { border-left:3px solid #2f9e53; }
ol#log .t { color:var(--mute); display:inline-block; width:74px; } ol#log .k { display:none; }
.dot { color:#d22; } .warn { color:#9a4a0a; font-size:11px; }
.help { color:var(--mute); font-size:11px; }
`;
