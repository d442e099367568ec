import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SeededPolicy } from "../sim/policy.ts";
import { Scheduler } from "../sim/scheduler.ts";
import { DOMID_SELF, EventChannels, VIRQ } from "./event-channels.ts";
import { SHARED_INFO_LAYOUT, SharedInfo } from "./shared-info.ts";

function machine(domids = [0, 1, 2], seed?: number) {
  const sched = new Scheduler(seed === undefined ? {} : { policy: new SeededPolicy(seed) });
  const ev = new EventChannels(sched);
  for (const d of domids) ev.addDomain(d, { privileged: d === 0 });
  return { sched, ev };
}

describe("event channels: the ABI facts (event-channels.md §5)", () => {
  it("numbers ports from 1 (port 0 reserved), lowest free first", () => {
    const { ev } = machine();
    const d1 = ev.domain(1);
    expect(d1.allocUnbound(0)).toEqual({ ok: true, value: 1 });
    expect(d1.allocUnbound(0)).toEqual({ ok: true, value: 2 });
    expect(d1.allocUnbound(0)).toEqual({ ok: true, value: 3 });
    expect(d1.close(2).ok).toBe(true);
    expect(d1.allocUnbound(0)).toEqual({ ok: true, value: 2 });
    expect(d1.close(0)).toEqual({ ok: false, errno: "EINVAL" });
    expect(d1.status(0)).toEqual({ ok: true, value: { status: "closed", vcpu: 0 } });
  });

  it("binds interdomain only to a port offered to the caller, and leaves the new port pending", async () => {
    const { sched, ev } = machine();
    const front = ev.domain(1);
    const back = ev.domain(0);
    const p = front.allocUnbound(0).ok ? 1 : -1;
    expect(ev.domain(2).bindInterdomain(1, p)).toEqual({ ok: false, errno: "EINVAL" }); // offered to dom0
    expect(back.bindInterdomain(7, p)).toEqual({ ok: false, errno: "ESRCH" });
    expect(back.bindInterdomain(1, 99)).toEqual({ ok: false, errno: "EINVAL" });
    const bp = back.bindInterdomain(1, p);
    expect(bp).toEqual({ ok: true, value: 1 });
    expect(back.isPending(1)).toBe(true);
    expect(back.bindInterdomain(1, p)).toEqual({ ok: false, errno: "EINVAL" }); // no longer unbound
    const seen: number[] = [];
    back.bindHandler(1, (port) => seen.push(port));
    await sched.run();
    expect(seen).toEqual([1]); // the spurious first upcall is legal and expected
    expect(front.status(p)).toEqual({
      ok: true,
      value: { status: "interdomain", vcpu: 0, remoteDom: 0, remotePort: 1 },
    });
  });

  it("coalesces sends before the consumer runs into one upcall", async () => {
    const { sched, ev } = machine();
    const fp = ev.domain(1).allocUnbound(0);
    const bp = ev.domain(0).bindInterdomain(1, fp.ok ? fp.value : 0);
    const bport = bp.ok ? bp.value : 0;
    await sched.run();
    let upcalls = 0;
    ev.domain(0).bindHandler(bport, () => upcalls++);
    for (let i = 0; i < 5; i++) expect(ev.domain(1).send(1).ok).toBe(true);
    await sched.run();
    expect(upcalls).toBe(1);
  });

  it("delivers an event that arrived while masked at unmask, never losing it", async () => {
    const { sched, ev } = machine();
    ev.domain(1).allocUnbound(0);
    ev.domain(0).bindInterdomain(1, 1);
    const seen: number[] = [];
    ev.domain(0).bindHandler(1, (p) => seen.push(p));
    await sched.run();
    seen.length = 0;
    ev.domain(0).mask(1);
    ev.domain(1).send(1);
    await sched.run();
    expect(seen).toEqual([]);
    expect(ev.domain(0).isPending(1)).toBe(true);
    ev.domain(0).unmask(1);
    await sched.run();
    expect(seen).toEqual([1]);
    expect(ev.domain(0).isPending(1)).toBe(false);
  });

  it("puts the peer back to unbound, offered to the closer, and drops later sends", async () => {
    const { sched, ev } = machine();
    ev.domain(1).allocUnbound(0);
    ev.domain(0).bindInterdomain(1, 1);
    await sched.run();
    expect(ev.domain(1).close(1).ok).toBe(true);
    expect(ev.domain(0).status(1)).toEqual({ ok: true, value: { status: "unbound", vcpu: 0, remoteDom: 1 } });
    expect(ev.domain(0).send(1)).toEqual({ ok: true, value: undefined });
    // The closer may bind the old peer port again (reconnect).
    expect(ev.domain(1).bindInterdomain(0, 1)).toEqual({ ok: true, value: 1 });
  });

  it("refuses what Xen refuses", () => {
    const { ev } = machine();
    const d1 = ev.domain(1);
    expect(d1.allocUnbound(0, 2)).toEqual({ ok: false, errno: "EPERM" }); // unprivileged, other dom
    expect(ev.domain(0).allocUnbound(1, 9)).toEqual({ ok: false, errno: "ESRCH" });
    expect(ev.domain(0).allocUnbound(1, 2).ok).toBe(true); // privileged may allocate for dom2
    expect(d1.send(5)).toEqual({ ok: false, errno: "EINVAL" });
    expect(d1.close(4096)).toEqual({ ok: false, errno: "EINVAL" });
    expect(d1.status(1, 2)).toEqual({ ok: false, errno: "EPERM" });
    expect(d1.bindVirq(99)).toEqual({ ok: false, errno: "EINVAL" });
    expect(d1.bindVirq(VIRQ.DOM_EXC, 1)).toEqual({ ok: false, errno: "EINVAL" }); // global virq, vcpu≠0
    expect(d1.bindVirq(VIRQ.TIMER, 3)).toEqual({ ok: false, errno: "ENOENT" });
    expect(ev.domain(0).bindVirq(VIRQ.DOM_EXC).ok).toBe(true);
    expect(ev.domain(0).bindVirq(VIRQ.DOM_EXC)).toEqual({ ok: false, errno: "EEXIST" });
    expect(d1.bindVirq(VIRQ.DOM_EXC)).toEqual({ ok: false, errno: "EBUSY" });
    expect(d1.bindVirq(VIRQ.TIMER).ok).toBe(true);
  });

  it("runs out of ports with ENOSPC at the 2-level limit", () => {
    const { ev } = machine();
    const d2 = ev.domain(2);
    for (let i = 1; i < 4096; i++) expect(d2.allocUnbound(0).ok).toBe(true);
    expect(d2.allocUnbound(0)).toEqual({ ok: false, errno: "ENOSPC" });
  });

  it("keeps pending and mask bits at the shared_info offsets of xen.h", () => {
    const { ev } = machine();
    const d1 = ev.domain(1);
    d1.allocUnbound(DOMID_SELF);
    d1.bindInterdomain(DOMID_SELF, 1); // loopback: port 2 pending
    const page = d1.sharedInfo.page;
    expect(page[SHARED_INFO_LAYOUT.evtchnPending]).toBe(0b100);
    d1.mask(65);
    expect(page[SHARED_INFO_LAYOUT.evtchnMask + 8]).toBe(0b10);
    expect(page[SHARED_INFO_LAYOUT.upcallPending]).toBe(1);
    expect(page[SHARED_INFO_LAYOUT.pendingSel]).toBe(1);
  });

  it("never runs a handler posted before its port was closed (XSA-331)", async () => {
    const { sched, ev } = machine();
    ev.domain(1).allocUnbound(0);
    ev.domain(0).bindInterdomain(1, 1);
    let ran = 0;
    ev.domain(0).bindHandler(1, () => ran++, { actor: "xenstored" });
    // Deliver the upcall (posts the handler on xenstored), then close before it runs.
    sched.step();
    ev.domain(0).close(1);
    sched.runSync();
    expect(ran).toBe(0);
  });
});

