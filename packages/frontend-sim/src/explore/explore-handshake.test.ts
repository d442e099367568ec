// The harness for users' own devices (exploreHandshake / replayHandshake), tested on a small
// device of its own: a correct pair passes (with suspend/resume and backend restarts drawn); a
// broken pair is caught, shrunk, and its token replays the identical failure; the peer profiles
// produce the state sequences they promise and are carried by the token; bad options are
// refused with a message that says what is wrong.
import { describe, expect, it } from "vitest";
import { XBT_NIL } from "../guest/xenbus/xs-client.ts";
import type { DeviceSpec } from "../host/toolstack/device-spec.ts";
import type { XenbusDriver } from "../xenbus/driver.ts";
import type { PeerProfiles } from "../xenbus/peer-profiles.ts";
import type { GrantedRing, MappedRing, XenbusDevice } from "../xenbus/xenbus-device.ts";
import { XenbusState as S, type XenbusState, xenbusStateName } from "../xenbus/xenbus-state.ts";
import {
  exploreHandshake,
  type HandshakeDevice,
  HandshakeFailure,
  type ReplayResult,
  replayHandshake,
} from "./explore-handshake.ts";
import { decodeToken, encodeToken } from "./replay-token.ts";

interface PingOptions {
  /** `state-first`: Initialised before the keys (the broken order). */
  readonly publish?: "keys-first" | "state-first";
  /** `on-initwait`: publish only when the backend reads InitWait (Linux netfront's way). */
  readonly when?: "at-probe" | "on-initwait";
}

/** A frontend with one granted page and one port: hvc_xen's dance without a data path. */
class PingFront implements XenbusDriver {
  readonly type = "ping";
  readonly live = new Map<string, { ring: GrantedRing | null; port: number }>();
  /** Backend states the driver was handed, per device (profiles' observable). */
  readonly seen: XenbusState[] = [];
  resumes = 0;
  constructor(readonly o: PingOptions = {}) {}

  async probe(dev: XenbusDevice): Promise<void> {
    this.live.set(dev.nodename, { ring: null, port: 0 });
    if (this.o.when !== "on-initwait") await this.publish(dev);
  }

  private async publish(dev: XenbusDevice): Promise<void> {
    const p = this.live.get(dev.nodename)!;
    p.ring = await dev.setupRing(1);
    if (p.ring === null) return;
    const port = await dev.allocEvtchn();
    if (port === null) return;
    p.port = port;
    if (this.o.publish === "state-first") await dev.switchState(S.Initialised);
    await dev.xb.transaction(async (tx) => {
      await dev.xb.printf(tx, dev.nodename, "ring-ref", "%d", p.ring!.refs[0]!);
      await dev.xb.printf(tx, dev.nodename, "event-channel", "%u", port);
    });
    await dev.switchState(S.Initialised);
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    this.seen.push(state);
    if (state === S.InitWait && dev.state === S.Initialising && this.o.when === "on-initwait")
      await this.publish(dev);
    else if (state === S.Connected && dev.state === S.Initialised) await dev.switchState(S.Connected);
    else if (state === S.Closing || (state === S.Closed && dev.state !== S.Closed))
      await dev.switchState(S.Closed);
  }

  private async release(dev: XenbusDevice): Promise<void> {
    const p = this.live.get(dev.nodename);
    if (p === undefined) return;
    if (p.port !== 0) await dev.freeEvtchn(p.port);
    p.port = 0;
    if (p.ring !== null) dev.releaseRing(p.ring);
    p.ring = null;
  }

  async resume(dev: XenbusDevice): Promise<void> {
    this.resumes++;
    await this.release(dev);
    if (this.o.when !== "on-initwait") await this.publish(dev);
  }

  async remove(dev: XenbusDevice): Promise<void> {
    await this.release(dev);
    this.live.delete(dev.nodename);
  }
}

/** Its backend: InitWait; on Initialised map and bind → Connected; prepare for reconnect. */
class PingBack implements XenbusDriver {
  readonly type = "ping";
  private readonly live = new Map<string, { ring: MappedRing | null; port: number }>();
  /** Frontend events met while this end had switched to Closing (a backend restart). */
  closingEvents = 0;

