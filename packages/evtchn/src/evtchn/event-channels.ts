import type { Scheduler } from "../sim/scheduler.ts";
import { EVTCHN_2L_NR_CHANNELS, SharedInfo } from "./shared-info.ts";
import { fail, ok, type XenResult } from "./xen-errno.ts";

/** xen.h: the domid a domain uses to name itself. */
export const DOMID_SELF = 0x7ff0;
/** xen.h: first domid not available to ordinary domains. */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** event_channel.h EVTCHNSTAT_* (what EVTCHNOP_status reports). */
export const EVTCHNSTAT = { closed: 0, unbound: 1, interdomain: 2, pirq: 3, virq: 4, ipi: 5 } as const;
export type EvtchnStatusName = keyof typeof EVTCHNSTAT;

/** xen.h VIRQ_* numbers; NR_VIRQS = 24. */
export const VIRQ = {
  TIMER: 0,
  DEBUG: 1,
  CONSOLE: 2,
  DOM_EXC: 3,
  TBUF: 4,
  DEBUGGER: 6,
  XENOPROF: 7,
  CON_RING: 8,
  PCPU_STATE: 9,
  MEM_EVENT: 10,
  ARGO: 11,
  ENOMEM: 12,
  XENPMU: 13,
} as const;
export const NR_VIRQS = 24;
/** Global ("G." in xen.h) VIRQs: one handler domain, bound on vcpu 0 only. VIRQ_ARCH_0 is MCA on x86. */
const GLOBAL_VIRQS = new Set([2, 3, 4, 6, 8, 9, 10, 11, 12, 16]);

/** Hypervisor-internal port states (common/event_channel.c ECS_*). */
type PortState = "free" | "reserved" | "unbound" | "interdomain" | "virq" | "ipi";

interface Port {
  state: PortState;
  /** unbound: the domain allowed to bind; interdomain: the peer domain. */
  remoteDom: number;
  /** interdomain: the peer's port. */
  remotePort: number;
  virq: number;
  /** Notify vcpu. */
  vcpu: number;
}

export interface EvtchnStatusInfo {
  readonly status: EvtchnStatusName;
  readonly vcpu: number;
  /** unbound: who may bind; interdomain: the peer. */
  readonly remoteDom?: number;
  readonly remotePort?: number;
  readonly virq?: number;
}

/** What a fault injector may do to one notification (issue: fault catalogue). */
export type NotifyFault =
  | { readonly kind: "deliver" }
  | { readonly kind: "drop" }
  | { readonly kind: "duplicate" }
  | { readonly kind: "delay"; readonly ns: number };

export interface EvtchnFaults {
  /** Called for each interdomain notification before it sets the target pending. */
  onNotify?(from: number, fromPort: number, to: number, toPort: number): NotifyFault;
}

export type EventHandler = (port: number) => void;

interface HandlerBinding {
  readonly handler: EventHandler;
  readonly actor: string | null;
  readonly label: string;
  /** Bumped on every (re)bind so a stale posted delivery never runs a freed handler (XSA-331). */
  readonly generation: number;
}

export interface DomainOptions {
  /** Privileged (dom0): may act on other domains' ports (alloc_unbound for another dom, status). */
  readonly privileged?: boolean;
  readonly vcpus?: number;
  /** 2-level ABI limit: 4096 for 64-bit guests, 1024 for 32-bit x86. */
  readonly maxPorts?: number;
}

/** The actor name of a domain's (vCPU 0) kernel context, where its upcalls run. */
export function domActor(domid: number): string {
  return `dom${domid}`;
}

/**
 * The hypervisor's event channel subsystem, 2-level ABI (common/event_channel.c, event_2l.c).
 * Ports live per domain; pending and mask bits live in each domain's shared_info page. Upcalls are
 * scheduler tasks on the receiving domain's actor, so when an event "lands" is a scheduling choice.
 */
export class EventChannels {
  private readonly domains = new Map<number, DomainEvents>();
  faults: EvtchnFaults | null = null;
  private handlerGeneration = 0;

  constructor(readonly sched: Scheduler) {}

  /** Creates a domain's event channel state (port 0 reserved, as at domain creation). */
  addDomain(domid: number, options: DomainOptions = {}): DomainEvents {
    if (this.domains.has(domid)) throw new Error(`evtchn: domain ${domid} exists`);
    const d = new DomainEvents(this, domid, options);
    this.domains.set(domid, d);
    return d;
  }

