// `pnpm xenstored [--socket PATH] [--profile cxenstored|qemu] [--guest-socket DOMID:PATH]...
//                 [--domains all|LIST] [--trace FILE] [--restore FILE]`
// Argument parsing and signals only; the daemon is XenstoredDaemon.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_SOCKET_PATH,
  type GuestSocket,
  parseDomains,
  XenstoredDaemon,
  type XenstoredDaemonOptions,
} from "../daemon/xenstored-daemon.ts";

const USAGE = `usage: pnpm xenstored [--socket PATH] [--profile cxenstored|qemu]
                      [--guest-socket DOMID:PATH]... [--domains all|LIST]
                      [--trace FILE] [--restore FILE]

A XenStore daemon on a Unix socket for the real Xen tools (xenstore-ls, libxenstore, pyxs).
  --socket PATH          dom0 socket (default $XENSTORED_PATH, else ${DEFAULT_SOCKET_PATH})
  --profile NAME         cxenstored (default) or qemu semantics
  --guest-socket D:PATH  introduce domain D with a toolstack home; clients on PATH act as D
  --domains all|LIST     domids the simulated hypervisor reports as existing (default all:
                         every domid below 32752); LIST like 0,1-8
  --trace FILE           append every request, reply and watch event as JSON lines
  --restore FILE         start from a snapshot written by CONTROL save FILE
Environment: XENSIM_NO_USER_BUFFER=1 reads sockets through Node's 'data' events instead of
one shared read buffer; XENSIM_NO_DIRECT_WRITE=1 writes through socket.write() instead of
straight to the socket's handle (for comparison; both behave the same).
`;

function fail(msg: string): never {
  process.stderr.write(`xenstored: ${msg}\n${USAGE}`);
  process.exit(2);
}

export function parseCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
): XenstoredDaemonOptions & {
  guestSockets: GuestSocket[];
} {
  const { values } = parseArgs({
    args: argv,
    options: {
      socket: { type: "string" },
      profile: { type: "string" },
      "guest-socket": { type: "string", multiple: true },
      domains: { type: "string" },
      trace: { type: "string" },
      restore: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const profile = values.profile;
  if (profile !== undefined && profile !== "cxenstored" && profile !== "qemu")
    throw new Error(`--profile must be cxenstored or qemu, not "${profile}"`);
  const guestSockets: GuestSocket[] = (values["guest-socket"] ?? []).map((g) => {
    const m = /^(\d+):(.+)$/.exec(g);
    if (!m) throw new Error(`--guest-socket wants DOMID:PATH, not "${g}"`);
    return { domid: Number(m[1]), path: resolve(m[2]!) };
  });
  const socketPath = resolve(values.socket ?? (env.XENSTORED_PATH || DEFAULT_SOCKET_PATH));
  return {
    socketPath,
    guestSockets,
    ...(profile ? { profile: profile as "cxenstored" | "qemu" } : {}),
    domains: values.domains ? parseDomains(values.domains) : ("all" as const),
    ...(values.trace ? { tracePath: resolve(values.trace) } : {}),
    ...(values.restore ? { restorePath: resolve(values.restore) } : {}),
  };
}

async function main(): Promise<void> {
  let opts: ReturnType<typeof parseCli>;
  try {
    opts = parseCli(process.argv.slice(2), process.env);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  let daemon: XenstoredDaemon;
  try {
    daemon = await XenstoredDaemon.start(opts);
  } catch (e) {
    process.stderr.write(`xenstored: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    daemon.stop().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`xenstored: stop on ${sig}: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  const guests = opts.guestSockets.map((g) => `; domain ${g.domid} on ${g.path}`).join("");
  process.stdout.write(`xenstored: listening on ${opts.socketPath}${guests}\n`);
}

await main();
