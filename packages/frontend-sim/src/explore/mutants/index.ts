// Mutants: known bugs planted *around* the real drivers and server (wrappers, subclasses,
// proxies) to prove the explorer finds them. Never `if (mutant)` inside production code.
import type { XsConnection } from "@xensim/xenstore-core";
import { encodeFrame, FrameParser, type XsFrame, XsFrameError, XsType } from "@xensim/xenstore-core/wire";
import { NetfrontDevice, NetfrontDriver } from "../../guest/netfront/netfront.ts";
import { XenbusError } from "../../guest/xenbus/xenbus-error.ts";
import type { XenbusClient } from "../../guest/xenbus/xs-client.ts";
import type { Machine } from "../../host/machine.ts";
import type { XenbusDriver } from "../../xenbus/driver.ts";
import type { XenbusDevice } from "../../xenbus/xenbus-device.ts";
import { XenbusState } from "../../xenbus/xenbus-state.ts";
import type { DeviceKit } from "../devices.ts";
import type { FaultName } from "../faults.ts";
import type { HostileKind } from "../hostile.ts";
import { tapConnections } from "../wire-tap.ts";

export type Mode = "safety" | "liveness";

export interface Mutant {
  readonly name: string;
  readonly description: string;
  /** The campaign in which it must be found within `budget` runs (the mutant test uses it). */
  readonly profile: {
    readonly mode: Mode;
    readonly workload: string;
    readonly faults: readonly FaultName[];
    readonly hostile?: readonly HostileKind[];
  };
  readonly budget: number;
  /** Wraps or replaces drivers before the machine is built. */
  kits?(kits: readonly DeviceKit[]): void;
  /** Installs machine-level wrappers once the machine exists (before anything boots). */
  machine?(m: Machine): void;
}

// ---- helpers -----------------------------------------------------------------------------------

/** A driver whose hooks see each device through `view` (a proxy), everything else unchanged. */
function withDeviceView(inner: XenbusDriver, view: (dev: XenbusDevice) => XenbusDevice): XenbusDriver {
  const views = new WeakMap<XenbusDevice, XenbusDevice>();
  const v = (d: XenbusDevice): XenbusDevice => {
    let p = views.get(d);
    if (p === undefined) {
      p = view(d);
      views.set(d, p);
    }
    return p;
  };
  return {
    type: inner.type,
    ...(inner.allowRebind === undefined ? {} : { allowRebind: inner.allowRebind }),
    probe: (d) => inner.probe(v(d)),
    otherendChanged: (d, s) => inner.otherendChanged(v(d), s),
    remove: (d) => inner.remove(v(d)),
    ...(inner.suspend ? { suspend: (d: XenbusDevice) => inner.suspend!(v(d)) } : {}),
    ...(inner.resume ? { resume: (d: XenbusDevice) => inner.resume!(v(d)) } : {}),
  };
}

