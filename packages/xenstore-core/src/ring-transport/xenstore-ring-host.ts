import type { DomainEvents, EventChannels, Scheduler } from "@xensim/evtchn";
import {
  type ForeignMapping,
  GNTST_okay,
  type Hypervisor,
  type WritablePage,
  XENSTORE_CONNECTED,
  XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_ERROR,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XenstoreInterface,
  XenstoreServerEnd,
} from "@xensim/ring";
import type { XsConnection } from "../server/connection.ts";
import type { XenStoreServer } from "../server/xenstore-server.ts";
import type { DomainHost } from "../store/domains.ts";
import type { XsErrno } from "../wire/errors.ts";

/** Grant ref of the XenStore page, pre-filled by the domain builder (grant_table.h). */
export const GNTTAB_RESERVED_XENSTORE = 1;

export interface XenstoreRingHostOptions {
  readonly sched: Scheduler;
  readonly evtchn: EventChannels;
  readonly hypervisor: Hypervisor;
  /** The domain xenstored runs in (maps pages and binds ports as this domain). Default 0. */
  readonly serverDomid?: number;
  /** The scheduler actor xenstored's work runs on. Default "xenstored". */
  readonly actor?: string;
  /** `server_features` advertised to every guest. Default RECONNECTION | ERROR. */
  readonly features?: number;
  /** Most request bytes taken from one ring per pass before yielding to others (fairness). */
  readonly readBudget?: number;
}

/**
 * xenstored's side of every guest's XenStore page: the DomainHost a XenStoreServer calls on
 * INTRODUCE/RELEASE. INTRODUCE maps the guest's page through grant ref 1 and binds its event
 * channel; from then on each kick runs a pass on the xenstored actor that consumes request
 * bytes (frames may be split anywhere), feeds them to the domain's connection, writes queued
 * replies and watch events into `rsp` as space allows, and kicks back. A guest that corrupts
 * the indices or sends an oversized frame gets `error` set and is ignored from then on
 * (cx domain.c check_indexes / ignore_connection); every other guest is served as before.
 */
export class XenstoreRingHost implements DomainHost {
  private server: XenStoreServer | null = null;
  private readonly links = new Map<number, RingLink>();
  readonly sched: Scheduler;
  readonly actor: string;
  readonly serverDomid: number;
  readonly features: number;
  readonly readBudget: number;
  private readonly evtchn: EventChannels;
  private readonly hypervisor: Hypervisor;

  constructor(options: XenstoreRingHostOptions) {
    this.sched = options.sched;
    this.evtchn = options.evtchn;
    this.hypervisor = options.hypervisor;
    this.serverDomid = options.serverDomid ?? 0;
    this.actor = options.actor ?? "xenstored";
    this.features = options.features ?? XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR;
    this.readBudget = options.readBudget ?? 4 * XENSTORE_RING_SIZE;
  }

  /** Binds the server this host serves (the server is built with this host, hence late). */
  attach(server: XenStoreServer): void {
    this.server = server;
  }

  domainExists(domid: number): boolean {
    return this.evtchn.has(domid) && this.hypervisor.domain(domid) !== undefined;
  }

  /** cx do_introduce(): map grant ref 1, bind the port (or the page's evtchn_port), reset the ring. */
  introduce(domid: number, _gfn: string, port: number): "ok" | XsErrno {
    const server = this.server;
    if (server === null) throw new Error("XenstoreRingHost: attach(server) first");
    if (domid === this.serverDomid) return "ok"; // dom0's own connection is a local socket
    const existing = this.links.get(domid);
    if (existing !== undefined) {
      // A repeated INTRODUCE resets the connection and rebinds the port (cx domain_conn_reset).
      const r = existing.rebind(port);
      if (r !== "ok") return r;
      existing.resetRing();
      return "ok";
    }
    const mapped = this.hypervisor.map(this.serverDomid, domid, GNTTAB_RESERVED_XENSTORE);
    if (mapped.status !== GNTST_okay) return "EINVAL";
    const link = new RingLink(this, server, this.evtchn.domain(this.serverDomid), domid, mapped.mapping);
    const bound = link.rebind(port);
    if (bound !== "ok") {
      this.hypervisor.unmap(this.serverDomid, mapped.mapping.handle);
      return bound;
    }
    this.links.set(domid, link);
    link.start();
    return "ok";
  }

