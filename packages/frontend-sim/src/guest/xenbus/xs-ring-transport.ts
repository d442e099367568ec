import type { DomainEvents, Scheduler } from "@xensim/evtchn";
import {
  type WritablePage,
  XENSTORE_CONNECTED,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XenstoreGuestEnd,
  XenstoreInterface,
} from "@xensim/ring";
import type { XsTransport } from "./xs-transport.ts";

export interface XsRingTransportOptions {
  readonly sched: Scheduler;
  /** The guest's own XenStore page (start_info.store_mfn / HVM_PARAM_STORE_PFN). */
  readonly page: WritablePage;
  /** The guest's event channel API and its store port (start_info.store_evtchn). */
  readonly events: DomainEvents;
  readonly port: number;
  /** Actor name for trace records (the guest kernel, `dom<N>`). */
  readonly actor: string;
}

/**
 * The guest end of the XenStore ring (Linux drivers/xen/xenbus/xenbus_comms.c): request frames
 * are copied into `req` as space allows, publishing `req_prod` and kicking the event channel
 * after each write; each upcall drains `rsp` into the client and kicks back, because xenstored
 * may be waiting for space. Bytes left over when `req` is full wait for the next upcall.
 */
export class XsRingTransport implements XsTransport {
  private readonly iface: XenstoreInterface;
  private readonly end: XenstoreGuestEnd;
  private readonly outQueue: Uint8Array[] = [];
  private outOffset = 0;
  private receiver: (chunk: Uint8Array) => void = () => {};
  private fatalReceiver: (reason: string) => void = () => {};
  private readonly scratch = new Uint8Array(XENSTORE_RING_SIZE);
  private reconnecting: (() => void) | null = null;
  private dead = false;

  constructor(private readonly options: XsRingTransportOptions) {
    this.iface = new XenstoreInterface(options.page);
    this.end = new XenstoreGuestEnd(options.page);
    options.events.bindHandler(options.port, () => this.onEvent(), { label: "xenbus" });
  }

  send(frame: Uint8Array): void {
    this.outQueue.push(frame);
    this.flush();
  }

  onData(receiver: (chunk: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  onFatal(receiver: (reason: string) => void): void {
    this.fatalReceiver = receiver;
  }

  /** Bytes queued by the client that are not yet in the ring. */
  get queuedBytes(): number {
    let n = -this.outOffset;
    for (const f of this.outQueue) n += f.length;
    return n;
  }

  /**
   * Asks xenstored for a fresh connection (xenstore-ring.txt reconnection): only when the server
   * advertises RECONNECTION. Resolves once the server has set `connection` back to 0. Requests
   * queued but not yet written are dropped with the old connection.
   */
  reconnect(): Promise<void> {
    if (!(this.iface.serverFeatures & XENSTORE_SERVER_FEATURE_RECONNECTION)) {
      return Promise.reject(new Error("xenstored does not advertise XENSTORE_SERVER_FEATURE_RECONNECTION"));
    }
    this.outQueue.length = 0;
    this.outOffset = 0;
    this.iface.connection = XENSTORE_RECONNECT;
    this.trace("xs.ring.reconnect_request", {});
    this.kick();
    return new Promise((resolve) => {
      this.reconnecting = resolve;
    });
  }

  private onEvent(): void {
    if (this.dead) return;
    if (this.reconnecting !== null) {
      // While reconnecting the guest looks at nothing but `connection`.
      if (this.iface.connection !== XENSTORE_CONNECTED) return;
      const done = this.reconnecting;
      this.reconnecting = null;
      this.trace("xs.ring.reconnected", {});
      done();
    }
    if (this.iface.error !== 0) {
      this.dead = true;
      this.fatalReceiver(`xenstored set error=${this.iface.error}`);
      return;
    }
    this.drain();
    this.flush();
  }

  private drain(): void {
    let consumed = false;
    for (;;) {
      const n = this.end.read(this.scratch);
      if (typeof n !== "number") {
        this.dead = true;
        this.fatalReceiver(`bad rsp indexes prod=${n.prod} cons=${n.cons}`);
        return;
      }
      if (n === 0) break;
      consumed = true;
      if (this.options.sched.trace.enabled) {
        this.trace("xs.ring.rsp_consumed", { bytes: n, rsp_cons: this.iface.rspCons });
      }
      this.receiver(this.scratch.slice(0, n));
    }
    if (consumed) this.kick();
  }

  private flush(): void {
    if (this.dead || this.reconnecting !== null) return;
    let wrote = false;
    while (this.outQueue.length > 0) {
      const f = this.outQueue[0]!;
      const n = this.end.write(f, this.outOffset, f.length - this.outOffset);
      if (typeof n !== "number") {
        this.dead = true;
        this.fatalReceiver(`bad req indexes prod=${n.prod} cons=${n.cons}`);
        return;
      }
      if (n === 0) break;
      wrote = true;
      this.outOffset += n;
      if (this.options.sched.trace.enabled) {
        this.trace("xs.ring.req_produced", { bytes: n, req_prod: this.iface.reqProd });
      }
      if (this.outOffset === f.length) {
        this.outQueue.shift();
        this.outOffset = 0;
      }
    }
    if (wrote) this.kick();
  }

  private kick(): void {
    this.options.events.send(this.options.port);
  }

  private trace(kind: string, details: Record<string, number | string>): void {
    this.options.sched.trace.emit(this.options.actor, kind, details);
  }
}
