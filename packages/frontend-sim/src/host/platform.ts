import { type ChoicePolicy, type DomainEvents, EventChannels, Scheduler, unwrap } from "@xensim/evtchn";
import { type Gfn, Hypervisor } from "@xensim/ring";
import { XenStoreServer, type XenStoreServerOptions } from "@xensim/xenstore-core";
import { GNTTAB_RESERVED_XENSTORE, XenstoreRingHost } from "@xensim/xenstore-core/ring-transport";
import type { GuestResources } from "../guest/kernel.ts";
import type { StartInfo } from "../guest/start-info.ts";
import { XenbusClient } from "../guest/xenbus/xs-client.ts";
import { grantOpsFor } from "../xenbus/kernel.ts";
import { LocalSocketTransport } from "./xenstored/local-socket.ts";

export interface PlatformOptions {
  readonly policy?: ChoicePolicy;
  readonly store?: Omit<XenStoreServerOptions, "host" | "trace">;
  /** Record the trace in memory (default true; benchmarks turn it off). */
  readonly recordTrace?: boolean;
}

/**
 * The simulated host: one scheduler, the hypervisor's memory/grant tables and event channels,
 * dom0, and xenstored serving guests through their XenStore pages. Domains are built here the
 * way libxc's domain builder does it: a XenStore page in the guest's memory, grant ref 1 pre-filled
 * for xenstored, an unbound event channel offered to dom0 — then the toolstack INTRODUCEs them.
 */
export class Platform {
  readonly sched: Scheduler;
  readonly evtchn: EventChannels;
  readonly hypervisor: Hypervisor;
  private server: XenStoreServer;
  private readonly serverOptions: XenStoreServerOptions;
  private readonly sockets: LocalSocketTransport[] = [];
  private readonly serverListeners: ((server: XenStoreServer) => void)[] = [];
  readonly ringHost: XenstoreRingHost;
  readonly dom0: DomainEvents;

  constructor(options: PlatformOptions = {}) {
    this.sched = new Scheduler({
      ...(options.policy ? { policy: options.policy } : {}),
      trace: { record: options.recordTrace ?? true },
    });
    this.evtchn = new EventChannels(this.sched);
    this.hypervisor = new Hypervisor();
    this.hypervisor.createDomain(0);
    this.dom0 = this.evtchn.addDomain(0, { privileged: true });
    this.ringHost = new XenstoreRingHost({
      sched: this.sched,
      evtchn: this.evtchn,
      hypervisor: this.hypervisor,
    });
    const trace = this.sched.trace;
    this.serverOptions = {
      ...options.store,
      host: this.ringHost,
      trace: (e) => {
        if (!trace.enabled) return;
        if (e.kind === "frame-in" || e.kind === "frame-out") {
          trace.emit("xenstored", e.kind === "frame-in" ? "xs.request" : "xs.reply", {
            domid: e.domid,
            conn: e.connId,
            type: e.typeName,
            req_id: e.reqId,
            tx_id: e.txId,
            payload: printable(e.payload),
          });
        } else if (e.kind === "watch-event") {
          trace.emit("xenstored", "xs.watch_event", {
            domid: e.domid,
            conn: e.connId,
            path: e.path,
            token: e.token,
          });
        } else {
          const { kind, ...rest } = e;
          trace.emit("xenstored", `xs.${kind}`, rest as Record<string, string | number | boolean>);
        }
      },
    };
    this.server = new XenStoreServer(this.serverOptions);
    this.ringHost.attach(this.server);
  }

  /** The running xenstored (a new object after each `restartXenstored`). */
  get xenstored(): XenStoreServer {
    return this.server;
  }

  /**
   * Calls `f` with the running xenstored now and with the new one after every restart: for
   * whatever instruments the daemon (monitors, wire taps) rather than the store it holds.
   */
  withXenstored(f: (server: XenStoreServer) => void): void {
    this.serverListeners.push(f);
    f(this.server);
  }

