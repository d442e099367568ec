// XenstoredDaemon: the XenStoreServer offered on Unix sockets, like cxenstored's
// /var/run/xenstored/socket (cx init_sockets() / accept_connection()). Connections on the main
// socket are dom0; each guest socket belongs to one simulated domain, introduced at start with
// the toolstack's home (domain-home.ts), and every connection to it acts as that domain.
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { XsConnection } from "../server/connection.ts";
import type { TraceEvent, TraceSink } from "../server/trace.ts";
import { XenStoreServer, type XenStoreServerOptions } from "../server/xenstore-server.ts";
import { XsOpError } from "../store/access.ts";
import type { ProfileName } from "../store/profiles.ts";
import type { Quotas } from "../store/quotas.ts";
import { DOMID_FIRST_RESERVED } from "../wire/xs-wire.ts";
import { type DomainHomeOptions, writeDomainHome } from "./domain-home.ts";
import { SocketTransport } from "./socket-transport.ts";
import { TraceFile } from "./trace-file.ts";

/** The path libxenstore uses when XENSTORED_PATH is not set (xs_daemon_socket()). */
export const DEFAULT_SOCKET_PATH = "/var/run/xenstored/socket";

export interface GuestSocket {
  domid: number;
  path: string;
  /** options for the domain's home (name, uuid, type) */
  home?: DomainHomeOptions;
}

export interface XenstoredDaemonOptions {
  /** the privileged (dom0) socket */
  socketPath: string;
  guestSockets?: readonly GuestSocket[];
  profile?: ProfileName;
  /** domids the simulated hypervisor reports as existing: "all" (< 32752) or a list (dom0 always exists) */
  domains?: "all" | readonly number[];
  /** append every request, reply and watch event to this file as JSON lines */
  tracePath?: string;
  /** start from a snapshot written by `CONTROL save FILE` */
  restorePath?: string;
  quotas?: Partial<Quotas>;
  /** also receive the server's trace events (tests, tooling) */
  onTrace?: TraceSink;
}

export interface DaemonStats {
  /** open socket connections */
  connections: number;
  /** server output queued in connections and not yet written to sockets */
  queuedOutputBytes: number;
  /** client input received and not yet processed (held back by the outstanding quota) */
  heldInputBytes: number;
  /** bytes in the sockets' user-space write buffers */
  socketBufferedBytes: number;
  /** watch events dropped because a connection's queue was full, since start */
  droppedEvents: number;
  /** open connections reading into the shared buffer (the others take Node's 'data' path) */
  sharedReadConnections: number;
  /** open connections writing straight to their libuv handle (the others call socket.write()) */
  directWriteConnections: number;
  /** times an open connection's output waited for its socket to take more */
  writeStalls: number;
}

/**
 * Parses `--domains`: `all`, or a comma list of domids and ranges (`0,1-8,12`), like the
 * refpeer's FAKEXEN_DOMAINS.
 */