/** A XenBus client that gives up on EAGAIN (reports it as EIO) instead of retrying. */
function noRetryClient(xb: XenbusClient): XenbusClient {
  const giveUp = (e: unknown): never => {
    if (e instanceof XenbusError && e.errno === "EAGAIN")
      throw new XenbusError("EIO", `${e.op} (EAGAIN, not retried)`);
    throw e;
  };
  return new Proxy(xb, {
    get(target, prop) {
      if (prop === "transactionEnd")
        return (tx: number, abort: boolean) => target.transactionEnd(tx, abort).catch(giveUp);
      if (prop === "transaction")
        return <T>(body: (tx: number) => Promise<T>) =>
          target.transaction(body, { maxAttempts: 1 }).catch(giveUp);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function deviceWithClient(dev: XenbusDevice, xb: XenbusClient): XenbusDevice {
  const kernel = new Proxy(dev.kernel, {
    get: (t, p) => (p === "xenbus" ? xb : Reflect.get(t, p, t)),
  });
  return new Proxy(dev, {
    get: (t, p, r) => (p === "xb" ? xb : p === "kernel" ? kernel : Reflect.get(t, p, r)),
    set: (t, p, value) => Reflect.set(t, p, value),
  });
}

class TrustingNetfrontDevice extends NetfrontDevice {
  override txResponseIdError(): string | null {
    return null;
  }
}

class TrustingNetfront extends NetfrontDriver {
  protected override createDevice(dev: XenbusDevice): NetfrontDevice {
    return new TrustingNetfrontDevice(this, dev);
  }
}

/** Swaps the first reply of each batch of output with the frame after it (reply or event). */
function swapAdjacentReplies(
  _conn: XsConnection,
  take: (max?: number) => Uint8Array,
): (max?: number) => Uint8Array {
  let held: Uint8Array = new Uint8Array(0);
  return (max) => {
    const fresh = take();
    if (fresh.length > 0) {
      const p = new FrameParser();
      p.push(fresh);
      const frames: XsFrame[] = [];
      for (let f = p.next(); f !== null && !(f instanceof XsFrameError); f = p.next()) frames.push(f);
      for (let i = 0; i + 1 < frames.length; i++) {
        if (frames[i]!.type !== XsType.WATCH_EVENT) {
          [frames[i], frames[i + 1]] = [frames[i + 1]!, frames[i]!];
          break;
        }
      }
      const parts = frames.map((f) => encodeFrame(f));
      const total = held.length + parts.reduce((n, b) => n + b.length, 0);
      const next = new Uint8Array(total);
      next.set(held, 0);
      let at = held.length;
      for (const b of parts) {
        next.set(b, at);
        at += b.length;
      }
      held = next;
    }
    const n = max === undefined ? held.length : Math.min(max, held.length);
    const out = held.slice(0, n);
    held = held.slice(n);
    return out;
  };
}

// ---- the mutants -------------------------------------------------------------------------------

export const MUTANTS: readonly Mutant[] = [
  {
    name: "no-eagain-retry",
    description:
      "frontends whose XenBus client gives up on EAGAIN at commit instead of redoing the transaction",
    profile: { mode: "liveness", workload: "vif+vbd", faults: ["commit-eagain"] },
    budget: 10,
    kits(kits) {
      for (const k of kits) {
        const clients = new WeakMap<XenbusClient, XenbusClient>();
        k.frontend = withDeviceView(k.frontend, (dev) => {
          let xb = clients.get(dev.xb);
          if (xb === undefined) {
            xb = noRetryClient(dev.xb);
            clients.set(dev.xb, xb);
          }
          return deviceWithClient(dev, xb);
        });
      }
    },
  },
  {
    name: "trust-response-ids",
    description: "a netfront that uses TX response ids without checking range or that the id is in flight",
    profile: {
      mode: "safety",
      workload: "vif",
      faults: [],
      hostile: ["be-tx-id-range", "be-tx-id-inactive"],
    },
    budget: 20,
    kits(kits) {
      for (const k of kits) if (k.name === "vif") k.frontend = new TrustingNetfront();
    },
  },
  {
    name: "connected-before-ring-keys",
    description: "a netfront that switches to Connected before it writes its ring refs and event channel",
    profile: { mode: "liveness", workload: "vif", faults: [] },
    budget: 20,
    kits(kits) {
      for (const k of kits) {
        if (k.name !== "vif") continue;
        const inner = k.frontend;
        k.frontend = {
          ...withDeviceView(inner, (d) => d),
          async otherendChanged(dev, state) {
            if (state === XenbusState.InitWait && dev.state === XenbusState.Initialising) {
              await dev.switchState(XenbusState.Connected);
              dev.state = XenbusState.Initialising;
            }
            await inner.otherendChanged(dev, state);
          },
        };
      }
    },
  },
  {
    name: "backend-ignores-closing",
    description: "backends that ignore the frontend switching to Closing",
    profile: { mode: "liveness", workload: "vbd", faults: [] },
    budget: 60,
    kits(kits) {
      for (const k of kits) {
        const inner = k.backend;
        k.backend = {
          ...withDeviceView(inner, (d) => d),
          async otherendChanged(dev, state) {
            if (state === XenbusState.Closing) return;
            await inner.otherendChanged(dev, state);
          },
        };
      }
    },
  },
  {
    name: "reorder-replies",
    description: "a xenstored that sends a reply after the frame queued behind it (a reply or a watch event)",
    profile: { mode: "safety", workload: "vif+vbd", faults: [] },
    budget: 20,
    machine(m) {
      m.platform.withXenstored((server) => tapConnections(server, swapAdjacentReplies));
    },
  },
  {
    name: "live-update-drops-guest-watches",
    description:
      "a xenstored whose live update forgets the guests' watches (restores the tree and connections, not WATCH_DATA)",
    profile: { mode: "liveness", workload: "vif+vbd", faults: ["xenstored-restart"] },
    budget: 10,
    machine(m) {
      let first = true;
      m.platform.withXenstored((server) => {
        if (first) {
          first = false;
          return;
        }
        for (const s of server.allSessions()) if (s.domid !== 0) server.resetWatches(s);
      });
    },
  },
];

export function findMutant(name: string): Mutant | undefined {
  return MUTANTS.find((m) => m.name === name);
}
