// The guest side of a Xen PV console, as Linux drivers/tty/hvc/hvc_xen.c does it for consoles
// found on XenBus (xencons_probe / xencons_connect_backend / xencons_backend_changed /
// xencons_resume), written only against xensim's public driver API.
import {
  type GrantedRing,
  XBT_NIL,
  type XenbusDevice,
  type XenbusDriver,
  XenbusState,
} from "@xensim/frontend-sim";
import { IN, OUT, ringRead, ringWrite } from "./console-ring.ts";

/** One console of one guest: what a user of the device sees. */
export class ConsoleFrontDevice {
  ring: GrantedRing | null = null;
  port = 0;
  /** Bytes the backend sent us (keyboard input). */
  input = "";
  /** Set once the backend broke the ring protocol. */
  broken: string | null = null;
  constructor(readonly dev: XenbusDevice) {}

  get connected(): boolean {
    return this.dev.state === XenbusState.Connected;
  }

  /** hvc write: copy into `out`, kick the backend. Returns how many bytes fitted. */
  write(text: string): number {
    if (this.ring === null || this.broken !== null) return 0;
    const n = ringWrite(this.ring.pages, OUT, new TextEncoder().encode(text));
    if (typeof n !== "number") {
      this.broken = n.message;
      return 0;
    }
    this.dev.kernel.events.send(this.port);
    return n;
  }

  /** The event handler: drain `in` (the backend also kicks us after consuming `out`). */
  onEvent(): void {
    if (this.ring === null || this.broken !== null) return;
    const got = ringRead(this.ring.pages, IN);
    if (!(got instanceof Uint8Array)) {
      this.broken = got.message;
      void this.dev.devFatal("EIO", `console ring: ${got.message}`);
      return;
    }
    if (got.length > 0) {
      this.input += new TextDecoder().decode(got);
      this.dev.kernel.events.send(this.port);
    }
  }
}

export interface ConsoleFrontendOptions {
  /**
   * The order of the handshake's last two steps. "keys-first" (hvc_xen): write ring-ref and port,
   * then switch to Initialised. "state-first" is the naive version the tutorial's explorer run
   * catches: the backend may read the keys before they exist.
   */
  readonly publish?: "keys-first" | "state-first";
  /**
   * Whether the driver has its `resume` hook (default true). Without it — the naive version
   * the tutorial's suspend run catches — a resumed guest never re-publishes its keys to the
   * re-created backend and the console stays Initialising.
   */
  readonly resume?: boolean;
}

export class ConsoleFrontend implements XenbusDriver {
  readonly type = "console";
  readonly devices = new Map<string, ConsoleFrontDevice>();

  /** Times `resume` ran (tests check the explorer exercised it). */
  resumes = 0;
  /** The bus's resume hook: xencons_resume, or none with `resume: false` (the naive driver). */
  readonly resume: ((dev: XenbusDevice) => Promise<void>) | undefined;

  constructor(readonly options: ConsoleFrontendOptions = {}) {
    this.resume = options.resume === false ? undefined : (dev) => this.xenconsResume(dev);
  }

  /** xencons_probe: grant a page, allocate a port, publish both (xencons_connect_backend). */
  async probe(dev: XenbusDevice): Promise<void> {
    const c = new ConsoleFrontDevice(dev);
    this.devices.set(dev.nodename, c);
    dev.data = c;
    c.ring = await dev.setupRing(1);
    if (c.ring === null) return;
    await this.connectBackend(dev, c);
  }

  /**
   * xencons_connect_backend: allocate a port and bind it, then publish `ring-ref` and `port` in
   * a transaction (retried on EAGAIN) and switch to Initialised. The page is already granted.
   */
  private async connectBackend(dev: XenbusDevice, c: ConsoleFrontDevice): Promise<void> {
    const port = await dev.allocEvtchn();
    if (port === null) return;
    c.port = port;
    dev.kernel.events.bindHandler(port, () => c.onEvent(), { label: `hvc:${dev.nodename}` });
    if (this.options.publish === "state-first") await dev.switchState(XenbusState.Initialised);
    await dev.xb.transaction(async (tx) => {
      await dev.xb.printf(tx, dev.nodename, "ring-ref", "%d", c.ring!.refs[0]!);
      await dev.xb.printf(tx, dev.nodename, "port", "%u", port);
    });
    if (this.options.publish !== "state-first") await dev.switchState(XenbusState.Initialised);
  }

  /**
   * xencons_resume: the backend is a new one (the guest may have migrated; the bus already
   * re-read `backend-id`), so the old port and grant mean nothing to it.
   * xencons_disconnect_backend closes the port and gives the grant back; the page is kept,
   * zeroed (`memset(info->intf, 0, XEN_PAGE_SIZE)`: both rings restart at index 0), granted
   * again to the (possibly new) backend domain, and xencons_connect_backend publishes the new
   * `ring-ref` and `port` and switches to Initialised — the bus reset the cached state to
   * Initialising, so that write happens. Bytes the guest wrote before suspend and the backend
   * never read are lost, as in Linux.
   */
  private async xenconsResume(dev: XenbusDevice): Promise<void> {
    const c = this.devices.get(dev.nodename);
    if (c === undefined) return;
    this.resumes++;
    if (c.port !== 0) await dev.freeEvtchn(c.port);
    c.port = 0;
    c.broken = null;
    const old = c.ring;
    c.ring = null;
    if (old === null) return;
    const gt = dev.kernel.grantTable;
    const gfn = old.gfns[0]!;
    if (gt.tryEndForeignAccess(old.refs[0]!)) {
      // Revoked: the page is ours again. Zero it and grant it anew.
      old.pages.fill(0);
      const ref = gt.grantForeignAccess(dev.otherendId, gfn, false);
      if (typeof ref !== "number") {
        dev.kernel.memory.release(gfn);
        await dev.devFatal("ENOSPC", "granting access to ring page");
        return;
      }
      c.ring = { gfns: old.gfns, refs: [ref], pages: old.pages };
    } else {
      // Some domain still maps the old page (it cannot be reused: XSA-396): leave it on the
      // deferred list and start over with a fresh page.
      dev.releaseRing(old);
      c.ring = await dev.setupRing(1);
      if (c.ring === null) return;
    }
    await this.connectBackend(dev, c);
  }

  /** xencons_backend_changed. */
  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    switch (state) {
      case XenbusState.Connected:
        await dev.switchState(XenbusState.Connected);
        return;
      case XenbusState.Closed:
        if (dev.state === XenbusState.Closed) return;
        await this.closed(dev);
        return;
      case XenbusState.Closing:
        await this.closed(dev);
        return;
      default:
        return;
    }
  }

  /**
   * xenbus_frontend_closed. The ring and port are given back at remove (xencons_remove →
   * xencons_disconnect_backend), once the backend has let go of them.
   */
  private async closed(dev: XenbusDevice): Promise<void> {
    await dev.switchState(XenbusState.Closed);
  }

  private async teardown(dev: XenbusDevice): Promise<void> {
    const c = this.devices.get(dev.nodename);
    if (c === undefined) return;
    if (c.port !== 0) await dev.freeEvtchn(c.port);
    c.port = 0;
    if (c.ring !== null) dev.releaseRing(c.ring);
    c.ring = null;
  }

  async remove(dev: XenbusDevice): Promise<void> {
    await this.teardown(dev);
    this.devices.delete(dev.nodename);
  }
}

/** Reads a key of the device's own directory (for tests). */
export async function readOwnKey(dev: XenbusDevice, key: string): Promise<string> {
  return dev.xb.readString(XBT_NIL, `${dev.nodename}/${key}`);
}