  /**
   * A restarted xenstored (live update: `XenStoreServer.restore` of this server's snapshot) takes
   * over every ring: each link feeds the restored connection with its id, keeps its mapping and
   * its event channel (oxenstored keeps /dev/xen/evtchn open across live update for this very
   * reason) and runs a pass, since requests may have arrived while the old daemon was stopping.
   */
  reattach(server: XenStoreServer): void {
    this.server = server;
    for (const link of this.links.values()) link.reattach(server);
  }

  /** RELEASE or domain destruction: stop serving, unbind, unmap. */
  release(domid: number): void {
    const link = this.links.get(domid);
    if (link === undefined) return;
    this.links.delete(domid);
    link.stop();
    this.hypervisor.unmap(this.serverDomid, link.mapping.handle);
  }

  /** The ring link of a domain (tests, invariants, the viewer). */
  link(domid: number): RingLink | undefined {
    return this.links.get(domid);
  }

  /** @internal */
  traceRing(domid: number, kind: string, details: Record<string, string | number | boolean>): void {
    this.sched.trace.emit(this.actor, kind, { domid, ...details });
  }
}

/** One guest's XenStore page as xenstored sees it, and the connection it feeds. */
export class RingLink {
  private readonly iface: XenstoreInterface;
  private readonly end: XenstoreServerEnd;
  private conn: XsConnection;
  private localPort = 0;
  private passPosted = false;
  private stopped = false;
  private ignoredReason: string | null = null;
  private readonly scratch = new Uint8Array(XENSTORE_RING_SIZE);
  private unlistenOutput: () => void = () => {};

  constructor(
    private readonly host: XenstoreRingHost,
    private server: XenStoreServer,
    private readonly dom0: DomainEvents,
    readonly domid: number,
    readonly mapping: ForeignMapping<WritablePage>,
  ) {
    this.iface = new XenstoreInterface(mapping.page);
    this.end = new XenstoreServerEnd(mapping.page);
    this.conn = this.openConnection();
  }

  /** Why xenstored stopped serving this guest (ring error), or null. */
  get ignored(): string | null {
    return this.ignoredReason;
  }

  /** The connection currently fed by this ring. */
  get connection(): XsConnection {
    return this.conn;
  }

  get port(): number {
    return this.localPort;
  }

  private openConnection(): XsConnection {
    const conn = this.server.connect({ domid: this.domid, label: "ring" });
    this.unlistenOutput();
    this.unlistenOutput = conn.onOutput(() => this.schedulePass("output"));
    return conn;
  }

  /** Binds to the guest's unbound port (or the page's evtchn_port when set), dropping an old binding. */
  rebind(port: number): "ok" | XsErrno {
    const pagePort = this.iface.evtchnPort;
    const remote = pagePort !== 0 ? pagePort : port;
    const r = this.dom0.bindInterdomain(this.domid, remote);
    if (!r.ok) return "EINVAL";
    if (this.localPort !== 0) this.dom0.close(this.localPort);
    this.localPort = r.value;
    this.dom0.bindHandler(this.localPort, () => this.schedulePass("kick"), {
      actor: this.host.actor,
      label: `xs-ring:dom${this.domid}`,
    });
    return "ok";
  }

  /** See XenstoreRingHost.reattach: the same ring, now fed to `server`'s copy of the connection. */
  reattach(server: XenStoreServer): void {
    this.server = server;
    if (this.stopped || this.ignoredReason !== null) return;
    const restored = server.connection(this.conn.id);
    if (restored === undefined) {
      // The snapshot had no such connection (it was closed): serve the guest on a fresh one.
      this.conn = this.openConnection();
    } else {
      this.unlistenOutput();
      this.conn = restored;
      this.unlistenOutput = restored.onOutput(() => this.schedulePass("output"));
    }
    this.host.traceRing(this.domid, "xs.ring.reattach", { conn: this.conn.id });
    this.schedulePass("restart");
  }

  start(): void {
    this.iface.serverFeatures = this.iface.serverFeatures | this.host.features;
    this.resetRing();
  }

