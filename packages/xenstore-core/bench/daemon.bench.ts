// `pnpm bench daemon`: write+read pairs over the Unix socket against `pnpm xenstored` (a child
// process, as users run it) and against Debian's cxenstored from ../shared/refpeer in the same
// run. ops = requests answered per second (one write+read pair = 2 ops). The client is the same
// for both daemons: `c/xs-pairs.c` (built with gcc), one process multiplexing every connection
// with poll(), one request in flight per connection as libxenstore's xs_talkv(). A C client
// costs a few µs of CPU per request, so on a 2-core machine the daemon, not the client, sets
// the rate (the Node client this bench used first cost ~13 µs per request and capped both
// daemons near the same figure). Without gcc the Node client in this file is used and the
// figures say so (`.node_client`).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BenchModule, BenchOptions, Figures } from "../../../scripts/bench-kit.ts";
import { timeAsync } from "../../../scripts/bench-kit.ts";
import { refpeerError, startRefpeer } from "../../../test/support/refpeer.ts";
import { XsRequest } from "../src/wire/client.ts";

/** Measured rounds per daemon and client count. */
const ROUNDS = 3;
const C_CLIENT = resolve(import.meta.dirname, "c/xs-pairs.c");
const CLI = resolve(import.meta.dirname, "../src/cli/xenstored.ts");
/** `--import tsx` resolves from the working directory */
const REPO = resolve(import.meta.dirname, "../../..");

/** Connects, retrying while the listen backlog is full (cxenstored's is small: EAGAIN). */
async function open(path: string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolveP, reject) => {
        const s = connect(path);
        s.once("connect", () => resolveP(s));
        s.once("error", reject);
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== "EAGAIN" && code !== "ECONNREFUSED") || attempt > 200) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** `pairs` sequential WRITE then READ round trips on the client's own key. */
function pairsOn(sock: Socket, id: number, pairs: number): Promise<void> {
  return new Promise((resolveP, reject) => {
    const key = `/bench/c${id}`;
    const write = XsRequest.write(key, `value-${id}`, { reqId: 1 });
    const read = XsRequest.read(key, { reqId: 2 });
    let done = 0;
    let buf: Buffer = Buffer.alloc(0);
    let expectRead = false;
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 16) {
        const len = buf.readUInt32LE(12);
        if (buf.length < 16 + len) break;
        const type = buf.readUInt32LE(0);
        buf = buf.subarray(16 + len);
        if (type === 16) return reject(new Error(`client ${id}: error reply`));
        if (!expectRead) {
          expectRead = true;
          sock.write(read);
        } else {
          expectRead = false;
          if (++done === pairs) {
            sock.off("data", onData);
            return resolveP();
          }
          sock.write(write);
        }
      }
    };
    sock.on("data", onData);
    sock.once("error", reject);
    sock.write(write);
  });
}

/** Connections for `clients` concurrent clients, warmed up (JIT, first-write paths). */
async function openClients(path: string, clients: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  for (let i = 0; i < clients; i++) socks.push(await open(path));
  await Promise.all(socks.map((s, i) => pairsOn(s, i, Math.max(20, Math.floor(2000 / clients)))));
  return socks;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far: utime + stime of
 * /proc/PID/stat (proc(5), fields 14 and 15, in clock ticks of 1/100 s on Linux). Null where
 * there is no /proc. Read from outside, so both daemons are measured the same way.
 */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

interface Measured {
  opsPerS: number;
  requests: number;
  /** daemon CPU seconds over the round, null when unknown */
  cpu: number | null;
}

/** Requests per second of `socks` sharing `pairs` write+read pairs, and the daemon's CPU time. */
async function measure(socks: Socket[], pairs: number, pid: number | undefined): Promise<Measured> {
  const each = Math.max(1, Math.floor(pairs / socks.length));
  const cpu0 = cpuSeconds(pid);
  const secs = await timeAsync(() => Promise.all(socks.map((s, i) => pairsOn(s, i, each))));
  const cpu1 = cpuSeconds(pid);
  const requests = 2 * each * socks.length;
  return { opsPerS: requests / secs, requests, cpu: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
}

/** Best rate over rounds, and CPU µs per request over all of them. */
class Tally {
  best = 0;
  private cpu: number | null = 0;
  private requests = 0;
  add(m: Measured): void {
    this.best = Math.max(this.best, m.opsPerS);
    this.requests += m.requests;
    this.cpu = this.cpu === null || m.cpu === null ? null : this.cpu + m.cpu;
  }
  get cpuUsPerRequest(): number | null {
    return this.cpu === null || this.requests === 0 ? null : (this.cpu * 1e6) / this.requests;
  }
}

/** Builds c/xs-pairs.c into `dir`; null (with the reason on stderr) when gcc cannot. */
function buildCClient(dir: string): string | null {
  const exe = join(dir, "xs-pairs");
  const r = spawnSync("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, C_CLIENT], {
    encoding: "utf8",
  });
  if (r.error !== undefined || r.status !== 0) {
    process.stderr.write(
      `daemon.bench: no C client (${r.error?.message ?? r.stderr.trim()}); using the Node client\n`,
    );
    return null;
  }
  return exe;
}

/**
 * One measuring process of the C client: connects `clients` connections, warms them up, then
 * runs `rounds` rounds of `pairs` pairs per connection, reporting each round's requests and
 * seconds, and the daemon's CPU over that round (read from outside as each line arrives: the
 * client prints a line as a round ends and starts the next at once, so the figure covers that
 * round to within a read of /proc).
 */
function runCClient(
  exe: string,
  socketPath: string,
  clients: number,
  pairs: number,
  rounds: number,
  pid: number | undefined,
): Promise<Measured[]> {
  return new Promise((resolveP, reject) => {
    const child = spawn(exe, [socketPath, String(clients), String(pairs), String(rounds)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Measured[] = [];
    let pending = "";
    let err = "";
    let cpu0: number | null = null;
    child.stdout.on("data", (b: Buffer) => {
      pending += b.toString();
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line === "ready") {
          cpu0 = cpuSeconds(pid);
          continue;
        }
        const [requests, secs] = line.split(" ").map(Number) as [number, number];
        const cpu1 = cpuSeconds(pid);
        out.push({
          opsPerS: requests / secs,
          requests,
          cpu: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
        });
        cpu0 = cpu1;
      }
    });
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0 && out.length === rounds) resolveP(out);
      else reject(new Error(`xs-pairs exited ${code}: ${err.trim()}`));
    });
  });
}

