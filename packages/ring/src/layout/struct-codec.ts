// Typed encode/decode of a StructLayout against any ByteReader/ByteWriter (a page, a ring slot, a
// private snapshot). Decoding allocates an object and is meant for the control path and tests;
// the ring hot path reads fields directly with `getU16(LAYOUT.fields.x.offset)`.
import type { ByteReader, ByteWriter } from "../memory/byte-access.ts";
import type {
  ArrayElement,
  ArrayField,
  BytesField,
  Field,
  Fields,
  ScalarField,
  StructLayout,
} from "./struct-layout.ts";

/** The TypeScript value of one field: u64 → bigint, other scalars → number, bytes → Uint8Array. */
export type FieldValue<F extends Field> =
  F extends ScalarField<"u64">
    ? bigint
    : F extends ScalarField
      ? number
      : F extends BytesField
        ? Uint8Array
        : F extends ArrayField<infer E>
          ? E extends StructLayout
            ? StructValue<E>[]
            : E extends ScalarField<"u64">
              ? bigint[]
              : number[]
          : never;

/** The TypeScript value of a whole struct. */
export type StructValue<L extends StructLayout> =
  L extends StructLayout<infer F> ? { -readonly [K in keyof F]: FieldValue<F[K]> } : never;

/** Reads every field of `layout` at `base`. */
export function decodeStruct<L extends StructLayout>(layout: L, src: ByteReader, base = 0): StructValue<L> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(layout.fields as Fields))
    out[name] = readField(f, src, base + f.offset);
  return out as StructValue<L>;
}

/** Writes the given fields of `layout` at `base`; fields left out keep their bytes. */
export function encodeStruct<L extends StructLayout>(
  layout: L,
  dst: ByteWriter,
  value: Partial<StructValue<L>>,
  base = 0,
): void {
  const fields = layout.fields as Fields;
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const f = fields[name];
    if (f === undefined) throw new TypeError(`${layout.name} has no field ${name}`);
    if (v !== undefined) writeField(f, dst, base + f.offset, v, `${layout.name}.${name}`);
  }
}

function readField(f: Field, src: ByteReader, at: number): unknown {
  switch (f.type) {
    case "u8":
      return src.getU8(at);
    case "i8":
      return src.getI8(at);
    case "u16":
      return src.getU16(at);
    case "i16":
      return src.getI16(at);
    case "u32":
      return src.getU32(at);
    case "i32":
      return src.getI32(at);
    case "u64":
      return src.getU64(at);
    case "bytes": {
      const out = new Uint8Array(f.size);
      src.copyOut(at, out, 0, f.size);
      return out;
    }
    case "array": {
      const out: unknown[] = [];
      const e = f.element;
      for (let i = 0; i < f.count; i++) {
        out.push(isScalar(e) ? readField(e, src, at + i * e.size) : decodeStruct(e, src, at + i * e.size));
      }
      return out;
    }
  }
}

function writeField(f: Field, dst: ByteWriter, at: number, v: unknown, what: string): void {
  switch (f.type) {
    case "u8":
    case "i8":
      dst.setU8(at, expectNumber(v, what));
      return;
    case "u16":
    case "i16":
      dst.setU16(at, expectNumber(v, what));
      return;
    case "u32":
    case "i32":
      dst.setU32(at, expectNumber(v, what));
      return;
    case "u64":
      dst.setU64(at, typeof v === "bigint" ? v : BigInt(expectNumber(v, what)));
      return;
    case "bytes": {
      if (!(v instanceof Uint8Array) || v.length > f.size)
        throw new TypeError(`${what}: up to ${f.size} bytes`);
      dst.copyIn(at, v, 0, v.length);
      return;
    }
    case "array": {
      if (!Array.isArray(v) || v.length > f.count) throw new TypeError(`${what}: up to ${f.count} elements`);
      const e = f.element;
      v.forEach((item, i) => {
        if (isScalar(e)) writeField(e, dst, at + i * e.size, item, `${what}[${i}]`);
        else encodeStruct(e, dst, item as Partial<StructValue<typeof e>>, at + i * e.size);
      });
      return;
    }
  }
}

function isScalar(e: ArrayElement): e is ScalarField {
  return "type" in e;
}

function expectNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new TypeError(`${what}: integer expected`);
  return v;
}
