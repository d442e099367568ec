// Byte-level snapshot codec: a bounds-checked writer/reader and the tree encoding.
// Format: "XSSNAP02", u32 FNV-1a checksum of the body, body (little-endian).
import type { Edit } from "../pds/edit.ts";
import { omEmpty, omForEach, omKeys, omSet } from "../pds/ordered-map.ts";
import { bytesToLatin1, latin1ToBytes } from "../wire/payload.ts";
import { PERM_IGNORE, type PermEntry, type Perms } from "./permissions.ts";
import { newNode, type XsNode } from "./tree.ts";

export class XsSnapshotError extends Error {
  override readonly name = "XsSnapshotError";
}

const MAGIC = "XSSNAP02";

export class ByteWriter {
  private buf = new Uint8Array(1024);
  private n = 0;
  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let c = this.buf.length * 2;
    while (c < this.n + k) c *= 2;
    const b = new Uint8Array(c);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.n, v >>> 0, true);
    this.n += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.n, v, true);
    this.n += 8;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  str(s: string): void {
    this.u32(s.length);
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i) & 0xff;
  }
  optStr(s: string | null | undefined): void {
    this.u8(s == null ? 0 : 1);
    if (s != null) this.str(s);
  }
  perms(p: Perms): void {
    this.u32(p.length);
    for (const e of p) {
      this.u32(e.id);
      this.u8(e.perm);
    }
  }
  /** Whole subtree, pre-order. */
  tree(n: XsNode): void {
    this.bytes(latin1ToBytes(n.value));
    this.perms(n.perms);
    this.f64(n.gen);
    this.u32(n.children.size);
    omForEach(n.children, (name, c) => {
      this.str(name);
      this.tree(c);
    });
  }
  /** One node record with its child names only (transaction entries). */
  record(n: XsNode): void {
    this.bytes(latin1ToBytes(n.value));
    this.perms(n.perms);
    this.f64(n.gen);
    const names = omKeys(n.children);
    this.u32(names.length);
    for (const k of names) this.str(k);
  }
  finish(): Uint8Array {
    const body = this.buf.subarray(0, this.n);
    const out = new Uint8Array(MAGIC.length + 4 + body.length);
    for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
    new DataView(out.buffer).setUint32(MAGIC.length, fnv(body), true);
    out.set(body, MAGIC.length + 4);
    return out;
  }
}

function fnv(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

export class ByteReader {
  private off = 0;
  private readonly dv: DataView;
  private readonly b: Uint8Array;
  constructor(bytes: Uint8Array) {
    if (bytes.length < MAGIC.length + 4) throw new XsSnapshotError("snapshot too short");
    for (let i = 0; i < MAGIC.length; i++) {
      if (bytes[i] !== MAGIC.charCodeAt(i)) throw new XsSnapshotError("not a xensim XenStore snapshot");
    }
    const sum = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
    this.b = bytes.subarray(MAGIC.length + 4);
    if (fnv(this.b) !== sum) throw new XsSnapshotError("snapshot checksum mismatch");
    this.dv = new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
  }
  private need(k: number): void {
    if (this.off + k > this.b.length) throw new XsSnapshotError("snapshot truncated");
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  count(max = 1 << 26): number {
    const v = this.u32();
    if (v > max || v > this.b.length) throw new XsSnapshotError("snapshot count out of range");
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.off, true);
    this.off += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = this.count();
    this.need(n);
    const v = this.b.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  str(): string {
    const n = this.count();
    this.need(n);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.b[this.off + i]!);
    this.off += n;
    return s;
  }
  optStr(): string | null {
    return this.u8() === 0 ? null : this.str();
  }
  perms(): Perms {
    const n = this.count();
    const out: PermEntry[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.u32();
      const perm = this.u8();
      // read/write bits, and the mark of an entry whose domain is gone (XSA-419)
      if ((perm & ~(3 | PERM_IGNORE)) !== 0) throw new XsSnapshotError("bad permission bits");
      out.push({ id, perm });
    }
    return out;
  }
  tree(edit: Edit | null, depth = 0): XsNode {
    if (depth > 4096) throw new XsSnapshotError("tree too deep");
    const node = newNode(edit, bytesToLatin1(this.bytes()), this.perms(), this.f64());
    const n = this.count();
    let children = omEmpty<XsNode>();
    let childLen = 0;
    const e = edit ?? ({} as Edit);
    for (let i = 0; i < n; i++) {
      const name = this.str();
      children = omSet(children, e, name, this.tree(edit, depth + 1));
      childLen += name.length + 1;
    }
    node.children = children;
    node.childLen = childLen;
    return node;
  }
  record(edit: Edit, placeholder: XsNode): XsNode {
    const node = newNode(edit, bytesToLatin1(this.bytes()), this.perms(), this.f64());
    const n = this.count();
    for (let i = 0; i < n; i++) {
      const name = this.str();
      node.children = omSet(node.children, edit, name, placeholder);
      node.childLen += name.length + 1;
    }
    return node;
  }
  end(): void {
    if (this.off !== this.b.length) throw new XsSnapshotError("trailing bytes in snapshot");
  }
}
