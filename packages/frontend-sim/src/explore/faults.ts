// The fault catalogue: every fault the explorer can inject, by name, with what it does, its
// parameter and whether it is transient (switched off when the system heals) or permanent for
// what it hit. An injector installs the hooks into one Machine, drawing every decision from its
// own forked Prng, so a fault seed replays exactly.
import { Prng } from "@xensim/evtchn";
import type { GrantRef } from "@xensim/ring";
import type { Quotas } from "@xensim/xenstore-core";
import type { Machine } from "../host/machine.ts";

export type FaultName =
  | "evtchn-drop"
  | "evtchn-duplicate"
  | "evtchn-delay"
  | "evtchn-spurious"
  | "watch-duplicate"
  | "watch-spurious"
  | "commit-eagain"
  | "quota-nodes"
  | "quota-node-size"
  | "quota-watches"
  | "quota-transactions"
  | "quota-outstanding"
  | "grant-table-full"
  | "hotplug-failure"
  | "ring-index-wrap"
  | "xenstored-restart";

export interface FaultInfo {
  readonly name: FaultName;
  readonly description: string;
  /** Probability per opportunity (notification, watch event, commit, plug) or a size. */
  readonly param: number;
  readonly paramMeaning: string;
  /**
   * transient: switched off at heal and the system must recover (liveness mode asserts it);
   * permanent: what it hit may stay failed, but cleanly (error node, no crash, no hang).
   */
  readonly kind: "transient" | "permanent";
}

export const FAULTS: readonly FaultInfo[] = [
  {
    name: "evtchn-drop",
    description: "an interdomain notification is lost (never sets the port pending)",
    param: 0.05,
    paramMeaning: "probability per notification",
    kind: "transient",
  },
  {
    name: "evtchn-duplicate",
    description: "an interdomain notification is delivered twice (the second as a separate hypervisor task)",
    param: 0.1,
    paramMeaning: "probability per notification",
    kind: "transient",
  },
  {
    name: "evtchn-delay",
    description: "an interdomain notification lands up to 50 µs of virtual time later",
    param: 0.1,
    paramMeaning: "probability per notification",
    kind: "transient",
  },
  {
    name: "evtchn-spurious",
    description: "a bound port of the receiving domain is set pending for no reason (spurious upcall)",
    param: 0.05,
    paramMeaning: "probability per notification",
    kind: "transient",
  },
  {
    name: "watch-duplicate",
    description: "xenstored queues a watch event twice (the protocol allows duplicates)",
    param: 0.15,
    paramMeaning: "probability per watch event",
    kind: "transient",
  },
  {
    name: "watch-spurious",
    description: "xenstored fires a registered watch whose node did not change (allowed by the protocol)",
    param: 0.03,
    paramMeaning: "probability per notification (one random watch of one connection)",
    kind: "transient",
  },
  {
    name: "commit-eagain",
    description:
      "a transaction commit fails with EAGAIN as on a conflict (oxenstored test-eagain, generalised)",
    param: 0.3,
    paramMeaning: "probability per commit",
    kind: "transient",
  },
  {
    name: "quota-nodes",
    description: "the guest's node quota is a few nodes above what it owns after boot (ENOSPC)",
    param: 12,
    paramMeaning: "most extra nodes allowed",
    kind: "permanent",
  },
  {
    name: "quota-node-size",
    description: "the node-size quota is small, so larger writes of the guest fail (ENOSPC)",
    param: 96,
    paramMeaning: "smallest node-size limit (bytes); drawn up to twice this",
    kind: "permanent",
  },
  {
    name: "quota-watches",
    description: "the guest may hold only a few watches (E2BIG/ENOSPC on WATCH)",
    param: 3,
    paramMeaning: "most watches allowed",
    kind: "permanent",
  },
  {
    name: "quota-transactions",
    description: "the guest may have only one transaction open (ENOSPC on TRANSACTION_START)",
    param: 1,
    paramMeaning: "transactions allowed",
    kind: "permanent",
  },
  {
    name: "quota-outstanding",
    description: "xenstored stops reading a guest ring after this many unread replies (input throttling)",
    param: 1,
    paramMeaning: "outstanding replies",
    kind: "transient",
  },
  {
    name: "grant-table-full",
    description: "the guest's grant table is nearly exhausted: only a few hundred refs are left",
    param: 700,
    paramMeaning: "most refs left free",
    kind: "permanent",
  },
  {
    name: "hotplug-failure",
    description: "the hotplug script of a plug fails (hotplug-status = error)",
    param: 0.2,
    paramMeaning: "probability per plug",
    kind: "permanent",
  },
  {
    name: "ring-index-wrap",
    description:
      "the guest's shared rings start their free-running indices just below 2³², so every ring wraps within its first slots (backends must attach at the header's rsp_prod)",
    param: 64,
    paramMeaning: "most slots before the wrap",
    kind: "transient",
  },
  {
    name: "xenstored-restart",
    description:
      "xenstored live-updates (restarts from its own snapshot) between two requests; rings and sockets are taken over connection by connection, watches and transactions survive",
    param: 0.01,
    paramMeaning: "probability per notification",
    kind: "transient",
  },
];

