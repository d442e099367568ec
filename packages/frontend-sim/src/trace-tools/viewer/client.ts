/// <reference lib="dom" />
// The step-through viewer's script, bundled by esbuild into the page (see build.ts). It reads the
// embedded trace, replays it with the same state-replay module the tests check, and renders each
// step: the record, both ends' XenBus states per device, the XenStore tree (changes highlighted),
// ring indices, grants and mappings, event-channel ports, watches.
import type { TraceRecord } from "@xensim/evtchn";
import { describeRecord, formatTime, stateName } from "../classify.ts";
import {
  deviceViews,
  portLabels,
  Replayer,
  type ReplayState,
  sortedGrants,
  sortedMappings,
  sortedPorts,
  sortedRings,
  treeRows,
} from "../state-replay.ts";

interface Embedded {
  readonly source: string;
  readonly format: string;
  readonly records: TraceRecord[];
}

const data = JSON.parse(document.getElementById("trace-data")!.textContent!) as Embedded;
const records = data.records;
const rp = new Replayer(records);
const last = records.length - 1;
/** How many steps a change stays faintly highlighted. */
const RECENT = 40;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const slider = $<HTMLInputElement>("slider");
slider.max = String(Math.max(0, last));
$("source").textContent =
  `${data.source} · ${data.format} trace · ${records.length} records · ${rp.stateChangeSteps.length} state changes`;

let step = 0;
let pending = false;

