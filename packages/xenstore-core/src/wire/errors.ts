// xs_wire.h `xsd_errors`: the only error strings a server may send, in array order.

export const XS_ERRORS = [
  "EINVAL",
  "EACCES",
  "EEXIST",
  "EISDIR",
  "ENOENT",
  "ENOMEM",
  "ENOSPC",
  "EIO",
  "ENOTEMPTY",
  "ENOSYS",
  "EROFS",
  "EBUSY",
  "EAGAIN",
  "EISCONN",
  "E2BIG",
  "EPERM",
] as const;

/** One of the error names of `xsd_errors`. */
export type XsErrno = (typeof XS_ERRORS)[number];

/** Linux errno numbers of the `xsd_errors` names. */
export const XS_ERRNO_NUMBERS: Readonly<Record<XsErrno, number>> = {
  EINVAL: 22,
  EACCES: 13,
  EEXIST: 17,
  EISDIR: 21,
  ENOENT: 2,
  ENOMEM: 12,
  ENOSPC: 28,
  EIO: 5,
  ENOTEMPTY: 39,
  ENOSYS: 38,
  EROFS: 30,
  EBUSY: 16,
  EAGAIN: 11,
  EISCONN: 106,
  E2BIG: 7,
  EPERM: 1,
};

const SET: ReadonlySet<string> = new Set(XS_ERRORS);

export function isXsErrno(s: string): s is XsErrno {
  return SET.has(s);
}

/** Why a byte stream cannot be parsed into frames. */
export type XsFrameErrorKind =
  /** header `len` > XENSTORE_PAYLOAD_MAX: fatal for the connection (cx closes it, ring: XENSTORE_ERROR_PROTO). */
  | "oversized"
  /** the stream ended inside a frame. */
  | "truncated";

/** A framing error reported by {@link FrameParser} (never thrown by it). */
export class XsFrameError extends Error {
  override readonly name = "XsFrameError";
  constructor(
    readonly kind: XsFrameErrorKind,
    message: string,
    /** header of the offending frame, when one was read */
    readonly header?: { type: number; reqId: number; txId: number; len: number },
  ) {
    super(message);
  }
}
