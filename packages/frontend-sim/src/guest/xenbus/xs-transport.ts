/**
 * How a XenStore client's bytes reach xenstored and come back. A guest's transport is its XenStore
 * ring page plus an event channel (xs-ring-transport.ts); a dom0 process's is a socket-like stream
 * scheduled like any other hop. The client never knows which.
 */
export interface XsTransport {
  /** Queues one whole request frame; the transport moves it out as space allows. */
  send(frame: Uint8Array): void;
  /** Registers the receiver of server bytes (replies and watch events, in any chunking). */
  onData(receiver: (chunk: Uint8Array) => void): void;
  /** Called when the transport fails for good (e.g. the server set the ring's `error` field). */
  onFatal?(receiver: (reason: string) => void): void;
}
