// Peer profiles as generic wrappers around any XenbusDriver: the "other dances" real peers do
// around the XenBus handshake (hostile-peers B15, D15; xenbus.md §8), applied to a driver pair
// written on the public API without touching its code. blkfront/blkback carry the same profiles
// as options of their own (FrontendProfile, BackendProfile); these wrappers produce the same
// observable state sequences for any device type:
//
// - frontend `windows`: before its first connection the frontend runs a close cycle —
//   Closing → (backend Closed) → Closed → Initialising — as the Windows PV drivers do to clear
//   what a previous driver left (win-xenvif#36), then the wrapped driver probes and connects.
//   The backend must "prepare for reconnect" (Linux blkback frontend_changed: Initialising while
//   Closed → InitWait) or the pair never connects.
// - frontend `closed`: the frontend jumps straight to Closed at its first backend event and stays
//   there (mirage-net-xen#89); the wrapped frontend driver is never probed. The backend must
//   follow to Closed and let the device be unplugged.
// - backend `skip-initwait`: the backend never shows InitWait (B15): the wrapped driver believes
//   it switched to InitWait (its cached state says so) but nothing is written, so the frontend
//   sees the backend go 1 → 4 once it connects. A frontend that waits for InitWait before
//   publishing its rings (Linux netfront) stays Initialising forever.
// - backend `already-connected`: the frontend's first view of the backend is Connected (D15:
//   a backend already Connected when the frontend driver attaches, win-xenvif#37): InitWait is
//   hidden as above, and the wrapped frontend driver receives no backend event until the
//   backend reads Connected. (A generic backend that needs the frontend's ring keys cannot be
//   Connected before the frontend's probe publishes them, so the frontend still probes first;
//   what it can observe is exactly a backend that was Connected when it looked.)
import type { XenbusDriver } from "./driver.ts";
import type { XenbusDevice } from "./xenbus-device.ts";
import { XenbusState } from "./xenbus-state.ts";

/** Frontend peer profiles a wrapper gives any frontend driver (`linux` = the driver as written). */
export type FrontendPeerProfile = "linux" | "windows" | "closed";
/** Backend peer profiles a wrapper gives any backend driver (`linux` = the driver as written). */
export type BackendPeerProfile = "linux" | "skip-initwait" | "already-connected";

export const FRONTEND_PEER_PROFILES: readonly FrontendPeerProfile[] = ["linux", "windows", "closed"];
export const BACKEND_PEER_PROFILES: readonly BackendPeerProfile[] = [
  "linux",
  "skip-initwait",
  "already-connected",
];

/** The profiles of one device pair. */
export interface PeerProfiles {
  readonly frontend?: FrontendPeerProfile;
  readonly backend?: BackendPeerProfile;
}

/** A frontend/backend driver pair. */
export interface DriverPair<F extends XenbusDriver = XenbusDriver, B extends XenbusDriver = XenbusDriver> {
  readonly frontend: F;
  readonly backend: B;
}

/**
 * Throws a clear error for a profile name that does not exist, or for a frontend profile with a
 * backend profile: a frontend profile stands in for the frontend to test *your backend*, a
 * backend profile stands in for the backend to test *your frontend*. Both at once test neither
 * (and the generic versions cannot meet: a Windows frontend waits for the InitWait or Connected
 * a profiled backend only shows once the frontend has published).
 */
export function checkPeerProfiles(p: PeerProfiles): void {
  if (p.frontend !== undefined && !FRONTEND_PEER_PROFILES.includes(p.frontend))
    throw new RangeError(
      `unknown frontend peer profile ${JSON.stringify(p.frontend)} (one of ${FRONTEND_PEER_PROFILES.join(", ")})`,
    );
  if (p.backend !== undefined && !BACKEND_PEER_PROFILES.includes(p.backend))
    throw new RangeError(
      `unknown backend peer profile ${JSON.stringify(p.backend)} (one of ${BACKEND_PEER_PROFILES.join(", ")})`,
    );
  if ((p.frontend ?? "linux") !== "linux" && (p.backend ?? "linux") !== "linux")
    throw new RangeError(
      `peer profiles frontend ${p.frontend} and backend ${p.backend} together: a frontend profile tests your backend, a backend profile your frontend — give one of them`,
    );
}

const S = XenbusState;

/** Per device of a frontend wrapper: has the wrapped driver probed it, where is the dance. */
interface FrontState {
  /** `cycle`: the Windows close cycle has not started; `closing`: waiting for the backend's Closed. */
  phase: "cycle" | "closing" | "driver";
  /** `already-connected`: the wrapped driver has not seen the backend Connected yet. */
  holding: boolean;
}

/** The frontend side of a profile pair. */
class ProfiledFrontend implements XenbusDriver {
  readonly type: string;
  readonly allowRebind?: boolean;
  private readonly devs = new Map<XenbusDevice, FrontState>();

  constructor(
    readonly inner: XenbusDriver,
    readonly profile: FrontendPeerProfile,
    /** The backend is `already-connected`: withhold backend events until it reads Connected. */
    readonly holdUntilConnected: boolean,
  ) {
    this.type = inner.type;
    if (inner.allowRebind !== undefined) this.allowRebind = inner.allowRebind;
  }

