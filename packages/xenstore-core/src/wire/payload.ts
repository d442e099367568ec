// Payload encodings of xs_wire.h messages: NUL-terminated strings, lists, WATCH_EVENT.
// Paths and tokens are handled as byte strings (one char per byte, latin1), so any byte
// sequence round-trips; UTF-8 never enters the protocol layer.

const EMPTY = new Uint8Array(0);

/**
 * Node's native latin1 decoder (`Buffer.prototype.latin1Slice`, what `buf.toString("latin1")`
 * calls), usable on any Uint8Array; absent outside Node, where the JS loop below is used.
 */
const nativeLatin1 = (
  globalThis as { Buffer?: { prototype: { latin1Slice?: (start: number, end: number) => string } } }
).Buffer?.prototype.latin1Slice;

/**
 * Short strings decoded lately, one per slot by a hash of their bytes: a daemon sees the same
 * paths, tokens and values over and over, and hashing a few dozen bytes and comparing them with
 * the slot's string costs less than the native decoder's call (measured: 42 vs 71 ns for a
 * 9-byte path, map lookup included; an interned string also keeps its hash for the store's
 * maps). Bounded (SLOTS strings of at most SHORT chars); a collision just replaces the slot.
 */
const SHORT = 48;
const SLOTS = 4096;
const recent: (string | undefined)[] = new Array(SLOTS);

/** Bytes → string, one char per byte (latin1). */
export function bytesToLatin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const n = end - start;
  if (n <= 0) return "";
  if (n <= SHORT && nativeLatin1 !== undefined) {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
    const slot = (h ^ n) & (SLOTS - 1);
    const c = recent[slot];
    if (c !== undefined && c.length === n) {
      let i = 0;
      while (i < n && c.charCodeAt(i) === bytes[start + i]) i++;
      if (i === n) return c;
    }
    const s = nativeLatin1.call(bytes, start, end);
    recent[slot] = s;
    return s;
  }
  if (nativeLatin1 !== undefined) return nativeLatin1.call(bytes, start, end);
  let s = "";
  if (end - start <= 64) {
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  const CHUNK = 8192;
  for (let i = start; i < end; i += CHUNK) {
    const j = Math.min(end, i + CHUNK);
    s += String.fromCharCode.apply(null, bytes.subarray(i, j) as unknown as number[]);
  }
  return s;
}

/** String → bytes, one byte per char (chars above 0xff are truncated to their low byte). */
export function latin1ToBytes(s: string): Uint8Array {
  if (s.length === 0) return EMPTY;
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/**
 * Copies src[start, end) to dst at `at`. A few dozen bytes (a request, a reply's "OK\0" or
 * value) go by a loop, cheaper than TypedArray.prototype.set and the subarray it needs.
 */
export function copyBytes(dst: Uint8Array, at: number, src: Uint8Array, start = 0, end = src.length): void {
  const n = end - start;
  if (n <= 64) for (let i = 0; i < n; i++) dst[at + i] = src[start + i] as number;
  else dst.set(start === 0 && end === src.length ? src : src.subarray(start, end), at);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** `s1\0s2\0…`: every string NUL-terminated (DIRECTORY, GET_PERMS, WATCH, INTRODUCE, …). */
export function encodeStrings(strings: readonly string[]): Uint8Array {
  let n = 0;
  for (const s of strings) n += s.length + 1;
  const out = new Uint8Array(n);
  let off = 0;
  for (const s of strings) {
    for (let i = 0; i < s.length; i++) out[off++] = s.charCodeAt(i) & 0xff;
    out[off++] = 0;
  }
  return out;
}

/** A single NUL-terminated string (`"OK\0"`, error names, GET_DOMAIN_PATH). */
export function encodeString(s: string): Uint8Array {
  const n = s.length;
  const out = new Uint8Array(n + 1);
  for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Splits a payload at NULs. `strings` are the NUL-terminated strings; `rest` is whatever
 * follows the last NUL (empty when the payload ends with a NUL).
 */
export function splitStrings(payload: Uint8Array): { strings: string[]; rest: string } {
  const strings: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      strings.push(bytesToLatin1(payload, start, i));
      start = i + 1;
    }
  }
  return { strings, rest: bytesToLatin1(payload, start) };
}

/** Number of NUL bytes in a payload (cx `get_strings()` counts these). */
export function countNuls(payload: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < payload.length; i++) if (payload[i] === 0) n++;
  return n;
}

/** WRITE payload: `<path>\0<value bytes>` (value not terminated, may contain NULs). */
export function encodeWrite(path: string, value: Uint8Array | string): Uint8Array {
  const n = path.length;
  const vlen = value.length;
  const out = new Uint8Array(n + 1 + vlen);
  for (let i = 0; i < n; i++) out[i] = path.charCodeAt(i);
  if (typeof value === "string") for (let i = 0; i < vlen; i++) out[n + 1 + i] = value.charCodeAt(i);
  else out.set(value, n + 1);
  return out;
}

/** Parses a WRITE payload; `null` when there is no NUL. */
export function decodeWrite(payload: Uint8Array): { path: string; value: Uint8Array } | null {
  const nul = payload.indexOf(0);
  if (nul < 0) return null;
  return { path: bytesToLatin1(payload, 0, nul), value: payload.slice(nul + 1) };
}

/** WATCH_EVENT payload `<path>\0<token>\0` (xs_wire.h XS_WATCH_PATH, XS_WATCH_TOKEN). */
export function encodeWatchEvent(path: string, token: string): Uint8Array {
  return encodeStrings([path, token]);
}

/** Parses a WATCH_EVENT payload; `null` when it does not hold two strings. */
export function decodeWatchEvent(payload: Uint8Array): { path: string; token: string } | null {
  const { strings } = splitStrings(payload);
  const path = strings[0];
  const token = strings[1];
  if (path === undefined || token === undefined) return null;
  return { path, token };
}
