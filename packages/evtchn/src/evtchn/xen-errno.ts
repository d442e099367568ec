/** Xen's errno values (xen/include/public/errno.h); hypercalls return them negated. */
export const XEN_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ETIME: 62,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ERESTART: 85,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
} as const;

export type XenErrno = keyof typeof XEN_ERRNO;

/** The outcome of a hypercall-like operation: a value, or the errno Xen would return. */
export type XenResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errno: XenErrno };

export function ok<T>(value: T): XenResult<T> {
  return { ok: true, value };
}

export function fail<T = never>(errno: XenErrno): XenResult<T> {
  return { ok: false, errno };
}

/** The negative number the hypercall itself returns (`-EINVAL` = -22), 0 on success. */
export function hypercallReturn(r: XenResult<unknown>): number {
  return r.ok ? 0 : -XEN_ERRNO[r.errno];
}

/** Unwraps a result or throws (for test code and toolstack steps that must not fail). */
export function unwrap<T>(r: XenResult<T>, what = "hypercall"): T {
  if (!r.ok) throw new Error(`${what} failed: ${r.errno}`);
  return r.value;
}