  async probe(dev: XenbusDevice): Promise<void> {
    this.live.set(dev.nodename, { ring: null, port: 0 });
    await dev.switchState(S.InitWait);
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const b = this.live.get(dev.nodename);
    if (b === undefined) return;
    if (dev.state === S.Closing) this.closingEvents++;
    if (state === S.Initialised && (dev.state === S.InitWait || dev.state === S.Closed)) {
      await this.release(dev);
      let ref: number;
      let port: number;
      try {
        ref = Number(await dev.xb.readString(XBT_NIL, `${dev.otherend}/ring-ref`));
        port = Number(await dev.xb.readString(XBT_NIL, `${dev.otherend}/event-channel`));
      } catch {
        await dev.devFatal("ENOENT", `reading ${dev.otherend}/ring-ref`);
        return;
      }
      b.ring = await dev.mapRing([ref]);
      if (b.ring === null) return;
      const bound = dev.kernel.events.bindInterdomain(dev.otherendId, port);
      if (!bound.ok) {
        await dev.devFatal(bound.errno, "binding the event channel");
        return;
      }
      b.port = bound.value;
      await dev.switchState(S.Connected);
    } else if (state === S.Initialising && dev.state === S.Closed) {
      await dev.switchState(S.InitWait);
    } else if (state === S.Closing || state === S.Closed || state === S.Unknown) {
      await this.release(dev);
      await dev.switchState(S.Closed);
      if (state === S.Unknown) await dev.unregister();
    }
  }

  private async release(dev: XenbusDevice): Promise<void> {
    const b = this.live.get(dev.nodename);
    if (b === undefined) return;
    if (b.port !== 0) dev.kernel.events.close(b.port);
    b.port = 0;
    if (b.ring !== null) await dev.unmapRing(b.ring);
    b.ring = null;
  }

  async remove(dev: XenbusDevice): Promise<void> {
    await this.release(dev);
    this.live.delete(dev.nodename);
  }
}

const pingSpec = (domid: number): DeviceSpec => ({
  kind: "ping",
  domid,
  devid: 0,
  backendDomid: 0,
  frontend: {},
  backend: {},
});

function ping(
  o: PingOptions = {},
): HandshakeDevice<PingFront, PingBack> & { fronts: PingFront[]; backs: PingBack[] } {
  const fronts: PingFront[] = [];
  const backs: PingBack[] = [];
  return {
    name: "ping",
    fronts,
    backs,
    frontend: () => {
      const f = new PingFront(o);
      fronts.push(f);
      return f;
    },
    backend: () => {
      const b = new PingBack();
      backs.push(b);
      return b;
    },
    spec: pingSpec,
  };
}

async function failureOf(p: Promise<unknown>): Promise<HandshakeFailure> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HandshakeFailure);
  return e as HandshakeFailure;
}

/** A no-command, FIFO-schedule run of the ping device under `profiles`, recorded. */
function plainToken(profiles: PeerProfiles): string {
  let w = "ping";
  if (profiles.frontend) w += `;frontend=${profiles.frontend}`;
  if (profiles.backend) w += `;backend=${profiles.backend}`;
  return encodeToken({ mode: "liveness", workload: w, faults: [], faultSeed: 0, schedule: [], commands: [] });
}

/** The states `end` wrote to XenStore, in order (xenbus.state trace records). */
function written(r: ReplayResult, role: "frontend" | "backend"): string[] {
  return r.machine.sched.trace
    .all()
    .filter((x) => x.kind === "xenbus.state" && x.details.role === role)
    .map((x) => String(x.details.to));
}