function startOurs(sock: string): Promise<ChildProcess> {
  return new Promise((resolveP, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "--socket", sock], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("\n")) resolveP(child);
    });
    child.on("exit", (code) => reject(new Error(`pnpm xenstored exited ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once("exit", () => r());
    child.kill("SIGTERM");
  });
}

export async function run({ quick }: BenchOptions): Promise<Figures> {
  const pairs = quick ? 5_000 : 100_000;
  const dir = mkdtempSync(join(tmpdir(), "xsb-"));
  const figures: Figures = {};
  const configs: [string, number][] = [
    ["", 1],
    [".c8", 8],
    [".c64", 64],
  ];
  const cClient = buildCClient(dir);
  const ours = await startOurs(join(dir, "s"));
  const ref = await startRefpeer({ daemon: "cxenstored" });
  if (!ref) process.stderr.write(`daemon.bench: no ratio vs cxenstored: ${refpeerError()}\n`);
  try {
    for (const [suffix, n] of configs) {
      // both daemons measured alternately, best of ROUNDS rounds each, half the pairs per
      // round: neither gets a warmer client or a quieter machine
      const t = new Tally();
      const tCx = new Tally();
      if (cClient !== null) {
        const each = Math.max(1, Math.floor(pairs / 2 / n));
        for (let round = 0; round < ROUNDS; round++) {
          for (const m of await runCClient(cClient, join(dir, "s"), n, each, 1, ours.pid)) t.add(m);
          if (ref) for (const m of await runCClient(cClient, ref.socketPath, n, each, 1, ref.pid)) tCx.add(m);
        }
      } else {
        const a = await openClients(join(dir, "s"), n);
        const b = ref ? await openClients(ref.socketPath, n) : null;
        for (let round = 0; round < ROUNDS; round++) {
          t.add(await measure(a, pairs / 2, ours.pid));
          if (b) tCx.add(await measure(b, pairs / 2, ref?.pid));
        }
        for (const s of [...a, ...(b ?? [])]) s.destroy();
      }
      const tag = `${cClient === null ? ".node_client" : ""}${suffix}`;
      figures[`xenstored.socket.ops_per_s${tag}`] = t.best;
      // the daemon's CPU per request (user + system: on Linux most of it is the kernel's
      // socket and wake-up work, the same for both daemons) says where the ratio comes from
      const cpu = t.cpuUsPerRequest;
      if (cpu !== null) figures[`xenstored.socket.cpu_us_per_req${tag}`] = cpu;
      if (ref) {
        figures[`cxenstored.socket.ops_per_s${tag}`] = tCx.best;
        const cpuCx = tCx.cpuUsPerRequest;
        if (cpuCx !== null) figures[`cxenstored.socket.cpu_us_per_req${tag}`] = cpuCx;
        figures[`xenstored.socket.ratio_vs_cxenstored${tag}`] = t.best / tCx.best;
      }
    }
  } finally {
    await stop(ours);
    ref?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

export default { run } satisfies BenchModule;
