// Path rules of cx: canonicalize(), is_valid_nodename(), valid_chars().

/** Node paths of a domain's home: `/local/domain/<domid>` (cx get_implicit_path()). */
export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** cx canonicalize(): absolute and `@` paths as they are, others below the caller's home. */
export function canonicalize(domid: number, path: string): string {
  const c = path.charCodeAt(0);
  if (c === 47 || c === 64) return path;
  return `${domainPath(domid)}/${path}`;
}

export function isRelative(path: string): boolean {
  return !path.startsWith("/") && !path.startsWith("@");
}

/** Path validation choices that differ between daemons (profile data). */
export interface PathRules {
  /** cx quota_max_path_len: max length after a `/local/domain/<n>/` prefix (or of the whole path). */
  readonly pathMax: number;
  /** Error for a too-long path: cx `EINVAL`, qemu `E2BIG`. */
  readonly tooLongErrno: "EINVAL" | "E2BIG";
  /** qemu: absolute paths longer than this → tooLongErrno (0 = no such check). */
  readonly absPathMax: number;
  /** whether `@` is a valid path character (qemu: no). */
  readonly allowAt: boolean;
  /** whether a trailing `/` is rejected (qemu: accepted). */
  readonly rejectTrailingSlash: boolean;
}

const VALID = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@")
  VALID[c.charCodeAt(0)] = 1;

/** cx valid_chars(). */
export function validChars(path: string, allowAt = true): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c > 255 || VALID[c] === 0) return false;
    if (c === 64 && !allowAt) return false;
  }
  return true;
}

/**
 * Length of the `/local/domain/%5u/` prefix as cx's sscanf("%5u/%n") matches it, or 0.
 * `%5u` takes an optional sign and up to 5 characters in all.
 */
export function localPrefixLength(path: string): number {
  const P = "/local/domain/";
  if (!path.startsWith(P)) return 0;
  let i = P.length;
  const start = i;
  if (path[i] === "+" || path[i] === "-") i++;
  const digits0 = i;
  while (i - start < 5 && i < path.length && path.charCodeAt(i) >= 48 && path.charCodeAt(i) <= 57) i++;
  if (i === digits0) return 0;
  if (path[i] !== "/") return 0;
  return i + 1;
}

export type PathCheck = "ok" | "EINVAL" | "E2BIG";

/**
 * cx is_valid_nodename() for an absolute, canonical node path, in one pass over the path.
 * Errno precedence as cx: not absolute / trailing `/` / `//` → EINVAL, then too long, then an
 * invalid character → EINVAL.
 */
export function checkNodePath(path: string, rules: PathRules): PathCheck {
  const len = path.length;
  if (len === 0 || path.charCodeAt(0) !== 47) return "EINVAL";
  if (rules.rejectTrailingSlash && len > 1 && path.charCodeAt(len - 1) === 47) return "EINVAL";
  let bad = false;
  let prev = 47;
  for (let i = 1; i < len; i++) {
    const c = path.charCodeAt(i);
    if (c === 47 && prev === 47) return "EINVAL";
    if (c > 255 || VALID[c] === 0 || (c === 64 && !rules.allowAt)) bad = true;
    prev = c;
  }
  if (rules.absPathMax > 0 && len > rules.absPathMax) return rules.tooLongErrno;
  if (len > rules.pathMax && len > localPrefixLength(path) + rules.pathMax) return rules.tooLongErrno;
  return bad ? "EINVAL" : "ok";
}

/** Splits a canonical absolute path into components (`/` → []). */
export function splitPath(path: string): string[] {
  if (path === "/") return [];
  const comps = path.split("/");
  comps.shift();
  if (comps.length > 0 && comps[comps.length - 1] === "") comps.pop();
  return comps;
}

/** cx get_parent(). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** cx basename(). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function childPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** cx is_child(): `child` equals `parent` or lies below it; everything lies below `/`. */
export function isChildOrSelf(child: string, parent: string): boolean {
  if (parent === "/") return true;
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || child.charCodeAt(parent.length) === 47;
}

/** Special watch paths (cx check_special_event). */
export const SPECIAL_INTRODUCE = "@introduceDomain";
export const SPECIAL_RELEASE = "@releaseDomain";
export function isSpecialPath(path: string): boolean {
  return path.startsWith("@");
}
