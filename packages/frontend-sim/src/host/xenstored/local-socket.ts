import type { Scheduler } from "@xensim/evtchn";
import type { XenStoreServer, XsConnection } from "@xensim/xenstore-core";
import type { XsTransport } from "../../guest/xenbus/xs-transport.ts";

/**
 * A dom0 process's connection to xenstored (the Unix socket /var/run/xenstored/socket): bytes
 * travel as scheduler tasks — client → xenstored on the xenstored actor, replies back on the
 * client's actor — so a toolstack or backend in dom0 is interleaved with everything else exactly
 * like a guest on its ring. Connections here are privileged (dom0), as on a real host.
 */
export class LocalSocketTransport implements XsTransport {
  private readonly conn: XsConnection;
  private receiver: (chunk: Uint8Array) => void = () => {};
  private flushPosted = false;

  constructor(
    private readonly sched: Scheduler,
    server: XenStoreServer,
    private readonly clientActor: string,
    private readonly serverActor = "xenstored",
    label = clientActor,
  ) {
    this.conn = server.connect({ domid: 0, label });
    this.conn.onOutput(() => this.scheduleFlush());
  }

  get connection(): XsConnection {
    return this.conn;
  }

  send(frame: Uint8Array): void {
    this.sched.post(this.serverActor, `sock:${this.clientActor}`, () => this.conn.deliver(frame));
  }

  onData(receiver: (chunk: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  close(): void {
    this.conn.close();
  }

  private scheduleFlush(): void {
    if (this.flushPosted) return;
    this.flushPosted = true;
    this.sched.post(this.clientActor, "sock:recv", () => {
      this.flushPosted = false;
      const bytes = this.conn.takeOutput();
      if (bytes.length > 0) this.receiver(bytes);
    });
  }
}