describe("exploreHandshake", () => {
  it("passes a correct device, drawing suspend/resume and backend restarts", async () => {
    const dev = ping();
    const r = await exploreHandshake(dev, { runs: 15, seed: 4, suspend: true, backendRestart: true });
    expect(r).toMatchObject({ device: "ping", runs: 15 });
    expect(r.distinctSchedules).toBeGreaterThan(10);
    // The generated commands did suspend the guest (resume hooks ran) and restart the backend
    // (the default restart: the backend device switched to Closing, the frontend answered).
    expect(dev.fronts.some((f) => f.resumes > 0)).toBe(true);
    expect(dev.backs.some((b) => b.closingEvents > 0)).toBe(true);
  }, 30_000);

  it("catches a device that publishes its ring-ref after Initialised, shrunk, with a replay token", async () => {
    const broken = ping({ publish: "state-first" });
    const f = await failureOf(exploreHandshake(broken, { runs: 30, seed: 7 }));
    const raw = await failureOf(exploreHandshake(broken, { runs: 30, seed: 7, shrink: false }));
    expect(f.failures).toMatch(
      /ping closed with dom0 error: 2 reading \/local\/domain\/1\/device\/ping\/0\/ring-ref/,
    );
    // The message is the whole report: violations, shrunk case and schedule, token.
    expect(f.message).toContain(f.failures);
    expect(f.message).toMatch(/^shrunk case: plug ping at boot, then /m);
    expect(f.message).toMatch(/^schedule: \d+ decision\(s\) \[/m);
    expect(f.message).toContain(`token: ${f.token}`);
    expect(decodeToken(f.token)).toEqual(f.failingCase);
    // Shrinking never makes the case bigger than the first failing run's.
    expect(f.failingCase.commands.length).toBeLessThanOrEqual(raw.failingCase.commands.length);
    expect(f.failingCase.schedule.length).toBeLessThanOrEqual(raw.failingCase.schedule.length);
    expect(f.runsToDetection).toBeGreaterThanOrEqual(1);

    // The token reproduces the failure, and the trace is identical run after run.
    const a = await replayHandshake(broken, f.token);
    const b = await replayHandshake(ping({ publish: "state-first" }), f.token);
    expect(a.ok).toBe(false);
    expect(a.failures.join("\n")).toBe(f.failures);
    expect(b.failures).toEqual(a.failures);
    const trace = (r: ReplayResult): string => JSON.stringify(r.machine.sched.trace.all());
    expect(trace(b)).toBe(trace(a));
    expect(a.machine.sched.trace.all().some((x) => x.kind === "xenbus.dev_error")).toBe(true);
    // The correct device survives the very run.
    expect((await replayHandshake(ping(), f.token)).ok).toBe(true);
  }, 30_000);

  it("refuses to replay a token of another device", async () => {
    const other = encodeToken({ ...decodeToken(plainToken({})), workload: "console" });
    await expect(replayHandshake(ping(), other)).rejects.toThrow(/run of device "console", not "ping"/);
  });
});

describe("exploreHandshake: peer profiles around any driver pair", () => {
  it("windows: a close cycle before the first connection, then Connected", async () => {
    const r = await replayHandshake(ping(), plainToken({ frontend: "windows" }));
    expect(r.failures).toEqual([]);
    // …and the final unplug closes both.
    expect(written(r, "frontend")).toEqual([
      "Closing",
      "Closed",
      "Initialising",
      "Initialised",
      "Connected",
      "Closed",
    ]);
    expect(written(r, "backend")).toEqual(["InitWait", "Closed", "InitWait", "Connected", "Closed"]);
  });

  it("closed: the frontend goes straight to Closed, the backend follows, unplug is clean", async () => {
    const dev = ping();
    const r = await replayHandshake(dev, plainToken({ frontend: "closed" }));
    expect(r.failures).toEqual([]);
    expect(written(r, "frontend")).toEqual(["Closed"]);
    expect(written(r, "backend").at(-1)).toBe("Closed");
    expect(dev.fronts[0]!.seen).toEqual([]); // the frontend driver never saw the device
  });

  it("closed + suspend right after the plug: the old backend's probe error does not haunt the new one", async () => {
    // The explorer's shrunk case: the boot plug's backend is still probing when suspend tears its
    // directory down, so it fails xenbus_read_otherend_details and writes its error node
    // (hostile-peers D2). That node describes the old incarnation: the re-created backend, closed
    // cleanly by the `closed` frontend, must not be reported "closed with dom0 error".
    const token =
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJwaW5nO2Zyb250ZW5kPWNsb3NlZCIsImYiOltdLCJmcyI6MCwicyI6IiIsImMiOltbInN1c3BlbmQiLDFdXX0";
    expect(decodeToken(token)).toMatchObject({ workload: "ping;frontend=closed", schedule: [] });
    const r = await replayHandshake(ping(), token);
    const errors = r.machine.sched.trace.all().filter((x) => x.kind === "xenbus.dev_error");
    expect(errors.map((x) => x.details.error)).toEqual(["2 reading other end details from backend/ping/1/0"]);
    expect(r.failures).toEqual([]);
  });

  it("skip-initwait: the frontend never sees InitWait; a netfront-like frontend is caught", async () => {
    const r = await replayHandshake(ping(), plainToken({ backend: "skip-initwait" }));
    expect(r.failures).toEqual([]);
    expect(written(r, "backend")).toEqual(["Connected", "Closed"]);
    expect(
      r.machine.sched.trace
        .all()
        .some((x) => x.kind === "xenbus.state_skipped" && x.details.why === "hidden by peer profile"),
    ).toBe(true);

    const waiter = ping({ when: "on-initwait" });
    await exploreHandshake(waiter, { runs: 5, seed: 1 }); // fine with a Linux backend
    const f = await failureOf(
      exploreHandshake(waiter, { runs: 5, seed: 1, profiles: { backend: "skip-initwait" } }),
    );
    expect(f.failures).toContain("ping: did not converge: frontend 1, backend 1");
    expect(f.message).toContain("profiles: backend skip-initwait");
    expect(f.failingCase.workload).toBe("ping;backend=skip-initwait");
    // The token carries the profile: replaying it with the plain device reproduces the failure.
    const again = await replayHandshake(ping({ when: "on-initwait" }), f.token);
    expect(again.failures.join("\n")).toBe(f.failures);
  }, 30_000);

  it("already-connected: the frontend driver's first backend event is Connected", async () => {
    const dev = ping();
    const r = await replayHandshake(dev, plainToken({ backend: "already-connected" }));
    expect(r.failures).toEqual([]);
    const seen = dev.fronts[0]!.seen.map(xenbusStateName);
    expect(seen[0]).toBe("Connected");
    expect(written(r, "frontend")).toEqual(["Initialised", "Connected", "Closed"]);
  });

  it("every profile of a correct pair passes the explorer", async () => {
    for (const profiles of [
      { frontend: "windows" },
      { frontend: "closed" },
      { backend: "skip-initwait" },
      { backend: "already-connected" },
    ] as const)
      await exploreHandshake(ping(), { runs: 8, seed: 2, profiles, suspend: true, backendRestart: true });
  }, 30_000);
});

describe("exploreHandshake: options are checked before any run", () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ["runs 0", () => exploreHandshake(ping(), { runs: 0 }), /options\.runs must be an integer ≥ 1 \(got 0\)/],
    ["runs 2.5", () => exploreHandshake(ping(), { runs: 2.5 }), /options\.runs must be an integer/],
    [
      "maxCommands −1",
      () => exploreHandshake(ping(), { maxCommands: -1 }),
      /options\.maxCommands must be an integer ≥ 0/,
    ],
    [
      "mode",
      () => exploreHandshake(ping(), { mode: "fast" as "safety" }),
      /options\.mode must be "safety" or "liveness"/,
    ],
    [
      "fault",
      () => exploreHandshake(ping(), { faults: ["no-such-fault" as "commit-eagain"] }),
      /unknown fault "no-such-fault" \(one of /,
    ],
    [
      "fault profile",
      () => exploreHandshake(ping(), { faults: "nope" as "all" }),
      /unknown fault profile "nope" \(one of none, /,
    ],
    [
      "command",
      () => exploreHandshake(ping(), { commands: ["reboot" as "plug"] }),
      /unknown command "reboot"/,
    ],
    [
      "io without a hook",
      () => exploreHandshake(ping(), { commands: ["io"] }),
      /"io" but device ping has no io hook/,
    ],
    [
      "reconnect without a hook",
      () => exploreHandshake(ping(), { commands: ["reconnect"] }),
      /"reconnect" but device ping has no reconnectFrontend hook/,
    ],
    [
      "frontend profile",
      () => exploreHandshake(ping(), { profiles: { frontend: "macos" as "closed" } }),
      /unknown frontend peer profile "macos" \(one of linux, windows, closed\)/,
    ],
    [
      "backend profile",
      () => exploreHandshake(ping(), { profiles: { backend: "lazy" as "linux" } }),
      /unknown backend peer profile "lazy"/,
    ],
    [
      "pair of profiles",
      () => exploreHandshake(ping(), { profiles: { frontend: "windows", backend: "skip-initwait" } }),
      /a frontend profile tests your backend, a backend profile your frontend — give one of them/,
    ],
    [
      "device name",
      () => exploreHandshake({ ...ping(), name: "my device" }, {}),
      /device\.name must be a XenStore device type/,
    ],
    [
      "spec kind",
      () => exploreHandshake({ ...ping(), spec: (d) => ({ ...pingSpec(d), kind: "pong" }) }, {}),
      /spec\(1\)\.kind is "pong", not the device name/,
    ],
    [
      "driver type",
      () =>
        exploreHandshake({ ...ping(), name: "pong", spec: (d) => ({ ...pingSpec(d), kind: "pong" }) }, {}),
      /its frontend driver's type is "ping", not the device name/,
    ],
  ];
  for (const [what, run, message] of cases)
    it(`refuses a bad ${what}`, async () => {
      await expect(run()).rejects.toThrow(message);
    });
});
