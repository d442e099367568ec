// Node permissions: xs_lib.c xs_strings_to_perms()/xs_perm_to_string() and cx perm_for_conn().

export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
/** cx XS_PERM_OWNER: internal, never on the wire. */
export const PERM_OWNER = 4;
export const PERM_ALL = PERM_READ | PERM_WRITE | PERM_OWNER;
/**
 * cx XS_PERM_IGNORE (xenstore_lib.h): an ACL entry of a domain that did not exist, or was
 * created after the node was written (XSA-419, see XsStore.effectivePerms). Kept with the
 * entry (GET_PERMS still shows it, `formatPerm` masks it) and skipped by permForCaller.
 */
export const PERM_IGNORE = 0x10;

/** One ACL entry: a domid and its READ/WRITE bits. Entry 0 = owner + default for others. */
export interface PermEntry {
  readonly id: number;
  readonly perm: number;
}
export type Perms = readonly PermEntry[];

const LETTERS = ["n", "r", "w", "b"] as const;

/** `"r5"` etc. (xs_perm_to_string: `%c%u`). */
export function formatPerm(e: PermEntry): string {
  return `${LETTERS[e.perm & 3]}${e.id >>> 0}`;
}

export function formatPerms(perms: Perms): string[] {
  return perms.map(formatPerm);
}

const SPACE = new Set([" ", "\t", "\n", "\v", "\f", "\r"]);

/**
 * C `strtol(p, &end, 0)` restricted to what matters here: returns the value truncated to
 * unsigned 32 bits and whether the whole string was consumed and non-empty.
 */
function strtolBase0(s: string): number | null {
  if (s.length === 0) return null;
  let i = 0;
  while (i < s.length && SPACE.has(s[i]!)) i++;
  let neg = false;
  if (s[i] === "+" || s[i] === "-") {
    neg = s[i] === "-";
    i++;
  }
  let base = 10;
  if (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && /[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
    base = 16;
    i += 2;
  } else if (s[i] === "0") base = 8;
  const start = i;
  let v = 0n;
  for (; i < s.length; i++) {
    const d = Number.parseInt(s[i]!, base);
    if (Number.isNaN(d)) break;
    v = v * BigInt(base) + BigInt(d);
    if (v > 0x7fffffffffffffffn) v = 0x7fffffffffffffffn + 1n;
  }
  if (i === start) return null;
  if (i !== s.length) return null;
  if (v > 0x7fffffffffffffffn) v = neg ? 0x8000000000000000n : 0x7fffffffffffffffn;
  else if (neg) v = -v;
  return Number(BigInt.asUintN(32, v));
}

/** xs_strings_to_perms() for one string: letter n/r/w/b + domid (strtol base 0). */
export function parsePerm(s: string): PermEntry | null {
  const letter = s[0];
  let perm: number;
  switch (letter) {
    case "n":
      perm = PERM_NONE;
      break;
    case "r":
      perm = PERM_READ;
      break;
    case "w":
      perm = PERM_WRITE;
      break;
    case "b":
      perm = PERM_READ | PERM_WRITE;
      break;
    default:
      return null;
  }
  const id = strtolBase0(s.slice(1));
  if (id === null) return null;
  return { id, perm };
}

/** All-or-nothing parse of a perm list; `null` on any bad entry. */
export function parsePerms(strings: readonly string[]): Perms | null {
  const out: PermEntry[] = [];
  for (const s of strings) {
    const e = parsePerm(s);
    if (!e) return null;
    out.push(e);
  }
  return out;
}

/** Who is asking: what cx keeps in `struct connection` for perm_for_conn(). */
export interface Caller {
  readonly domid: number;
  /** dom0, the configured privileged domid, or a socket (tools) client. */
  readonly privileged: boolean;
  /** SET_TARGET target of the caller's domain, if any. */
  readonly target: number | undefined;
}

/**
 * cx perm_for_conn(): privileged, owner or owner's SET_TARGET stub → everything; else the
 * first later entry naming the caller (or its target) decides, entries marked PERM_IGNORE
 * skipped; else the owner entry's letter.
 */
export function permForCaller(caller: Caller, perms: Perms, lastMatchWins = false): number {
  const owner = perms[0];
  if (caller.privileged || owner === undefined) return PERM_ALL;
  if (owner.id === caller.domid || (caller.target !== undefined && owner.id === caller.target))
    return PERM_ALL;
  let found: number | undefined;
  for (let i = 1; i < perms.length; i++) {
    const e = perms[i]!;
    if ((e.perm & PERM_IGNORE) !== 0) continue;
    if (e.id === caller.domid || (caller.target !== undefined && e.id === caller.target)) {
      found = e.perm & PERM_ALL;
      if (!lastMatchWins) return found;
    }
  }
  return found ?? owner.perm & PERM_ALL;
}

export function permsEqual(a: Perms, b: Perms): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.id !== b[i]!.id || a[i]!.perm !== b[i]!.perm) return false;
  return true;
}
