// Replay tokens: everything one exploration run depends on, in one pasteable word.
// `xs1.` + base64url(JSON of the case). The token alone reproduces the run byte for byte: the
// mode, workload, enabled faults and their seed, the schedule's choices, the executed commands
// and the mutant (if any).
import { FAULT_NAMES, type FaultName } from "./faults.ts";
import { MUTANTS } from "./mutants/index.ts";
import { type CmdSpec, type CmdTuple, cmdFromTuple, cmdToTuple, type Mode } from "./workload.ts";

export const TOKEN_PREFIX = "xs1.";

/** One run, fully determined. */
export interface CaseSpec {
  readonly mode: Mode;
  readonly workload: string;
  readonly faults: readonly FaultName[];
  readonly faultSeed: number;
  /** The choice taken at each decision point of the scheduler (see ScriptedPolicy). */
  readonly schedule: readonly number[];
  readonly commands: readonly CmdSpec[];
  readonly mutant?: string | undefined;
}

interface Wire {
  v: 1;
  m: "s" | "l";
  w: string;
  f: string[];
  fs: number;
  s: string;
  c: CmdTuple[];
  mu?: string;
}

export function encodeToken(c: CaseSpec): string {
  const w: Wire = {
    v: 1,
    m: c.mode === "safety" ? "s" : "l",
    w: c.workload,
    f: [...c.faults],
    fs: c.faultSeed,
    s: c.schedule.join("."),
    c: c.commands.map(cmdToTuple),
    ...(c.mutant === undefined ? {} : { mu: c.mutant }),
  };
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(w), "utf8").toString("base64url");
}

export function decodeToken(token: string): CaseSpec {
  const t = token.trim();
  if (!t.startsWith(TOKEN_PREFIX)) throw new Error(`not a replay token (expected ${TOKEN_PREFIX}…)`);
  let w: Wire;
  try {
    w = JSON.parse(Buffer.from(t.slice(TOKEN_PREFIX.length), "base64url").toString("utf8")) as Wire;
  } catch {
    throw new Error("corrupt replay token");
  }
  if (w.v !== 1) throw new Error(`replay token version ${String(w.v)} is not supported`);
  for (const f of w.f)
    if (!FAULT_NAMES.includes(f as FaultName)) throw new Error(`token names unknown fault ${f}`);
  if (w.mu !== undefined && !MUTANTS.some((m) => m.name === w.mu))
    throw new Error(`token names unknown mutant ${w.mu}`);
  const schedule = w.s === "" ? [] : w.s.split(".").map(Number);
  if (schedule.some((x) => !Number.isInteger(x) || x < 0)) throw new Error("corrupt schedule in token");
  return {
    mode: w.m === "s" ? "safety" : "liveness",
    workload: w.w,
    faults: w.f as FaultName[],
    faultSeed: w.fs,
    schedule,
    commands: w.c.map(cmdFromTuple),
    ...(w.mu === undefined ? {} : { mutant: w.mu }),
  };
}