export const FAULT_NAMES: readonly FaultName[] = FAULTS.map((f) => f.name);

export function faultInfo(name: string): FaultInfo | undefined {
  return FAULTS.find((f) => f.name === name);
}

/** Parses `a,b,c` (or `all`, `none`) into fault names; throws on an unknown name. */
export function parseFaultList(text: string): FaultName[] {
  const t = text.trim();
  if (t === "" || t === "none") return [];
  if (t === "all") return [...FAULT_NAMES];
  return t.split(",").map((x) => {
    const f = faultInfo(x.trim());
    if (f === undefined) throw new Error(`unknown fault ${JSON.stringify(x)} (try --list-faults)`);
    return f.name;
  });
}

/** Named fault sets for `--profile`. */
export const FAULT_PROFILES: Readonly<Record<string, readonly FaultName[]>> = {
  none: [],
  events: ["evtchn-drop", "evtchn-duplicate", "evtchn-delay", "evtchn-spurious"],
  store: ["watch-duplicate", "watch-spurious", "commit-eagain", "quota-outstanding", "xenstored-restart"],
  transient: [
    "evtchn-drop",
    "evtchn-duplicate",
    "evtchn-delay",
    "evtchn-spurious",
    "watch-duplicate",
    "watch-spurious",
    "commit-eagain",
    "quota-outstanding",
  ],
  resources: ["quota-nodes", "quota-node-size", "quota-watches", "quota-transactions", "grant-table-full"],
  rings: ["ring-index-wrap"],
  all: FAULT_NAMES,
};

/** Per-fault counts of what was injected in one run. */
export type FaultCounts = Partial<Record<FaultName, number>>;

/** Quotas as the machine is built with (the outstanding quota binds at connect time). */
export function storeQuotasFor(enabled: readonly FaultName[], seed: number): Partial<Quotas> {
  if (!enabled.includes("quota-outstanding")) return {};
  const prng = new Prng(seed).fork("quota-outstanding");
  return { outstanding: 1 + prng.int(faultInfo("quota-outstanding")!.param) };
}

/**
 * Installs the enabled faults into a machine. Event-channel and store hooks act from the start;
 * the per-guest ones (quotas, grant table) are armed by `armGuest` once the guest exists (its
 * boot must succeed for anything to be explored). `heal()` switches every transient fault off
 * and gives back what permanent ones took.
 */
export class FaultInjector {
  readonly counts: FaultCounts = {};
  private readonly on: ReadonlySet<FaultName>;
  private readonly prng: Map<FaultName, Prng> = new Map();
  private active = true;
  private healed = false;
  private hoarded: { domid: number; refs: GrantRef[] } | null = null;
  private readonly permanentHits = new Set<string>();

  constructor(
    readonly machine: Machine,
    enabled: readonly FaultName[],
    readonly seed: number,
  ) {
    this.on = new Set(enabled);
    const root = new Prng(seed);
    // Fork in catalogue order so each fault's stream does not depend on which others are on.
    for (const f of FAULT_NAMES) this.prng.set(f, root.fork(f));
    this.installEvtchn();
    this.installStore();
    // Applied when the machine was built (storeQuotasFor): the connection limit binds then.
    if (this.on.has("quota-outstanding")) this.count("quota-outstanding");
  }

