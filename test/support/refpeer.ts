// Test support: Debian's real cxenstored/oxenstored as a reference peer (../shared/refpeer).
// setup.sh runs once per machine (cached by the presence of $XSREF_ROOT, default
// /tmp/xsref-root); start.sh starts a daemon on a Unix socket; stop.sh stops it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export type RefDaemon = "cxenstored" | "oxenstored";

export interface Refpeer {
  socketPath: string;
  pid: number;
  daemon: RefDaemon;
  /** ring mode directory (FAKEXEN_RINGDIR), when asked for */
  ringDir: string | undefined;
  stop(): void;
}

const repoRoot = resolve(import.meta.dirname, "../..");
/** `../shared/refpeer` beside the repository. */
export const REFPEER_DIR = resolve(repoRoot, "../shared/refpeer");
const XSREF_ROOT = process.env.XSREF_ROOT ?? "/tmp/xsref-root";

let setupResult: string | null | undefined;
let lastError: string | null = null;

/** Runs setup.sh if needed; returns null when ready, else the reason it is not. */
export function ensureRefpeerSetup(): string | null {
  if (setupResult !== undefined) return setupResult;
  setupResult = doSetup();
  return setupResult;
}

function doSetup(): string | null {
  if (process.env.XSENSIM_NO_REFPEER) return "XSENSIM_NO_REFPEER is set";
  if (process.platform !== "linux") return `refpeer needs Linux (platform ${process.platform})`;
  if (!existsSync(join(REFPEER_DIR, "start.sh"))) return `no refpeer at ${REFPEER_DIR}`;
  const bin = join(XSREF_ROOT, "usr/lib/xen-4.17/bin/xenstored");
  const shim = join(XSREF_ROOT, "fakexen/libfakexen.so");
  if (existsSync(bin) && existsSync(shim)) return null;
  const r = spawnSync(join(REFPEER_DIR, "setup.sh"), [], { encoding: "utf8", timeout: 180_000 });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-3).join(" | ");
    return `refpeer setup.sh failed (status ${r.status}): ${tail}`;
  }
  if (!existsSync(bin) || !existsSync(shim)) return "refpeer setup.sh finished but the daemon is missing";
  return null;
}

/** Why the last startRefpeer() returned null. */
export function refpeerError(): string | null {
  return lastError;
}

/**
 * Starts a reference daemon on a fresh socket. Returns null (reason in refpeerError()) when
 * the peer cannot be set up or started.
 */
export async function startRefpeer(
  opts: {
    daemon?: RefDaemon;
    ringDir?: string;
    domains?: string;
    /** extra daemon arguments (e.g. cxenstored quotas: `-E 8 -W 3`) */
    args?: readonly string[];
  } = {},
): Promise<Refpeer | null> {
  const daemon = opts.daemon ?? "cxenstored";
  const why = ensureRefpeerSetup();
  if (why) {
    lastError = why;
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), "xsr-"));
  const socketPath = join(dir, "s");
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.ringDir) env.FAKEXEN_RINGDIR = opts.ringDir;
  if (opts.domains) env.FAKEXEN_DOMAINS = opts.domains;
  const r = spawnSync(join(REFPEER_DIR, "start.sh"), [socketPath, daemon, ...(opts.args ?? [])], {
    encoding: "utf8",
    env,
    timeout: 20_000,
  });
  const pid = Number((r.stdout ?? "").trim().split("\n").pop());
  if (r.status !== 0 || !Number.isInteger(pid) || pid <= 0) {
    lastError = `start.sh failed (status ${r.status}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}`;
    return null;
  }
  let stopped = false;
  return {
    socketPath,
    pid,
    daemon,
    ringDir: opts.ringDir,
    stop() {
      if (stopped) return;
      stopped = true;
      spawnSync(join(REFPEER_DIR, "stop.sh"), [String(pid)], { encoding: "utf8", timeout: 10_000 });
    },
  };
}