  /**
   * Live-updates xenstored (cxenstored `xenstore-control live-update`, docs/designs/
   * xenstore-migration.md): the daemon's whole state — tree, introduced domains, every
   * connection with its watches, open transactions, unparsed requests and unsent replies — is
   * saved and a new daemon is restored from it; guest rings and dom0 sockets stay open and are
   * taken over connection by connection. The daemon's configuration (quotas as set now, fault
   * hooks) carries over as its command line would. Clients see nothing but, perhaps, a pass
   * that finds nothing new. Call it from a task on the xenstored actor: a daemon stops between
   * requests, never inside one.
   */
  restartXenstored(): XenStoreServer {
    const old = this.server;
    const bytes = old.snapshot();
    const next = XenStoreServer.restore(bytes, {
      ...this.serverOptions,
      quotas: { ...old.quotas },
      ...(old.faults !== null ? { faults: old.faults } : {}),
    });
    this.server = next;
    this.ringHost.reattach(next);
    for (const s of this.sockets) s.reattach(next);
    for (const f of this.serverListeners) f(next);
    this.sched.trace.emit("xenstored", "xs.restart", { bytes: bytes.length });
    return next;
  }

  /**
   * The domain builder's part of creating a guest (libxc xc_dom_*): memory and grant table, the
   * XenStore page with grant ref 1 for xenstored, the store event channel. Returns the guest's
   * start_info; the toolstack then writes `store/*` and INTRODUCEs the domain.
   */
  buildDomain(domid: number): StartInfo {
    const dom = this.hypervisor.createDomain(domid);
    this.evtchn.addDomain(domid);
    const gfn = dom.memory.allocate();
    if (typeof gfn !== "number") throw new Error(`dom${domid}: no memory for the XenStore page`);
    dom.grantTable.seedReservedEntry(GNTTAB_RESERVED_XENSTORE, 0, gfn as Gfn);
    // xc_evtchn_alloc_unbound(xch, domid, store_domid): a port in the guest offered to dom0.
    const port = unwrap(this.dom0.allocUnbound(0, domid), "alloc_unbound(store)");
    return { domid, storeGfn: gfn as Gfn, storePort: port };
  }

  /**
   * Runs the scheduler until idle and returns what `work` resolved to. If the machine went idle
   * with `work` still pending (a lost wake-up, a deadlock), fails at once with what was waiting
   * instead of hanging.
   */
  async settle<T>(work: Promise<T>): Promise<T> {
    let state: "pending" | "done" = "pending";
    const tracked = work.finally(() => {
      state = "done";
    });
    tracked.catch(() => undefined);
    await this.sched.run();
    if (state === "pending") {
      throw new Error(
        `machine idle but work still pending (at ${this.sched.now} ns, step ${this.sched.steps})`,
      );
    }
    return tracked;
  }

  /** What the hypervisor hands a guest kernel of `domid` (its memory, grants, event channels). */
  guestResources(domid: number): GuestResources {
    const dom = this.hypervisor.domain(domid);
    if (dom === undefined) throw new Error(`no domain ${domid}`);
    return {
      sched: this.sched,
      events: this.evtchn.domain(domid),
      memory: dom.memory,
      grantTable: dom.grantTable,
      gnttab: grantOpsFor(this.hypervisor, domid),
    };
  }

  /** A dom0 process's XenStore client over the local socket (toolstack, backends). */
  dom0Client(actor: string): XenbusClient {
    const t = new LocalSocketTransport(this.sched, this.server, actor);
    this.sockets.push(t);
    return new XenbusClient(t, { sched: this.sched, actor });
  }
}

/** Payload bytes as text for the trace: printable ASCII kept, NUL shown as "\0", others escaped. */
export function printable(bytes: Uint8Array): string {
  let s = "";
  const n = Math.min(bytes.length, 256);
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0) s += "\\0";
    else if (c >= 0x20 && c < 0x7f && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return bytes.length > n ? `${s}…(${bytes.length} bytes)` : s;
}
