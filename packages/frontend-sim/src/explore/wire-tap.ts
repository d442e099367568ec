// Wrappers around xenstored's connections, on the server → client byte stream: the reply-order
// monitor every run installs (a safety invariant) and the hook the reorder mutant uses. They patch
// the connection *instances* (never the server's code): `takeOutput` is what every transport
// (guest ring, dom0 socket) pulls bytes through.
import type { XenStoreServer, XsConnection } from "@xensim/xenstore-core";
import { FrameParser, splitStrings, XsFrameError, XsType } from "@xensim/xenstore-core/wire";

export type OutputFilter = (
  conn: XsConnection,
  take: (max?: number) => Uint8Array,
) => (max?: number) => Uint8Array;
export type InputObserver = (conn: XsConnection) => (bytes: Uint8Array) => void;

/** Applies `filter` to the output of every connection, present and future (and observes input). */
export function tapConnections(server: XenStoreServer, filter: OutputFilter, input?: InputObserver): void {
  const patched = new WeakSet<XsConnection>();
  const patch = (c: XsConnection): void => {
    if (patched.has(c)) return;
    patched.add(c);
    const inner = c.takeOutput.bind(c);
    c.takeOutput = filter(c, inner);
    if (input !== undefined) {
      const see = input(c);
      const deliver = c.deliver.bind(c);
      c.deliver = (bytes) => {
        see(bytes);
        deliver(bytes);
      };
    }
  };
  for (const c of server.connections()) patch(c);
  const connect = server.connect.bind(server);
  server.connect = (options) => {
    const c = connect(options);
    patch(c);
    return c;
  };
}

/**
 * Two orderings every xenstored keeps on a connection, checked on the bytes that leave it:
 * - requests are answered in the order received (our clients number requests upwards, so each
 *   reply carries a larger req_id than the one before; in-order clients such as libxenstore's
 *   rely on it);
 * - a watch's first event comes after the WATCH reply (cxenstored do_watch: send_ack, then the
 *   initial fire).
 * Violations are appended to `failures`.
 */
export function installReplyOrderMonitor(server: XenStoreServer, failures: string[]): void {
  const note = (msg: string): void => {
    if (failures.length < 8 && !failures.includes(msg)) failures.push(msg);
  };
  const awaiting = new WeakMap<XsConnection, { byReq: Map<number, string>; tokens: Set<string> }>();
  const stateOf = (c: XsConnection) => {
    let st = awaiting.get(c);
    if (st === undefined) {
      st = { byReq: new Map(), tokens: new Set() };
      awaiting.set(c, st);
    }
    return st;
  };
  tapConnections(
    server,
    (conn, take) => {
      const parser = new FrameParser();
      let last = -1;
      return (max) => {
        const bytes = take(max);
        if (bytes.length === 0) return bytes;
        const st = stateOf(conn);
        parser.push(bytes);
        for (let f = parser.next(); f !== null; f = parser.next()) {
          if (f instanceof XsFrameError) break;
          if (f.type === XsType.WATCH_EVENT) {
            const token = splitStrings(f.payload).strings[1] ?? "";
            if (st.tokens.has(token))
              note(
                `xenstored sent a watch event (token ${token}) before the WATCH reply on connection ${conn.id}`,
              );
            continue;
          }
          const t = st.byReq.get(f.reqId);
          if (t !== undefined) {
            st.byReq.delete(f.reqId);
            st.tokens.delete(t);
          }
          if (f.reqId <= last)
            note(
              `xenstored reply out of order on connection ${conn.id} (dom${conn.domid}): req_id ${f.reqId} after ${last}`,
            );
          last = Math.max(last, f.reqId);
        }
        return bytes;
      };
    },
    (conn) => {
      const parser = new FrameParser();
      return (bytes) => {
        parser.push(bytes);
        for (let f = parser.next(); f !== null; f = parser.next()) {
          if (f instanceof XsFrameError) break;
          if (f.type !== XsType.WATCH) continue;
          const token = splitStrings(f.payload).strings[1];
          if (token === undefined) continue;
          const st = stateOf(conn);
          st.byReq.set(f.reqId, token);
          st.tokens.add(token);
        }
      };
    },
  );
}