// ---- Model-based property test: the port state machine against a small reference model. ----

type MPort = { state: "unbound" | "interdomain"; remote: number; remotePort: number };
interface Model {
  ports: Map<number, Map<number, MPort>>;
  pending: Set<string>;
  masked: Set<string>;
  delivered: string[];
}
const DOMS = [0, 1, 2];
const key = (d: number, p: number): string => `${d}:${p}`;
function lowestFree(m: Model, d: number): number {
  const ports = m.ports.get(d)!;
  let p = 1;
  while (ports.has(p)) p++;
  return p;
}
function setPendingModel(m: Model, d: number, p: number): void {
  m.pending.add(key(d, p));
}
/** After the scheduler settles: every pending unmasked port was delivered once and cleared. */
function settleModel(m: Model): void {
  for (const k of [...m.pending].sort()) {
    if (!m.masked.has(k)) {
      m.pending.delete(k);
      m.delivered.push(k);
    }
  }
}

type Op =
  | { op: "alloc"; d: number; remote: number }
  | { op: "bind"; d: number; remote: number; port: number }
  | { op: "send"; d: number; port: number }
  | { op: "close"; d: number; port: number }
  | { op: "mask"; d: number; port: number }
  | { op: "unmask"; d: number; port: number };

const dom = fc.constantFrom(...DOMS);
const port = fc.integer({ min: 0, max: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("alloc" as const), d: dom, remote: dom }),
  fc.record({ op: fc.constant("bind" as const), d: dom, remote: dom, port }),
  fc.record({ op: fc.constant("send" as const), d: dom, port }),
  fc.record({ op: fc.constant("close" as const), d: dom, port }),
  fc.record({ op: fc.constant("mask" as const), d: dom, port }),
  fc.record({ op: fc.constant("unmask" as const), d: dom, port }),
);

