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
  private conn: XsConnection;
  private unlisten: () => void;
  private receiver: (chunk: Uint8Array) => void = () => {};
  private flushPosted = false;
  /** The label of every send task (built once: a send is one task per request). */
  private readonly sendLabel: string;

  constructor(
    private readonly sched: Scheduler,
    server: XenStoreServer,
    private readonly clientActor: string,
    private readonly serverActor = "xenstored",
    label = clientActor,
  ) {
    this.sendLabel = `sock:${clientActor}`;
    this.conn = server.connect({ domid: 0, label });
    this.unlisten = this.conn.onOutput(() => this.scheduleFlush());
  }

  /**
   * xenstored was live-updated: the socket stays open (cxenstored hands its fds to the new
   * binary), and the restored server holds this connection under the same id — with whatever
   * request bytes it had not parsed and replies it had not sent.
   */
  reattach(server: XenStoreServer): void {
    if (this.conn.closed) return;
    const restored = server.connection(this.conn.id);
    if (restored === undefined) throw new Error(`restored xenstored lost socket connection ${this.conn.id}`);
    this.unlisten();
    this.conn = restored;
    this.unlisten = restored.onOutput(() => this.scheduleFlush());
    if (restored.outputBytes > 0) this.scheduleFlush();
  }

  get connection(): XsConnection {
    return this.conn;
  }

  send(frame: Uint8Array): void {
    this.sched.post(this.serverActor, this.sendLabel, () => this.conn.deliver(frame));
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
