import { isXsErrno, XS_ERRNO_NUMBERS, type XsErrno } from "@xensim/xenstore-core/wire";

/**
 * A failed XenStore request, as Linux's xenbus reports it: the errno the server named. An error
 * string outside `xsd_errors` becomes EINVAL (Linux xenbus_xs.c get_error()).
 */
export class XenbusError extends Error {
  readonly errno: XsErrno;
  constructor(
    errno: string,
    readonly op: string,
  ) {
    const known: XsErrno = isXsErrno(errno) ? errno : "EINVAL";
    super(`${op}: ${known}`);
    this.name = "XenbusError";
    this.errno = known;
  }
  /** The negative Linux errno (-ENOENT = -2), as kernel callers see it. */
  get code(): number {
    return -XS_ERRNO_NUMBERS[this.errno];
  }
}

export function isXenbusError(e: unknown, errno?: XsErrno): e is XenbusError {
  return e instanceof XenbusError && (errno === undefined || e.errno === errno);
}

/** XENBUS_EXIST_ERR: the node is simply not there. */
export function isExistErr(e: unknown): boolean {
  return isXenbusError(e, "ENOENT");
}