function applyModel(m: Model, o: Op): string {
  const ports = m.ports.get(o.d)!;
  switch (o.op) {
    case "alloc": {
      const p = lowestFree(m, o.d);
      ports.set(p, { state: "unbound", remote: o.remote, remotePort: 0 });
      return `ok:${p}`;
    }
    case "bind": {
      const rp = m.ports.get(o.remote)!.get(o.port);
      if (rp === undefined || rp.state !== "unbound" || rp.remote !== o.d) return "EINVAL";
      const p = lowestFree(m, o.d);
      ports.set(p, { state: "interdomain", remote: o.remote, remotePort: o.port });
      rp.state = "interdomain";
      rp.remote = o.d;
      rp.remotePort = p;
      setPendingModel(m, o.d, p);
      return `ok:${p}`;
    }
    case "send": {
      const p = ports.get(o.port);
      if (p === undefined) return "EINVAL";
      if (p.state === "interdomain") setPendingModel(m, p.remote, p.remotePort);
      return "ok";
    }
    case "close": {
      const p = ports.get(o.port);
      if (p === undefined) return "EINVAL";
      if (p.state === "interdomain") {
        const peer = m.ports.get(p.remote)!.get(p.remotePort)!;
        peer.state = "unbound";
        peer.remote = o.d;
        peer.remotePort = 0;
      }
      ports.delete(o.port);
      m.pending.delete(key(o.d, o.port));
      return "ok";
    }
    case "mask":
      m.masked.add(key(o.d, o.port));
      return "ok";
    case "unmask":
      m.masked.delete(key(o.d, o.port));
      return "ok";
  }
}

describe("event channels: model-based property test", () => {
  it("agrees with a reference model on port states, errors and deliveries (no lost edge, no duplicate)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer(), async (ops, seed) => {
        const { sched, ev } = machine(DOMS, seed);
        const m: Model = {
          ports: new Map(DOMS.map((d) => [d, new Map()])),
          pending: new Set(),
          masked: new Set(),
          delivered: [],
        };
        const delivered: string[] = [];
        const bindRecorder = (d: number, p: number): void =>
          ev.domain(d).bindHandler(p, () => delivered.push(key(d, p)));
        for (const o of ops) {
          const d = ev.domain(o.d);
          let got: string;
          switch (o.op) {
            case "alloc": {
              const r = d.allocUnbound(o.remote);
              got = r.ok ? `ok:${r.value}` : r.errno;
              if (r.ok) bindRecorder(o.d, r.value);
              break;
            }
            case "bind": {
              const r = d.bindInterdomain(o.remote, o.port);
              got = r.ok ? `ok:${r.value}` : r.errno;
              if (r.ok) bindRecorder(o.d, r.value);
              break;
            }
            case "send": {
              const r = d.send(o.port);
              got = r.ok ? "ok" : r.errno;
              break;
            }
            case "close": {
              const r = d.close(o.port);
              got = r.ok ? "ok" : r.errno;
              break;
            }
            case "mask":
              d.mask(o.port);
              got = "ok";
              break;
            case "unmask": {
              const r = d.unmask(o.port);
              got = r.ok ? "ok" : r.errno;
              break;
            }
          }
          expect(got).toBe(applyModel(m, o));
          await sched.run();
          settleModel(m);
          expect([...delivered].sort()).toEqual([...m.delivered].sort());
          for (const dd of DOMS) {
            for (let p = 1; p <= 7; p++) {
              expect(ev.domain(dd).isPending(p), `pending ${dd}:${p}`).toBe(m.pending.has(key(dd, p)));
              const s = ev.domain(dd).status(p);
              const mp = m.ports.get(dd)!.get(p);
              const st = s.ok ? s.value.status : "closed";
              expect(st).toBe(mp === undefined ? "closed" : mp.state);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("SharedInfo bitmaps", () => {
  it("deliverableBits and takeSelectorInto agree with the port lists and the byte selector", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (pending, mask, sel) => {
          const si = new SharedInfo();
          si.page.set(pending, SHARED_INFO_LAYOUT.evtchnPending);
          si.page.set(mask, SHARED_INFO_LAYOUT.evtchnMask);
          for (const word of [0, 1]) {
            const fromBits: number[] = [];
            for (const half of [0, 1]) {
              const bits = si.deliverableBits(word, half);
              for (let i = 0; i < 32; i++) if ((bits >>> i) & 1) fromBits.push(word * 64 + half * 32 + i);
            }
            expect(fromBits).toEqual(si.deliverableInWord(word));
          }
          const at = SHARED_INFO_LAYOUT.pendingSel;
          si.page.set(sel, at);
          const out = new Uint8Array(8);
          si.takeSelectorInto(0, out);
          expect([...out]).toEqual([...sel]);
          expect([...si.page.subarray(at, at + 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
        },
      ),
      { numRuns: 200 },
    );
  });
});