function h(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STATE_CLASS: Record<string, string> = {
  Unknown: "s-unknown",
  Initialising: "s-init",
  InitWait: "s-initwait",
  Initialised: "s-initialised",
  Connected: "s-connected",
  Closing: "s-closing",
  Closed: "s-closed",
  Reconfiguring: "s-reconf",
  Reconfigured: "s-reconf",
};

function badge(raw: string | undefined, attrs: string): string {
  const name = raw === undefined ? "absent" : stateName(raw);
  const cls = STATE_CLASS[name] ?? "s-unknown";
  return `<span class="badge ${cls}" ${attrs} data-state="${h(name)}">${h(name)}${raw !== undefined ? ` <small>${h(raw)}</small>` : ""}</span>`;
}

function renderLog(): string {
  const from = Math.max(0, step - 12);
  const to = Math.min(last, step + 12);
  let out = "";
  for (let i = from; i <= to; i++) {
    const r = records[i]!;
    const cls = i === step ? "cur" : i > step ? "future" : "";
    const sc = rp.stateChangeSteps.includes(i) ? " sc" : "";
    out += `<li class="${cls}${sc}" data-step="${i}"><span class="t">${h(formatTime(r.t))}</span><span class="k">${h(r.kind)}</span> ${h(describeRecord(r))}</li>`;
  }
  return out;
}

function renderDevices(s: ReplayState): string {
  const devs = deviceViews(s);
  if (devs.length === 0) return `<p class="empty">no devices yet</p>`;
  let out = `<table><tr><th>device</th><th>frontend</th><th>backend</th></tr>`;
  for (const d of devs) {
    const fd = d.frontDriver ? `<div class="drv">driver: ${h(d.frontDriver.state)}</div>` : "";
    const bd = d.backDriver ? `<div class="drv">driver: ${h(d.backDriver.state)}</div>` : "";
    out += `<tr data-device="${h(d.key)}"><td><b>${h(d.type)}</b> ${d.devid}<div class="sub">dom${d.frontDomid} ↔ dom${d.backDomid ?? "?"}</div></td>`;
    out += `<td>${badge(d.frontState, 'data-end="frontend"')}${fd}</td><td>${badge(d.backState, 'data-end="backend"')}${bd}</td></tr>`;
  }
  return `${out}</table>`;
}

function renderTree(s: ReplayState): string {
  let out = "";
  if (s.removed.length > 0)
    out += `<div class="removed">removed: ${s.removed.map((p) => `<span>${h(p)}</span>`).join(" ")}</div>`;
  out += `<ul class="tree">`;
  for (const row of treeRows(s)) {
    const age = step - row.changedAt;
    const cls = age === 0 ? "chg" : age < RECENT ? "recent" : "";
    const perms = row.perms ? `<span class="perms">${h(row.perms.join(" "))}</span>` : "";
    const v = row.value === "" ? "" : ` = <span class="v">${h(row.value)}</span>`;
    const isState =
      /\/state$/.test(row.path) && /^\d$/.test(row.value) ? ` <i>${h(stateName(row.value))}</i>` : "";
    out += `<li class="${cls}" data-path="${h(row.path)}" style="padding-left:${row.depth * 14}px"><span class="n">${h(row.name)}</span>${v}${isState}${perms}</li>`;
  }
  return `${out}</ul>`;
}

function renderRings(s: ReplayState): string {
  const rings = sortedRings(s);
  if (rings.length === 0) return `<p class="empty">no ring records yet</p>`;
  const cols = ["req_prod", "req_cons", "rsp_prod", "rsp_cons", "req_event", "rsp_event"];
  let out = `<table><tr><th>ring</th>${cols.map((c) => `<th>${c.replace("_", "<br>")}</th>`).join("")}<th>private</th></tr>`;
  for (const r of rings) {
    const cls = r.updatedAt === step ? ' class="chg"' : "";
    const priv = Object.entries(r.indices)
      .filter(([k]) => !cols.includes(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    out += `<tr${cls} data-ring="${h(r.id)}"><td>${h(r.id)}</td>${cols.map((c) => `<td>${r.indices[c] ?? ""}</td>`).join("")}<td class="sub">${h(priv)}</td></tr>`;
  }
  return `${out}</table>`;
}

function renderGrants(s: ReplayState): string {
  const grants = sortedGrants(s);
  const maps = sortedMappings(s);
  if (grants.length === 0 && maps.length === 0) return `<p class="empty">no grants yet</p>`;
  let out = `<table><tr><th>granter</th><th>ref</th><th>to</th><th>page</th><th>mapped by</th></tr>`;
  for (const g of grants) {
    const by = maps.filter((m) => m.granter === g.granter && m.ref === g.ref).map((m) => `dom${m.mapper}`);
    const cls = g.since === step ? "chg" : "";
    const def = g.deferred ? ` <span class="warn">end access deferred</span>` : "";
    out += `<tr class="${cls}"><td>dom${g.granter}</td><td>${g.ref}</td><td>${g.grantee === null ? "?" : `dom${g.grantee}`}</td><td>${h(g.what)}${def}</td><td>${by.join(", ") || "—"}</td></tr>`;
  }
  for (const m of maps) {
    if (grants.some((g) => g.granter === m.granter && g.ref === m.ref)) continue;
    out += `<tr><td>dom${m.granter}</td><td>${m.ref}</td><td>?</td><td>${h(m.what)}</td><td>dom${m.mapper}</td></tr>`;
  }
  return `${out}</table>`;
}

function renderPorts(s: ReplayState): string {
  const ports = sortedPorts(s);
  if (ports.length === 0) return `<p class="empty">no event channels yet</p>`;
  const labels = portLabels(s);
  let out = `<table><tr><th>dom</th><th>port</th><th>status</th><th>remote</th><th>for</th><th>pending</th><th>masked</th><th>kicks</th></tr>`;
  const r = records[step];
  for (const p of ports) {
    const remote =
      p.status === "interdomain"
        ? `dom${p.remoteDomid}:${p.remotePort}`
        : p.status === "virq"
          ? `virq ${p.virq}`
          : `dom${p.remoteDomid} may bind`;
    const touched =
      r?.kind.startsWith("evtchn.") === true && r!.details.port === p.port && r!.actor === `dom${p.domid}`;
    out += `<tr class="${touched ? "chg" : ""}" data-port="${p.domid}:${p.port}"><td>dom${p.domid}</td><td>${p.port}</td><td>${p.status}</td><td>${h(remote)}</td><td>${h(labels.get(`${p.domid}:${p.port}`) ?? p.handler ?? "")}</td><td>${p.pending ? '<span class="dot">●</span>' : ""}</td><td>${p.masked ? "masked" : ""}</td><td>${p.sends}</td></tr>`;
  }
  return `${out}</table>`;
}

function renderWatches(s: ReplayState): string {
  const ws = [...s.watches.values()];
  if (ws.length === 0) return `<p class="empty">no watches yet</p>`;
  return `<ul class="watches">${ws.map((w) => `<li>dom${w.domid}/conn${w.conn} <b>${h(w.path)}</b> <span class="sub">${h(w.token)}</span></li>`).join("")}</ul>`;
}

function render(): void {
  pending = false;
  const s = rp.at(step);
  const r = records[step];
  $("step-no").textContent = `${step}`;
  $("step-total").textContent = `${last}`;
  $("time").textContent = r ? formatTime(r.t) : "";
  slider.value = String(step);
  $("record").innerHTML = r
    ? `<div class="rec"><span class="actor">${h(r.actor)}</span> <span class="k">${h(r.kind)}</span><div>${h(describeRecord(r))}</div><pre>${h(JSON.stringify(r.details))}</pre></div>`
    : "";
  $("log").innerHTML = renderLog();
  $("devices").innerHTML = renderDevices(s);
  $("tree").innerHTML = renderTree(s);
  $("rings").innerHTML = renderRings(s);
  $("grants").innerHTML = renderGrants(s);
  $("ports").innerHTML = renderPorts(s);
  $("watches").innerHTML = renderWatches(s);
  $("tree").querySelector("li.chg")?.scrollIntoView({ block: "nearest" });
  history.replaceState(null, "", `#step=${step}`);
}

function go(n: number | null): void {
  if (n === null) return;
  step = Math.max(0, Math.min(last, n));
  if (!pending) {
    pending = true;
    requestAnimationFrame(render);
  }
}

const actions: Record<string, () => void> = {
  first: () => go(0),
  prevState: () => go(rp.prevStateChange(step)),
  back: () => go(step - 1),
  forward: () => go(step + 1),
  nextState: () => go(rp.nextStateChange(step)),
  end: () => go(last),
};
for (const [id, fn] of Object.entries(actions)) $(`btn-${id}`).addEventListener("click", fn);
slider.addEventListener("input", () => go(Number(slider.value)));
$("log").addEventListener("click", (e) => {
  const li = (e.target as HTMLElement).closest("li[data-step]");
  if (li) go(Number(li.getAttribute("data-step")));
});
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
  const k = e.key;
  const fn =
    k === "ArrowRight" || k === "j"
      ? e.shiftKey
        ? actions.nextState
        : actions.forward
      : k === "ArrowLeft" || k === "k"
        ? e.shiftKey
          ? actions.prevState
          : actions.back
        : k === "n" || k === "PageDown"
          ? actions.nextState
          : k === "p" || k === "PageUp"
            ? actions.prevState
            : k === "Home"
              ? actions.first
              : k === "End"
                ? actions.end
                : undefined;
  if (fn) {
    e.preventDefault();
    fn();
  }
});

/** For tests and the console: jump to a step and render at once. */
(globalThis as unknown as { xensimViewer: unknown }).xensimViewer = {
  go(n: number) {
    step = Math.max(0, Math.min(last, n));
    render();
  },
  get step() {
    return step;
  },
  stateChangeSteps: rp.stateChangeSteps,
  records,
};

const fromHash = /step=(\d+)/.exec(location.hash);
step = fromHash ? Math.min(last, Number(fromHash[1])) : 0;
render();