  get enabled(): readonly FaultName[] {
    return FAULT_NAMES.filter((f) => this.on.has(f));
  }

  get total(): number {
    let n = 0;
    for (const v of Object.values(this.counts)) n += v ?? 0;
    return n;
  }

  /** Which permanent faults struck (e.g. "quota-nodes", "hotplug-failure:vif"). */
  get permanent(): ReadonlySet<string> {
    return this.permanentHits;
  }

  private has(f: FaultName): boolean {
    return this.active && this.on.has(f);
  }

  private roll(f: FaultName): boolean {
    if (!this.has(f)) return false;
    const hit = this.prng.get(f)!.chance(faultInfo(f)!.param);
    if (hit) this.count(f);
    return hit;
  }

  private count(f: FaultName): void {
    this.counts[f] = (this.counts[f] ?? 0) + 1;
  }

  private emit(kind: string, details: Record<string, string | number>): void {
    this.machine.sched.trace.emit("faults", kind, details);
  }

  private installEvtchn(): void {
    const evs = [
      "evtchn-drop",
      "evtchn-duplicate",
      "evtchn-delay",
      "evtchn-spurious",
      "watch-spurious",
      "xenstored-restart",
    ];
    if (!evs.some((f) => this.on.has(f as FaultName))) return;
    const ev = this.machine.platform.evtchn;
    ev.faults = {
      onNotify: (from, fromPort, to, toPort) => {
        if (this.roll("evtchn-spurious")) this.spuriousEvent(to);
        if (this.roll("watch-spurious")) this.spuriousWatch();
        if (this.roll("xenstored-restart")) this.liveUpdate();
        if (this.roll("evtchn-drop")) {
          this.emit("fault.evtchn", { fault: "drop", from, port: fromPort, to, to_port: toPort });
          return { kind: "drop" };
        }
        if (this.roll("evtchn-duplicate")) return { kind: "duplicate" };
        if (this.roll("evtchn-delay")) {
          const ns = 1000 + this.prng.get("evtchn-delay")!.int(50_000);
          return { kind: "delay", ns };
        }
        return { kind: "deliver" };
      },
    };
  }

  /** Sets a random bound interdomain port of `domid` pending. */
  private spuriousEvent(domid: number): void {
    const ev = this.machine.platform.evtchn;
    if (!ev.has(domid)) return;
    const d = ev.domain(domid);
    const ports = d.openPorts().filter((p) => p.status === "interdomain");
    if (ports.length === 0) return;
    const port = ports[this.prng.get("evtchn-spurious")!.int(ports.length)]!.port;
    this.emit("fault.evtchn", { fault: "spurious", domid, port });
    d.setPending(port);
  }

  /** Queues an event for one random watch of one random connection. */
  private spuriousWatch(): void {
    const server = this.machine.platform.xenstored;
    const conns = server.connections().filter((c) => server.watchTable.forConnection(c.id).length > 0);
    if (conns.length === 0) return;
    const p = this.prng.get("watch-spurious")!;
    const conn = conns[p.int(conns.length)]!;
    const ws = server.watchTable.forConnection(conn.id);
    const w = ws[p.int(ws.length)]!;
    const path = w.prefixLen > 0 ? w.path.slice(w.prefixLen) : w.path;
    this.emit("fault.watch", { fault: "spurious", conn: conn.id, path, token: w.token });
    server.enter();
    try {
      conn.queueEvent(path, w.token);
    } finally {
      server.leave();
    }
  }

  /**
   * Posts a live update on the xenstored actor (it runs between two requests, like the real
   * daemon's). The new server inherits the fault hooks and quotas (Platform.restartXenstored).
   */
  private liveUpdate(): void {
    this.emit("fault.xenstored", { fault: "restart" });
    this.machine.sched.post("xenstored", "xs.live-update", () => {
      this.machine.platform.restartXenstored();
    });
  }

  private installStore(): void {
    if (!this.on.has("watch-duplicate") && !this.on.has("commit-eagain")) return;
    this.machine.platform.xenstored.faults = {
      commit: () => (this.roll("commit-eagain") ? "EAGAIN" : null),
      watchEvent: () => (this.roll("watch-duplicate") ? 2 : 1),
    };
  }

