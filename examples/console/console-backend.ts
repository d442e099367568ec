// A xenconsoled-like backend for XenBus consoles (QEMU hw/char/xen_console.c plays this role for
// secondary consoles): InitWait at probe; once the frontend has published `ring-ref` and `port`
// and is Initialised, map the page, bind the port, go Connected; log what the guest writes.
import {
  errOf,
  type MappedRing,
  XBT_NIL,
  type XenbusDevice,
  type XenbusDriver,
  XenbusState,
} from "@xensim/frontend-sim";
import { IN, OUT, ringRead, ringWrite } from "./console-ring.ts";

export class ConsoleBackDevice {
  ring: MappedRing | null = null;
  port = 0;
  /** Everything the guest wrote. */
  log = "";
  constructor(readonly dev: XenbusDevice) {}

  /** Sends keyboard input to the guest. */
  type(text: string): number {
    if (this.ring === null) return 0;
    const n = ringWrite(this.ring.pages, IN, new TextEncoder().encode(text));
    if (typeof n !== "number") return 0;
    this.dev.kernel.events.send(this.port);
    return n;
  }

  onEvent(): void {
    if (this.ring === null) return;
    const got = ringRead(this.ring.pages, OUT);
    if (!(got instanceof Uint8Array)) {
      void this.dev.devFatal("EIO", `console ring: ${got.message}`);
      return;
    }
    if (got.length === 0) return;
    this.log += new TextDecoder().decode(got);
    this.dev.kernel.events.send(this.port); // space freed: the guest may be waiting
  }
}

export class ConsoleBackend implements XenbusDriver {
  readonly type = "console";
  readonly devices = new Map<string, ConsoleBackDevice>();

  async probe(dev: XenbusDevice): Promise<void> {
    this.devices.set(dev.nodename, new ConsoleBackDevice(dev));
    await dev.switchState(XenbusState.InitWait);
  }

  async otherendChanged(dev: XenbusDevice, state: XenbusState): Promise<void> {
    const c = this.devices.get(dev.nodename);
    if (c === undefined) return;
    if (
      (state === XenbusState.Initialised || state === XenbusState.Connected) &&
      (dev.state === XenbusState.InitWait || dev.state === XenbusState.Closed)
    ) {
      // From Closed too: when the frontend reinitialises after a close, two watch events may
      // fire in close succession and we may read Initialised without having seen Initialising
      // (Linux blkback frontend_changed connects from any state but Connected for that reason).
      await this.connect(dev, c);
    } else if (state === XenbusState.Initialising && dev.state === XenbusState.Closed) {
      // The frontend starts over after a close — a Windows-style close cycle, a frontend that
      // reconnects after a backend restart: "prepare for reconnect" (Linux blkback
      // frontend_changed), back to InitWait. Found by exploreHandshake's `windows` profile:
      // without it the backend stayed Closed and the pair never connected.
      await dev.switchState(XenbusState.InitWait);
    } else if (state === XenbusState.Closing || state === XenbusState.Closed) {
      await this.disconnect(dev, c);
      await dev.switchState(XenbusState.Closed);
    } else if (state === XenbusState.Unknown) {
      // The frontend's directory is gone (a forced removal, the guest destroyed): nobody will
      // answer any more. Close and let go of the device (netback's frontend_changed does the
      // same). Found by exploreHandshake: without it a removal that overtook the backend's
      // probe left the backend Closing forever.
      await this.disconnect(dev, c);
      await dev.switchState(XenbusState.Closed);
      await dev.unregister();
    }
  }

  private async connect(dev: XenbusDevice, c: ConsoleBackDevice): Promise<void> {
    // Idempotent, as xen_blkif_disconnect before connect_ring: never leak an old mapping.
    await this.disconnect(dev, c);
    let ref: number;
    let port: number;
    try {
      ref = Number(await dev.xb.readString(XBT_NIL, `${dev.otherend}/ring-ref`));
      port = Number(await dev.xb.readString(XBT_NIL, `${dev.otherend}/port`));
    } catch (e) {
      await dev.devFatal(errOf(e), `reading ${dev.otherend}/ring-ref and port`);
      return;
    }
    c.ring = await dev.mapRing([ref]);
    if (c.ring === null) return;
    const bound = dev.kernel.events.bindInterdomain(dev.otherendId, port);
    if (!bound.ok) {
      await dev.unmapRing(c.ring);
      c.ring = null;
      await dev.devFatal(bound.errno, `binding port ${port} of domain ${dev.otherendId}`);
      return;
    }
    c.port = bound.value;
    dev.kernel.events.bindHandler(c.port, () => c.onEvent(), {
      actor: `dom${dev.kernel.domid}:xenconsoled`,
      label: `xenconsoled:${dev.otherendId}`,
    });
    await dev.switchState(XenbusState.Connected);
  }

  private async disconnect(dev: XenbusDevice, c: ConsoleBackDevice): Promise<void> {
    if (c.port !== 0) dev.kernel.events.close(c.port);
    c.port = 0;
    if (c.ring !== null) await dev.unmapRing(c.ring);
    c.ring = null;
  }

  async remove(dev: XenbusDevice): Promise<void> {
    const c = this.devices.get(dev.nodename);
    if (c !== undefined) await this.disconnect(dev, c);
    this.devices.delete(dev.nodename);
  }
}
