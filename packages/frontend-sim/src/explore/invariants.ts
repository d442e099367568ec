// What the explorer asserts. Safety invariants hold at every step whatever the faults; liveness
// invariants hold once the system has healed (see explore.ts for the definition of "heals").
import { checkQuiescentInvariants } from "../host/invariants.ts";
import type { Machine } from "../host/machine.ts";
import { backendPath, frontendPath } from "../host/toolstack/device-spec.ts";
import type { DeviceKit, StoreReader } from "./devices.ts";

/** Reads the live store of whichever xenstored runs now (a live update replaces the server). */
export function storeReader(m: Machine): StoreReader {
  return {
    readString: (p) => m.platform.xenstored.store.readString(p),
    list: (p) => m.platform.xenstored.store.list(p) ?? [],
  };
}

/** One device of the run: its type and both XenStore directories. */
export interface DevicePaths {
  readonly kit: DeviceKit;
  readonly fe: string;
  readonly be: string;
}

export function devicePaths(kit: DeviceKit, domid: number, devid: number): DevicePaths {
  const id = { kind: kit.name, domid, devid, backendDomid: 0 };
  return { kit, fe: frontendPath(id), be: backendPath(id) };
}

/**
 * The cheap per-step protocol checks (run before every scheduler step):
 * - a `state` node holds a XenBus state (an integer 1..8, or absent);
 * - a frontend that reads Connected has published its ring refs (it must write them first).
 */
export function stepInvariants(r: StoreReader, devices: readonly DevicePaths[]): string[] {
  const out: string[] = [];
  for (const d of devices) {
    for (const [end, dir] of [
      ["frontend", d.fe],
      ["backend", d.be],
    ] as const) {
      const s = r.readString(`${dir}/state`);
      if (s !== undefined && !/^[1-8]$/.test(s))
        out.push(`${d.kit.name} ${end} state is ${JSON.stringify(s)}`);
    }
    if (r.readString(`${d.fe}/state`) === "4" && d.kit.ringRefs(r, d.fe).length === 0)
      out.push(`${d.kit.name} frontend is Connected but has published no ring ref`);
  }
  return out;
}

/**
 * Safety invariants checked after every command: no memory hazard, the data checks of every
 * device type, and a backend that reads Connected while its frontend does maps every ring ref
 * the frontend published.
 */
export function safetyInvariants(m: Machine, devices: readonly DevicePaths[], domid: number): string[] {
  const out: string[] = [];
  for (const h of m.platform.hypervisor.hazards())
    out.push(`memory hazard: ${h.kind} dom${h.domid} gfn ${h.gfn}`);
  for (const d of devices) out.push(...d.kit.safety());
  const r = storeReader(m);
  out.push(...stepInvariants(r, devices));
  const maps = m.platform.hypervisor.activeMappings(0).filter((mp) => mp.granter === domid);
  const mapped = new Set(maps.map((mp) => mp.ref));
  for (const d of devices) {
    if (r.readString(`${d.fe}/state`) !== "4" || r.readString(`${d.be}/state`) !== "4") continue;
    for (const ref of d.kit.ringRefs(r, d.fe)) {
      if (!mapped.has(ref))
        out.push(`${d.kit.name}: both ends Connected but dom0 does not map ring ref ${ref}`);
    }
  }
  return out;
}

/** Error nodes written for devices (`<home>/error/<nodename>/error`), by device path. */
export function errorNodes(m: Machine, domid: number): { owner: string; node: string; text: string }[] {
  const r = storeReader(m);
  const out: { owner: string; node: string; text: string }[] = [];
  const walk = (base: string, owner: string): void => {
    const visit = (p: string, depth: number): void => {
      const text = r.readString(`${p}/error`);
      if (text !== undefined && text !== "") out.push({ owner, node: p.slice(base.length + 1), text });
      if (depth < 5) for (const c of r.list(p)) if (c !== "error") visit(`${p}/${c}`, depth + 1);
    };
    visit(base, 0);
  };
  walk(`/local/domain/${domid}/error`, `dom${domid}`);
  walk(`/local/domain/0/error`, "dom0");
  return out;
}

export interface LivenessContext {
  readonly m: Machine;
  readonly devices: readonly DevicePaths[];
  readonly domid: number;
  /** Device types whose failure is explained (permanent fault, hostile peer): skip their verdict. */
  readonly excused: ReadonlySet<string>;
}

/**
 * After heal: every device still present has converged — both ends Connected, or both Closed
 * *cleanly*, i.e. without an error node for the device. (An error node beside a device that is
 * Connected again, or of a device that no longer exists — a probe that raced a removal,
 * hostile-peers D2 — describes nothing current.)
 */
export function livenessInvariants(c: LivenessContext): string[] {
  const out: string[] = [];
  const r = storeReader(c.m);
  const errors = errorNodes(c.m, c.domid);
  for (const d of c.devices) {
    if (c.excused.has(d.kit.name)) continue;
    const fs = r.readString(`${d.fe}/state`);
    const bs = r.readString(`${d.be}/state`);
    if (fs === undefined && bs === undefined) continue; // not plugged
    if (fs === "4" && bs === "4") continue;
    if (fs === "6" && bs === "6") {
      const feNode = d.fe.slice(d.fe.indexOf("/device/") + 1);
      const beNode = d.be.slice(d.be.indexOf("/backend/") + 1);
      for (const e of errors)
        if (e.node === feNode || e.node === beNode)
          out.push(`${d.kit.name} closed with ${e.owner} error: ${e.text}`);
      continue;
    }
    out.push(`${d.kit.name}: did not converge: frontend ${fs ?? "absent"}, backend ${bs ?? "absent"}`);
    for (const e of errors)
      if (e.node.includes(`/${d.kit.name}/`)) out.push(`  ${e.owner} error node ${e.node}: ${e.text}`);
  }
  return out;
}

/** Leaks once everything was unplugged (the machine-wide quiescent invariants). */
export function quiescentInvariants(m: Machine, exempt: (line: string) => boolean): string[] {
  return checkQuiescentInvariants(m).filter((l) => !exempt(l));
}