  /** Holds every fault off (boot) until `resume`. */
  suspend(): void {
    this.active = false;
  }

  resume(): void {
    if (!this.healed) this.active = true;
  }

  /** Arms the per-guest faults (quotas, grant table) once the guest has booted. */
  armGuest(domid: number): void {
    const server = this.machine.platform.xenstored;
    const q = server.quotas;
    const pick = (f: FaultName, n: number): number => this.prng.get(f)!.int(n);
    if (this.on.has("ring-index-wrap")) {
      const kernel = this.machine.guests.get(domid)?.kernel;
      if (kernel !== undefined) {
        kernel.ringStartIndex =
          (0x1_0000_0000 - 1 - pick("ring-index-wrap", faultInfo("ring-index-wrap")!.param)) >>> 0;
        this.count("ring-index-wrap");
        this.emit("fault.ring_index_wrap", { domid, start: kernel.ringStartIndex });
      }
    }
    if (this.on.has("quota-nodes")) {
      q.nodes = server.store.nodeCount(domid) + 1 + pick("quota-nodes", faultInfo("quota-nodes")!.param);
      this.count("quota-nodes");
    }
    if (this.on.has("quota-node-size")) {
      const base = faultInfo("quota-node-size")!.param;
      q.nodeSize = base + pick("quota-node-size", base);
      this.count("quota-node-size");
    }
    if (this.on.has("quota-watches")) {
      q.watches = 1 + pick("quota-watches", faultInfo("quota-watches")!.param);
      this.count("quota-watches");
    }
    if (this.on.has("quota-transactions")) {
      q.transactions = faultInfo("quota-transactions")!.param;
      this.count("quota-transactions");
    }
    if (this.on.has("grant-table-full")) {
      const gt = this.machine.platform.hypervisor.domain(domid)?.grantTable;
      if (gt !== undefined) {
        const all: GrantRef[] = [];
        for (;;) {
          const r = gt.allocRef();
          if (typeof r !== "number") break;
          all.push(r);
        }
        const leave = pick("grant-table-full", faultInfo("grant-table-full")!.param);
        for (const r of all.splice(all.length - Math.min(leave, all.length))) gt.freeRef(r);
        this.hoarded = { domid, refs: all };
        this.count("grant-table-full");
        this.emit("fault.grant_table_full", { domid, hoarded: all.length, free: leave });
      }
    }
  }

  /** Whether this plug's hotplug script fails (permanent for that device instance). */
  hotplugFails(device: string): boolean {
    if (!this.roll("hotplug-failure")) return false;
    this.permanentHits.add(`hotplug-failure:${device}`);
    this.emit("fault.hotplug", { device });
    return true;
  }

  /** Grant refs the injector holds (not leaks of the system under test). */
  hoardedRefs(domid: number): ReadonlySet<number> {
    return new Set(this.hoarded?.domid === domid ? this.hoarded.refs : []);
  }

  /** Notes the permanent faults that struck (quota refusals), for the liveness verdict. */
  notePermanent(domid: number): void {
    const server = this.machine.platform.xenstored;
    for (const h of server.quotaRefusals(domid)) this.permanentHits.add(`quota-${h.quota}`);
    if (this.hoarded !== null) this.permanentHits.add("grant-table-full");
  }

  /**
   * The system heals: every fault switch goes off, quotas return to the profile's values and
   * hoarded grant refs are given back. (The caller then kicks every bound port.)
   */
  heal(): void {
    const domids = [...this.machine.guests.keys()];
    for (const d of domids) this.notePermanent(d);
    this.active = false;
    this.healed = true;
    this.machine.platform.evtchn.faults = null;
    const server = this.machine.platform.xenstored;
    server.faults = null;
    const q = server.quotas;
    const base = server.profile.quotas;
    q.nodes = base.nodes;
    q.nodeSize = base.nodeSize;
    q.watches = base.watches;
    q.transactions = base.transactions;
    if (this.hoarded !== null) {
      const gt = this.machine.platform.hypervisor.domain(this.hoarded.domid)?.grantTable;
      if (gt !== undefined) for (const r of this.hoarded.refs) gt.freeRef(r);
      this.hoarded = null;
    }
    this.emit("fault.heal", { faults: this.enabled.join(",") });
  }
}