  private fresh(): FrontState {
    return { phase: this.profile === "windows" ? "cycle" : "driver", holding: this.holdUntilConnected };
  }

  async probe(dev: XenbusDevice): Promise<void> {
    const st = this.fresh();
    this.devs.set(dev, st);
    // `closed` never hands the device to its driver; `windows` does after its close cycle.
    if (this.profile === "linux") await this.inner.probe(dev);
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const st = this.devs.get(dev);
    if (st === undefined) return;
    if (this.profile === "closed") {
      // blkfront's `closed` profile: Closed at the first backend event, and stay there.
      if (state !== S.Unknown && dev.state !== S.Closed) {
        dev.trace("xenbus.peer_profile", { profile: "closed", action: "straight to Closed" });
        await dev.switchState(S.Closed);
      }
      return;
    }
    if (st.phase === "cycle") {
      if (state === S.InitWait || state === S.Connected) {
        // The Windows PV drivers' reset before the first connection (blkfront `windows`).
        dev.trace("xenbus.peer_profile", { profile: "windows", action: "close cycle" });
        st.phase = "closing";
        await dev.switchState(S.Closing);
      } else if ((state === S.Closing || state === S.Closed) && dev.state !== S.Closed) {
        // The backend went away before we connected (xenbus_frontend_closed).
        await dev.switchState(S.Closed);
      }
      return;
    }
    if (st.phase === "closing") {
      if (state === S.Unknown) {
        // The backend vanished mid-cycle (an unplug): close, never reinitialise.
        await dev.switchState(S.Closed);
        return;
      }
      if (state !== S.Closed) return;
      await dev.switchState(S.Closed);
      await dev.switchState(S.Initialising);
      if (dev.removed) return;
      st.phase = "driver";
      await this.inner.probe(dev);
      return;
    }
    if (st.holding) {
      if (state !== S.Connected) return;
      st.holding = false;
    }
    await this.inner.otherendChanged(dev, state);
  }

  async remove(dev: XenbusDevice): Promise<void> {
    const st = this.devs.get(dev);
    this.devs.delete(dev);
    if (st?.phase === "driver" && this.profile !== "closed") await this.inner.remove(dev);
  }

  async suspend(dev: XenbusDevice): Promise<void> {
    const st = this.devs.get(dev);
    if (st?.phase === "driver" && this.profile !== "closed") await this.inner.suspend?.(dev);
  }

  async resume(dev: XenbusDevice): Promise<void> {
    const st = this.devs.get(dev);
    if (st === undefined) return;
    // A resumed device starts over from Initialising (xenbus_dev_resume): a backend that is
    // already Connected again is what the frontend sees first.
    st.holding = this.holdUntilConnected;
    if (st.phase === "driver" && this.profile !== "closed") await this.inner.resume?.(dev);
    else if (st.phase === "closing") st.phase = "cycle";
  }
}

/** The backend side: the wrapped driver's InitWait stays in its cache (B15). */
class ProfiledBackend implements XenbusDriver {
  readonly type: string;
  readonly allowRebind?: boolean;
  private static readonly HIDDEN: ReadonlySet<XenbusState> = new Set([S.InitWait]);

  constructor(
    readonly inner: XenbusDriver,
    readonly profile: BackendPeerProfile,
  ) {
    this.type = inner.type;
    if (inner.allowRebind !== undefined) this.allowRebind = inner.allowRebind;
  }

  async probe(dev: XenbusDevice): Promise<void> {
    dev.hiddenStates = ProfiledBackend.HIDDEN;
    await this.inner.probe(dev);
  }

  otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    return this.inner.otherendChanged(dev, state);
  }

  remove(dev: XenbusDevice): Promise<void> {
    return this.inner.remove(dev);
  }

  async suspend(dev: XenbusDevice): Promise<void> {
    await this.inner.suspend?.(dev);
  }

  async resume(dev: XenbusDevice): Promise<void> {
    await this.inner.resume?.(dev);
  }
}

/**
 * Wraps a driver pair in peer profiles (`linux` for both returns the drivers themselves). The
 * wrappers keep the wrapped drivers' `type`, forward every hook the profile does not take over,
 * and hand the wrapped drivers the real `XenbusDevice`s, so the drivers' own maps and state
 * checks keep working. Load the returned drivers (`createGuest(domid, [frontend])`,
 * `new Machine({ backends: [backend] })`); keep talking to your own driver objects.
 */
export function withPeerProfiles<F extends XenbusDriver, B extends XenbusDriver>(
  pair: DriverPair<F, B>,
  profiles: PeerProfiles,
): DriverPair {
  checkPeerProfiles(profiles);
  const fp = profiles.frontend ?? "linux";
  const bp = profiles.backend ?? "linux";
  const hold = bp === "already-connected";
  return {
    frontend: fp === "linux" && !hold ? pair.frontend : new ProfiledFrontend(pair.frontend, fp, hold),
    backend: bp === "linux" ? pair.backend : new ProfiledBackend(pair.backend, bp),
  };
}
