// Client-side codec: typed request encoders and reply/event decoding, for guest xenbus
// clients and test harnesses. Depends on the wire layer only.
import { isXsErrno, type XsErrno } from "./errors.ts";
import { encodeFrame, type XsFrame } from "./frame.ts";
import { bytesToLatin1, decodeWatchEvent, encodeStrings, encodeWrite, splitStrings } from "./payload.ts";
import { XsType } from "./xs-wire.ts";

export interface RequestIds {
  reqId?: number;
  txId?: number;
}

function frame(type: number, payload: Uint8Array, ids: RequestIds = {}): Uint8Array {
  return encodeFrame({ type, reqId: ids.reqId ?? 0, txId: ids.txId ?? 0, payload });
}

/** Encoders for every request type; each returns a whole wire frame. */
export const XsRequest = {
  raw: (type: number, payload: Uint8Array, ids?: RequestIds) => frame(type, payload, ids),
  read: (path: string, ids?: RequestIds) => frame(XsType.READ, encodeStrings([path]), ids),
  directory: (path: string, ids?: RequestIds) => frame(XsType.DIRECTORY, encodeStrings([path]), ids),
  directoryPart: (path: string, offset: number, ids?: RequestIds) =>
    frame(XsType.DIRECTORY_PART, encodeStrings([path, String(offset)]), ids),
  getPerms: (path: string, ids?: RequestIds) => frame(XsType.GET_PERMS, encodeStrings([path]), ids),
  write: (path: string, value: Uint8Array | string, ids?: RequestIds) =>
    frame(XsType.WRITE, encodeWrite(path, value), ids),
  mkdir: (path: string, ids?: RequestIds) => frame(XsType.MKDIR, encodeStrings([path]), ids),
  rm: (path: string, ids?: RequestIds) => frame(XsType.RM, encodeStrings([path]), ids),
  setPerms: (path: string, perms: readonly string[], ids?: RequestIds) =>
    frame(XsType.SET_PERMS, encodeStrings([path, ...perms]), ids),
  watch: (path: string, token: string, ids?: RequestIds) =>
    frame(XsType.WATCH, encodeStrings([path, token]), ids),
  unwatch: (path: string, token: string, ids?: RequestIds) =>
    frame(XsType.UNWATCH, encodeStrings([path, token]), ids),
  transactionStart: (ids?: RequestIds) => frame(XsType.TRANSACTION_START, encodeStrings([""]), ids),
  transactionEnd: (commit: boolean, ids: RequestIds) =>
    frame(XsType.TRANSACTION_END, encodeStrings([commit ? "T" : "F"]), ids),
  introduce: (domid: number, gfn: number | bigint, port: number, ids?: RequestIds) =>
    frame(XsType.INTRODUCE, encodeStrings([String(domid), String(gfn), String(port)]), ids),
  release: (domid: number, ids?: RequestIds) => frame(XsType.RELEASE, encodeStrings([String(domid)]), ids),
  getDomainPath: (domid: number, ids?: RequestIds) =>
    frame(XsType.GET_DOMAIN_PATH, encodeStrings([String(domid)]), ids),
  isDomainIntroduced: (domid: number, ids?: RequestIds) =>
    frame(XsType.IS_DOMAIN_INTRODUCED, encodeStrings([String(domid)]), ids),
  resume: (domid: number, ids?: RequestIds) => frame(XsType.RESUME, encodeStrings([String(domid)]), ids),
  setTarget: (domid: number, target: number, ids?: RequestIds) =>
    frame(XsType.SET_TARGET, encodeStrings([String(domid), String(target)]), ids),
  resetWatches: (ids?: RequestIds) => frame(XsType.RESET_WATCHES, encodeStrings([""]), ids),
  control: (args: readonly string[], ids?: RequestIds) => frame(XsType.CONTROL, encodeStrings(args), ids),
} as const;

/** A decoded server → client frame. */
export type XsReply =
  | { kind: "error"; reqId: number; txId: number; type: number; errno: XsErrno | string }
  | { kind: "event"; path: string; token: string }
  | { kind: "reply"; reqId: number; txId: number; type: number; payload: Uint8Array };

/** Classifies a server frame as error, watch event or reply. */
export function decodeReply(f: XsFrame): XsReply {
  if (f.type === XsType.ERROR) {
    const s = splitStrings(f.payload).strings[0] ?? bytesToLatin1(f.payload);
    return { kind: "error", reqId: f.reqId, txId: f.txId, type: f.type, errno: isXsErrno(s) ? s : s };
  }
  if (f.type === XsType.WATCH_EVENT) {
    const ev = decodeWatchEvent(f.payload);
    if (ev) return { kind: "event", path: ev.path, token: ev.token };
  }
  return { kind: "reply", reqId: f.reqId, txId: f.txId, type: f.type, payload: f.payload };
}

/** A reply payload's NUL-separated list (DIRECTORY, GET_PERMS) as strings. */
export function decodeList(payload: Uint8Array): string[] {
  return splitStrings(payload).strings;
}
