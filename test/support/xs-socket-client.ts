// A tiny raw-frame XenStore client over a Unix socket, built on our wire codec. Frames are
// collected in arrival order; helpers wait for a reply by req_id.
import { connect, type Socket } from "node:net";
import { FrameParser, type XsFrame, XsFrameError, XsType } from "@xensim/xenstore-core/wire";

export class XsSocketClient {
  /** every frame received, in order (replies and watch events) */
  readonly received: XsFrame[] = [];
  private readonly parser = new FrameParser();
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.parser.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      for (;;) {
        const f = this.parser.next();
        if (f === null || f instanceof XsFrameError) break;
        this.received.push(f);
      }
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connects; retries while the daemon's small listen backlog answers EAGAIN. */
  static async connect(path: string, timeoutMs = 3000): Promise<XsSocketClient> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await XsSocketClient.tryConnect(path, Math.max(1, end - Date.now()));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== "EAGAIN" && code !== "ECONNREFUSED") || Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  private static tryConnect(path: string, timeoutMs: number): Promise<XsSocketClient> {
    return new Promise((resolveP, reject) => {
      const s = connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect ${path}: timeout`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        resolveP(new XsSocketClient(s));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.sock.write(bytes);
  }

  /** Waits until `pred(received)` holds, the socket closes, or the timeout; returns whether it held. */
  async waitFor(pred: (frames: XsFrame[]) => boolean, timeoutMs = 3000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!pred(this.received)) {
      if (this.closed) return pred(this.received);
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }

  /** Waits for the reply (non-event frame) with this req_id; returns it, or null on timeout. */
  async reply(reqId: number, timeoutMs = 3000): Promise<XsFrame | null> {
    const find = (fs: XsFrame[]) => fs.find((f) => f.type !== XsType.WATCH_EVENT && f.reqId === reqId);
    await this.waitFor((fs) => find(fs) !== undefined, timeoutMs);
    return find(this.received) ?? null;
  }

  /** Removes and returns everything received so far. */
  drain(): XsFrame[] {
    return this.received.splice(0, this.received.length);
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