export function parseDomains(spec: string): "all" | number[] {
  if (spec === "all") return "all";
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`--domains: bad entry "${part}" (want all, or a list like 0,1-8)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= DOMID_FIRST_RESERVED) throw new Error(`--domains: bad range "${part}"`);
    for (let d = a; d <= b; d++) out.push(d);
  }
  return out;
}

export class XenstoredDaemon {
  private readonly listeners: { server: Server; path: string }[] = [];
  private readonly transports = new Set<SocketTransport>();
  private trace: TraceFile | null = null;
  private droppedEvents = 0;
  private stopped = false;

  private constructor(
    readonly options: XenstoredDaemonOptions,
    /** the store behind the sockets (in-process access for tests and tooling) */
    readonly server: XenStoreServer,
  ) {}

  /** Starts the daemon; resolves once every socket accepts connections. */
  static async start(options: XenstoredDaemonOptions): Promise<XenstoredDaemon> {
    const trace = options.tracePath ? new TraceFile(options.tracePath) : null;
    if (trace) await trace.ready();
    const existing = options.domains && options.domains !== "all" ? new Set([0, ...options.domains]) : null;
    let daemon: XenstoredDaemon | null = null;
    // Without a listener the server gets no sink at all: it then skips building the frame-in/
    // frame-out events of every request (cx likewise only formats trace lines with -T).
    const tracing = trace !== null || options.onTrace !== undefined;
    const sink = tracing ? (e: TraceEvent) => daemon?.onTraceEvent(e) : undefined;
    const serverOptions: XenStoreServerOptions = {
      ...(options.profile ? { profile: options.profile } : {}),
      ...(options.quotas ? { quotas: options.quotas } : {}),
      host: {
        // cx domain_exists → xc_domain_getinfo(); refused SET_PERMS owners / INTRODUCE
        domainExists: (d) => d >= 0 && d < DOMID_FIRST_RESERVED && (existing === null || existing.has(d)),
      },
      ...(sink ? { trace: sink } : {}),
      controlCommands: {
        // CONTROL save FILE: the server snapshot, for --restore (cf. cx live-update's state file)
        save: (args) => {
          if (args.length !== 1 || args[0] === "") throw new XsOpError("EINVAL");
          try {
            writeFileSync(args[0]!, server.snapshot());
          } catch {
            throw new XsOpError("EIO");
          }
          return "OK";
        },
      },
    };
    let server: XenStoreServer;
    if (options.restorePath) {
      server = XenStoreServer.restore(new Uint8Array(readFileSync(options.restorePath)), serverOptions);
      // the sockets of the saved connections are gone: drop them with their watches and
      // transactions, as xenstored does when a client disappears
      for (const c of server.connections()) c.close();
    } else {
      server = new XenStoreServer(serverOptions);
    }
    daemon = new XenstoredDaemon(options, server);
    daemon.trace = trace;
    try {
      for (const g of options.guestSockets ?? []) daemon.setUpGuest(g);
      await daemon.listen(options.socketPath, 0);
      for (const g of options.guestSockets ?? []) await daemon.listen(g.path, g.domid);
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    return daemon;
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** What the toolstack does before the guest runs: its home, then INTRODUCE (libxl order). */
  private setUpGuest(g: GuestSocket): void {
    if (!Number.isInteger(g.domid) || g.domid <= 0 || g.domid >= DOMID_FIRST_RESERVED)
      throw new Error(`--guest-socket: domid ${g.domid} must be 1..${DOMID_FIRST_RESERVED - 1}`);
    if (this.server.domains().some((d) => d.domid === g.domid)) return; // restored
    const dom0 = this.server.direct(0);
    try {
      const err = writeDomainHome(dom0, g.domid, g.home);
      if (err) throw new Error(`domain ${g.domid}: writing its home failed: ${err}`);
    } finally {
      dom0.close();
    }
    const r = this.server.introduceDomain(g.domid, 0, 1);
    if (r !== "OK") throw new Error(`domain ${g.domid}: INTRODUCE failed: ${r} (see --domains)`);
  }

  private async listen(path: string, domid: number): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    const server = createServer({ allowHalfOpen: false }, (sock) => this.accept(sock, domid));
    server.maxConnections = 4096;
    try {
      await listenOn(server, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || (await isLive(path))) throw e;
      // a stale socket file of a daemon that died: take it over (cx unlinks it at start too)
      unlinkSync(path);
      await listenOn(server, path);
    }
    this.listeners.push({ server, path });
  }

  /** cx accept_connection(): a new connection; on a guest socket it acts as that domain. */
  private accept(sock: Socket, domid: number): void {
    if (this.stopped) {
      sock.destroy();
      return;
    }
    if (domid !== 0 && !this.server.domains().some((d) => d.domid === domid)) {
      // RELEASEd by dom0 and not introduced again: no ring to talk to
      sock.destroy();
      return;
    }
    const q = this.server.quotas;
    const conn: XsConnection = this.server.connect({
      domid,
      label: domid === 0 ? "socket" : `guest-socket ${domid}`,
      // every socket client is bounded, dom0 too (cx bounds only unprivileged domains)
      outstandingLimit: q.outstanding,
      queuedEventLimit: q.queuedEvents,
    });
    this.traceEvents(conn);
    const t = new SocketTransport(sock, conn, (x) => this.transports.delete(x));
    this.transports.add(t);
  }

  /**
   * Traces every watch event offered to the connection, WATCH's initial event included (the
   * server traces only the events fire_watches() delivers), with what became of it.
   */
  private traceEvents(conn: XsConnection): void {
    const s = conn.session;
    const deliver = s.deliverEvent;
    s.deliverEvent = (path, token) => {
      const r = deliver(path, token);
      if (r === "queue-full") this.droppedEvents++;
      if (this.trace === null && this.options.onTrace === undefined) return r;
      const base = { connId: s.id, domid: s.domid, path, token };
      this.emitTrace(
        r === "queued"
          ? { kind: "watch-event", ...base }
          : { kind: "watch-event-dropped", ...base, reason: r },
      );
      return r;
    };
  }

  private onTraceEvent(e: TraceEvent): void {
    // socket connections trace their own events (traceEvents); "too-long" never reaches them
    if (e.kind === "watch-event" || (e.kind === "watch-event-dropped" && e.reason !== "too-long")) {
      if (this.server?.connection(e.connId)) return;
    }
    this.emitTrace(e);
  }

  private emitTrace(e: TraceEvent): void {
    this.trace?.sink(e);
    this.options.onTrace?.(e);
  }

  stats(): DaemonStats {
    let queuedOutputBytes = 0;
    let heldInputBytes = 0;
    let socketBufferedBytes = 0;
    let sharedReadConnections = 0;
    let directWriteConnections = 0;
    let writeStalls = 0;
    for (const t of this.transports) {
      if (t.stats.sharedRead) sharedReadConnections++;
      if (t.stats.directWrite) directWriteConnections++;
      writeStalls += t.stats.writeStalls;
      queuedOutputBytes += t.conn.outputBytes;
      heldInputBytes += t.conn.inputBytes;
      socketBufferedBytes += t.bufferedBytes;
    }
    return {
      connections: this.transports.size,
      queuedOutputBytes,
      heldInputBytes,
      socketBufferedBytes,
      droppedEvents: this.droppedEvents,
      sharedReadConnections,
      directWriteConnections,
      writeStalls,
    };
  }

  /** Stops accepting, closes every connection, removes the socket files, closes the trace. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closing = this.listeners.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const t of [...this.transports]) t.end();
    await Promise.all(closing);
    for (const { path } of this.listeners) {
      try {
        if (existsSync(path)) unlinkSync(path);
      } catch {
        // already gone
      }
    }
    await this.trace?.close();
  }
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(path, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Whether something accepts connections on `path` (another daemon). */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