  /** Domain destruction: every port is closed (peers go back to unbound), then the state is gone. */
  removeDomain(domid: number): void {
    const d = this.domains.get(domid);
    if (d === undefined) return;
    d.closeAll();
    d.dead = true;
    this.domains.delete(domid);
    this.sched.trace.emit("hypervisor", "evtchn.domain_destroyed", { domid });
  }

  domain(domid: number): DomainEvents {
    const d = this.domains.get(domid);
    if (d === undefined) throw new Error(`evtchn: no domain ${domid}`);
    return d;
  }

  has(domid: number): boolean {
    return this.domains.has(domid);
  }

  /** @internal */
  lookup(domid: number): DomainEvents | undefined {
    return this.domains.get(domid);
  }

  /** @internal */
  allDomains(): Iterable<DomainEvents> {
    return this.domains.values();
  }

  /** @internal */
  nextGeneration(): number {
    return ++this.handlerGeneration;
  }

  /** Raises a VIRQ in a domain (the hypervisor side of send_guest_{vcpu,global}_virq). */
  raiseVirq(domid: number, virq: number, vcpu = 0): void {
    const d = this.domains.get(domid);
    if (d === undefined) return;
    const port = d.virqPort(virq, vcpu);
    if (port !== 0) d.setPending(port);
  }

  /** Ports in use (not free, not reserved) across all domains: for leak checks. */
  openPorts(): { domid: number; port: number; status: EvtchnStatusName }[] {
    const out: { domid: number; port: number; status: EvtchnStatusName }[] = [];
    for (const d of this.domains.values()) out.push(...d.openPorts().map((p) => ({ domid: d.domid, ...p })));
    return out;
  }
}

/**
 * One domain's view of event channels: the EVTCHNOP hypercalls it can make, its shared_info bits,
 * and the kernel's port → handler table (Linux binds an irq handler per port).
 */
export class DomainEvents {
  readonly sharedInfo = new SharedInfo();
  private readonly ports: Port[] = [];
  private readonly handlers = new Map<number, HandlerBinding>();
  private readonly privileged: boolean;
  private readonly vcpus: number;
  readonly maxPorts: number;
  private upcallPosted = false;
  /** Scratch for the selector the upcall takes (upcalls never nest: a raised event posts a new one). */
  private readonly selector = new Uint8Array(8);
  /** @internal set when the domain is destroyed */
  dead = false;
  private readonly actor: string;

  constructor(
    private readonly hub: EventChannels,
    readonly domid: number,
    options: DomainOptions,
  ) {
    this.privileged = options.privileged ?? false;
    this.vcpus = options.vcpus ?? 1;
    this.maxPorts = options.maxPorts ?? EVTCHN_2L_NR_CHANNELS;
    this.actor = domActor(domid);
    // Port 0 is allocated at domain creation and reserved, so the first user port is 1.
    this.growBucket();
    this.ports[0]!.state = "reserved";
  }

  private get sched(): Scheduler {
    return this.hub.sched;
  }

  private trace(kind: string, details: Record<string, string | number | boolean | undefined>): void {
    this.sched.trace.emit(this.actor, kind, details);
  }

  private resolveDom(dom: number): number {
    return dom === DOMID_SELF ? this.domid : dom;
  }

  private port(n: number): Port | undefined {
    return Number.isInteger(n) && n >= 0 && n < this.ports.length ? this.ports[n] : undefined;
  }

  /**
   * Xen allocates ports in buckets (EVTCHNS_PER_BUCKET, 64 here); a port is "valid"
   * (port_is_valid) once its bucket exists, even while free.
   */
  private growBucket(): boolean {
    if (this.ports.length >= this.maxPorts) return false;
    const n = Math.min(EVTCHNS_PER_BUCKET, this.maxPorts - this.ports.length);
    for (let i = 0; i < n; i++)
      this.ports.push({ state: "free", remoteDom: 0, remotePort: 0, virq: 0, vcpu: 0 });
    return true;
  }

  /** get_free_port: the lowest free port, growing the table up to the ABI limit. */
  private allocPort(): number | null {
    for (let i = 1; i < this.ports.length; i++) if (this.ports[i]!.state === "free") return i;
    const first = this.ports.length;
    return this.growBucket() ? first : null;
  }