  /** INTRODUCE: indices zeroed, buffered data dropped, a pending reconnect answered (cx). */
  resetRing(): void {
    this.iface.reqCons = 0;
    this.iface.reqProd = 0;
    this.iface.rspCons = 0;
    this.iface.rspProd = 0;
    if (this.iface.connection === XENSTORE_RECONNECT) this.iface.connection = XENSTORE_CONNECTED;
    this.host.traceRing(this.domid, "xs.ring.reset", { port: this.localPort });
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.unlistenOutput();
    if (!this.conn.closed) this.conn.close();
    if (this.localPort !== 0) this.dom0.close(this.localPort);
    this.localPort = 0;
  }

  private kick(): void {
    if (this.localPort !== 0) this.dom0.send(this.localPort);
  }

  private schedulePass(why: string): void {
    if (this.passPosted || this.stopped) return;
    this.passPosted = true;
    this.host.sched.post(this.host.actor, `xs-ring:dom${this.domid}:${why}`, () => {
      this.passPosted = false;
      this.pass();
    });
  }

  /** One service pass over this guest's page (cx handle_input/handle_output for a domain). */
  private pass(): void {
    if (this.stopped || this.ignoredReason !== null) return;
    if (this.iface.connection === XENSTORE_RECONNECT) {
      if (this.host.features & XENSTORE_SERVER_FEATURE_RECONNECTION) this.reconnect();
      return;
    }
    let moved = false;
    // Input: only while the connection is not holding back requests (cx stops reading a
    // connection whose outstanding replies hit the quota), and at most readBudget per pass.
    let budget = this.host.readBudget;
    while (budget > 0 && this.conn.inputBytes < 16 + 4096 && !this.conn.closed) {
      const n = this.end.read(this.scratch, 0, Math.min(this.scratch.length, budget));
      if (typeof n !== "number") {
        this.fail(XENSTORE_ERROR_RINGIDX, `req indexes prod=${n.prod} cons=${n.cons}`);
        return;
      }
      if (n === 0) break;
      moved = true;
      budget -= n;
      this.host.traceRing(this.domid, "xs.ring.req", { bytes: n, req_cons: this.iface.reqCons });
      this.conn.deliver(this.scratch.subarray(0, n));
      if (this.conn.fatalError !== null) {
        this.fail(XENSTORE_ERROR_PROTO, this.conn.fatalError.message);
        return;
      }
    }
    // Output: as much as fits; the rest waits for the guest to consume and kick.
    for (let i = 0; i < 2 && this.conn.outputBytes > 0; i++) {
      const used = this.end.unconsumedResponseBytes();
      if (typeof used !== "number") {
        this.fail(XENSTORE_ERROR_RINGIDX, `rsp indexes prod=${used.prod} cons=${used.cons}`);
        return;
      }
      const free = XENSTORE_RING_SIZE - used;
      if (free === 0) break;
      const bytes = this.conn.takeOutput(free);
      const w = this.end.write(bytes);
      if (typeof w !== "number") {
        this.fail(XENSTORE_ERROR_RINGIDX, "rsp indexes");
        return;
      }
      moved = true;
      this.host.traceRing(this.domid, "xs.ring.rsp", { bytes: w, rsp_prod: this.iface.rspProd });
    }
    if (moved) this.kick();
    // More request bytes may be waiting (budget exhausted): come back after others had a turn.
    const more = this.end.pendingRequestBytes();
    if (typeof more === "number" && more > 0 && this.conn.inputBytes < 16 + 4096) this.schedulePass("more");
  }

  /** xenstore-ring.txt reconnection: drop everything of the connection, reset indices, answer. */
  private reconnect(): void {
    this.conn.close();
    this.conn = this.openConnection();
    this.iface.reqCons = 0;
    this.iface.reqProd = 0;
    this.iface.rspCons = 0;
    this.iface.rspProd = 0;
    this.iface.connection = XENSTORE_CONNECTED;
    this.host.traceRing(this.domid, "xs.ring.reconnect", {});
    this.kick();
  }

  /** cx ignore_connection(): set `error`, stop serving; the connection's state is dropped. */
  private fail(code: number, why: string): void {
    // cxenstored 4.17 writes `error` whatever the features say; the value is diagnostic.
    this.iface.error = code;
    this.ignoredReason = why;
    this.host.traceRing(this.domid, "xs.ring.error", { error: code, why });
    this.conn.close();
  }
}