  /** EVTCHNOP_alloc_unbound: a port that only `remoteDom` may bind. */
  allocUnbound(remoteDom: number, dom: number = DOMID_SELF): XenResult<number> {
    const target = this.resolveDom(dom);
    if (target !== this.domid && !this.privileged) return fail("EPERM");
    const d = this.hub.lookup(target);
    if (d === undefined || d.dead) return fail("ESRCH");
    const remote = remoteDom === DOMID_SELF ? target : remoteDom;
    const port = d.allocPort();
    if (port === null) return fail("ENOSPC");
    const p = d.ports[port]!;
    p.state = "unbound";
    p.remoteDom = remote;
    p.vcpu = 0;
    this.trace("evtchn.alloc_unbound", { dom: target, port, remote_dom: remote });
    return ok(port);
  }

  /** EVTCHNOP_bind_interdomain: connect to a port `remoteDom` allocated for us. */
  bindInterdomain(remoteDom: number, remotePort: number): XenResult<number> {
    const rdom = this.resolveDom(remoteDom);
    const rd = this.hub.lookup(rdom);
    if (rd === undefined || rd.dead) return fail("ESRCH");
    const rp = rd.port(remotePort);
    if (rp === undefined || rp.state !== "unbound" || rp.remoteDom !== this.domid) return fail("EINVAL");
    const local = this.allocPort();
    if (local === null) return fail("ENOSPC");
    const lp = this.ports[local]!;
    lp.state = "interdomain";
    lp.remoteDom = rdom;
    lp.remotePort = remotePort;
    lp.vcpu = 0;
    rp.state = "interdomain";
    rp.remoteDom = this.domid;
    rp.remotePort = local;
    this.trace("evtchn.bind_interdomain", { port: local, remote: `dom${rdom}:${remotePort}` });
    // "Notifications may have been lost while unbound": the new local port always starts pending.
    this.setPending(local);
    return ok(local);
  }

  /** EVTCHNOP_bind_virq. */
  bindVirq(virq: number, vcpu = 0): XenResult<number> {
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return fail("EINVAL");
    const global = GLOBAL_VIRQS.has(virq);
    if (global && vcpu !== 0) return fail("EINVAL");
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.vcpus) return fail("ENOENT");
    if (this.virqPort(virq, vcpu) !== 0) return fail("EEXIST");
    if (global) {
      // A global VIRQ has one handler domain at a time (the hardware domain by default).
      for (const other of this.hub.allDomains()) {
        if (other.domid !== this.domid && other.virqPort(virq, 0) !== 0) return fail("EBUSY");
      }
    }
    const port = this.allocPort();
    if (port === null) return fail("ENOSPC");
    const p = this.ports[port]!;
    p.state = "virq";
    p.virq = virq;
    p.vcpu = vcpu;
    this.trace("evtchn.bind_virq", { port, virq, vcpu });
    return ok(port);
  }

  /** EVTCHNOP_bind_ipi. */
  bindIpi(vcpu = 0): XenResult<number> {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.vcpus) return fail("ENOENT");
    const port = this.allocPort();
    if (port === null) return fail("ENOSPC");
    const p = this.ports[port]!;
    p.state = "ipi";
    p.vcpu = vcpu;
    return ok(port);
  }

  /** @internal port bound to virq on vcpu, or 0. */
  virqPort(virq: number, vcpu: number): number {
    for (let i = 1; i < this.ports.length; i++) {
      const p = this.ports[i]!;
      if (p.state === "virq" && p.virq === virq && p.vcpu === vcpu) return i;
    }
    return 0;
  }

  /** EVTCHNOP_send: notify the other end (interdomain) or ourselves (IPI). */
  send(port: number): XenResult<void> {
    const p = this.port(port);
    if (p === undefined) return fail("EINVAL");
    switch (p.state) {
      case "interdomain": {
        const rd = this.hub.lookup(p.remoteDom);
        // Details only when someone records them: sends are a hot path (hundreds per boot).
        if (this.sched.trace.enabled) {
          this.trace("evtchn.send", {
            port,
            remote: `dom${p.remoteDom}:${p.remotePort}`,
            to: rd?.handlerLabel(p.remotePort),
          });
        }
        if (rd === undefined) return ok(undefined);
        const fault = this.hub.faults?.onNotify?.(this.domid, port, p.remoteDom, p.remotePort) ?? DELIVER;
        deliverWithFault(this.hub, rd, p.remotePort, fault, this.domid);
        return ok(undefined);
      }
      case "ipi":
        this.setPending(port);
        return ok(undefined);
      case "unbound":
        // Sending on an unbound port is silently dropped and succeeds.
        this.trace("evtchn.send", { port, dropped: "unbound" });
        return ok(undefined);
      default:
        return fail("EINVAL");
    }
  }

  /** EVTCHNOP_close. An interdomain peer goes back to unbound, bindable again by us (the closer). */
  close(port: number): XenResult<void> {
    const p = this.port(port);
    if (p === undefined || p.state === "free" || p.state === "reserved") return fail("EINVAL");
    if (p.state === "interdomain") {
      const rd = this.hub.lookup(p.remoteDom);
      const rp = rd?.port(p.remotePort);
      if (rp !== undefined && rp.state === "interdomain" && rp.remoteDom === this.domid) {
        rp.state = "unbound";
        rp.remoteDom = this.domid;
        rp.remotePort = 0;
      }
    }
    this.trace("evtchn.close", { port, was: p.state });
    this.freePort(port);
    return ok(undefined);
  }

  private freePort(port: number): void {
    const p = this.ports[port]!;
    p.state = "free";
    p.remoteDom = 0;
    p.remotePort = 0;
    p.virq = 0;
    p.vcpu = 0;
    this.sharedInfo.clearPending(port);
    this.handlers.delete(port);
  }

  /** @internal domain destruction. */
  closeAll(): void {
    for (let i = 1; i < this.ports.length; i++) if (this.ports[i]!.state !== "free") this.close(i);
  }

  /** EVTCHNOP_status, for our own ports or (privileged) another domain's. */
  status(port: number, dom: number = DOMID_SELF): XenResult<EvtchnStatusInfo> {
    const target = this.resolveDom(dom);
    if (target !== this.domid && !this.privileged) return fail("EPERM");
    const d = this.hub.lookup(target);
    if (d === undefined) return fail("ESRCH");
    const p = d.port(port);
    if (p === undefined) return fail("EINVAL");
    switch (p.state) {
      case "free":
      case "reserved":
        return ok({ status: "closed", vcpu: p.vcpu });
      case "unbound":
        return ok({ status: "unbound", vcpu: p.vcpu, remoteDom: p.remoteDom });
      case "interdomain":
        return ok({ status: "interdomain", vcpu: p.vcpu, remoteDom: p.remoteDom, remotePort: p.remotePort });
      case "virq":
        return ok({ status: "virq", vcpu: p.vcpu, virq: p.virq });
      case "ipi":
        return ok({ status: "ipi", vcpu: p.vcpu });
    }
  }

  /** The guest sets a mask bit directly in shared memory (no hypercall needed to mask). */
  mask(port: number): void {
    if (Number.isInteger(port) && port >= 0 && port < this.maxPorts) this.sharedInfo.setMask(port);
  }

  /**
   * EVTCHNOP_unmask (event_2l.c evtchn_2l_unmask): clear the mask; if the port is pending, the edge
   * that arrived while masked is raised now — never lost.
   */
  unmask(port: number): XenResult<void> {
    const p = this.port(port);
    if (p === undefined) return fail("EINVAL");
    const wasMasked = this.sharedInfo.clearMask(port);
    if (wasMasked && this.sharedInfo.isPending(port)) this.raiseSelector(port, p.vcpu);
    return ok(undefined);
  }

  isPending(port: number): boolean {
    return this.port(port) !== undefined && this.sharedInfo.isPending(port);
  }

  isMasked(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.maxPorts && this.sharedInfo.isMasked(port);
  }

  /**
   * Binds the kernel's handler for a port (Linux bind_evtchn_to_irqhandler). The handler runs in the
   * domain's upcall; with `actor`, delivery is posted to that actor instead (a user-space daemon or a
   * kernel thread woken by the event, e.g. xenstored reading /dev/xen/evtchn).
   */
  bindHandler(port: number, handler: EventHandler, options: { actor?: string; label?: string } = {}): void {
    const p = this.port(port);
    if (p === undefined || p.state === "free")
      throw new Error(`dom${this.domid}: bindHandler on free port ${port}`);
    this.handlers.set(port, {
      handler,
      actor: options.actor ?? null,
      label: options.label ?? `evtchn:${port}`,
      generation: this.hub.nextGeneration(),
    });
  }

  /** The label of the handler bound to a port (for traces), if any. */
  handlerLabel(port: number): string | undefined {
    return this.handlers.get(port)?.label;
  }

  unbindHandler(port: number): void {
    this.handlers.delete(port);
  }

  /** evtchn_2l_set_pending: a new edge only if the port was not already pending. */
  setPending(port: number): void {
    if (this.dead) return;
    const p = this.ports[port];
    if (p === undefined) return;
    if (this.sharedInfo.testAndSetPending(port)) return; // coalesced with an undelivered edge
    if (this.sharedInfo.isMasked(port)) return; // delivered at unmask
    this.raiseSelector(port, p.vcpu);
  }

  private raiseSelector(port: number, vcpu: number): void {
    if (this.sharedInfo.testAndSetSelector(vcpu, port >> 6)) return;
    if (this.sharedInfo.upcallPending(vcpu)) return;
    this.sharedInfo.setUpcallPending(vcpu, true);
    this.postUpcall();
  }

  private postUpcall(): void {
    if (this.upcallPosted) return;
    this.upcallPosted = true;
    this.sched.post(this.actor, "upcall", () => this.upcall());
  }

  /**
   * The guest's upcall (Linux evtchn_2l_handle_events): clear upcall_pending, take the selector,
   * and for each selected word clear-then-dispatch every pending unmasked port. An event raised by a
   * handler posts a fresh upcall task, so the scheduler decides when it is seen.
   */
  private upcall(): void {
    this.upcallPosted = false;
    if (this.dead) return;
    const vcpu = 0;
    this.sharedInfo.setUpcallPending(vcpu, false);
    const sel = this.selector;
    this.sharedInfo.takeSelectorInto(vcpu, sel);
    for (let b = 0; b < 8; b++) {
      const byte = sel[b]!;
      if (byte === 0) continue;
      for (let k = 0; k < 8; k++) {
        if (!(byte & (1 << k))) continue;
        const word = b * 8 + k;
        // The word's deliverable ports are read once, before any is dispatched (a handler that
        // raises another port of this word is seen by the next upcall, as the list Linux scans).
        const lo = this.sharedInfo.deliverableBits(word, 0);
        const hi = this.sharedInfo.deliverableBits(word, 1);
        this.dispatchBits(word * 64, lo);
        this.dispatchBits(word * 64 + 32, hi);
      }
    }
  }

  /** Clear-then-dispatch each port of `bits` (bit i = port base + i), lowest first. */
  private dispatchBits(base: number, bits: number): void {
    for (let i = 0; bits !== 0; i++, bits >>>= 1) {
      if ((bits & 1) === 0) continue;
      this.sharedInfo.clearPending(base + i);
      this.dispatch(base + i);
    }
  }

  private dispatch(port: number): void {
    const b = this.handlers.get(port);
    if (this.sched.trace.enabled) this.trace("evtchn.upcall", { port, handler: b?.label ?? "none" });
    if (b === undefined) return;
    if (b.actor === null) {
      b.handler(port);
      return;
    }
    this.sched.post(b.actor, b.label, () => {
      // The port may have been closed or rebound since: never run a stale handler (XSA-331).
      if (this.handlers.get(port)?.generation === b.generation) b.handler(port);
    });
  }

  /** Ports in use: for leak checks after a scenario. */
  openPorts(): { port: number; status: EvtchnStatusName }[] {
    const out: { port: number; status: EvtchnStatusName }[] = [];
    for (let i = 1; i < this.ports.length; i++) {
      const s = this.status(i);
      if (s.ok && s.value.status !== "closed") out.push({ port: i, status: s.value.status });
    }
    return out;
  }
}

const EVTCHNS_PER_BUCKET = 64;

const DELIVER: NotifyFault = { kind: "deliver" };

function deliverWithFault(
  hub: EventChannels,
  to: DomainEvents,
  port: number,
  fault: NotifyFault,
  from: number,
): void {
  switch (fault.kind) {
    case "deliver":
      to.setPending(port);
      return;
    case "drop":
      hub.sched.trace.emit("hypervisor", "fault.evtchn_drop", { from, to: to.domid, port });
      return;
    case "duplicate":
      to.setPending(port);
      hub.sched.post("hypervisor", "fault.evtchn_duplicate", () => to.setPending(port));
      return;
    case "delay":
      hub.sched.post("hypervisor", "fault.evtchn_delay", () => to.setPending(port), fault.ns);
      return;
  }
}
