// C struct layouts as plain data: every field is `{ offset, size, type }`, exactly what gcc's
// offsetof/sizeof report for the Xen public headers (checked by layout.test.ts against the
// installed headers). Protocols — netif, blkif, the XenStore page, and whatever later issues add —
// are new tables, not new code.

export type ScalarType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64";

export interface ScalarField<T extends ScalarType = ScalarType> {
  readonly type: T;
  readonly offset: number;
  readonly size: number;
}

/** A fixed-size byte array such as `char req[1024]` or `uint8_t addr[6]`. */
export interface BytesField {
  readonly type: "bytes";
  readonly offset: number;
  readonly size: number;
}

/** An array element: a struct, or a scalar given at offset 0 (e.g. `u32(0)` for `uint32_t data[3]`). */
export type ArrayElement = StructLayout | ScalarField;

/** A fixed-length array, e.g. blkif `seg[BLKIF_MAX_SEGMENTS_PER_REQUEST]`. */
export interface ArrayField<E extends ArrayElement = ArrayElement> {
  readonly type: "array";
  readonly offset: number;
  /** Total bytes: count * element.size. */
  readonly size: number;
  readonly count: number;
  readonly element: E;
}

export type Field = ScalarField | BytesField | ArrayField;
export type Fields = { readonly [name: string]: Field };

export interface StructLayout<F extends Fields = Fields> {
  /** The C name, e.g. "blkif_request" (used by the layout test to find it in the headers). */
  readonly name: string;
  /** sizeof */
  readonly size: number;
  /** _Alignof; decides the size of a ring slot holding a union of request and response. */
  readonly align: number;
  readonly fields: F;
}

const SCALAR_SIZE: Record<ScalarType, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8 };

export const u8 = (offset: number): ScalarField<"u8"> => ({ type: "u8", offset, size: 1 });
export const i8 = (offset: number): ScalarField<"i8"> => ({ type: "i8", offset, size: 1 });
export const u16 = (offset: number): ScalarField<"u16"> => ({ type: "u16", offset, size: 2 });
export const i16 = (offset: number): ScalarField<"i16"> => ({ type: "i16", offset, size: 2 });
export const u32 = (offset: number): ScalarField<"u32"> => ({ type: "u32", offset, size: 4 });
export const i32 = (offset: number): ScalarField<"i32"> => ({ type: "i32", offset, size: 4 });
export const u64 = (offset: number): ScalarField<"u64"> => ({ type: "u64", offset, size: 8 });
export const bytes = (offset: number, size: number): BytesField => ({ type: "bytes", offset, size });
export const array = <E extends ArrayElement>(offset: number, count: number, element: E): ArrayField<E> => ({
  type: "array",
  offset,
  size: count * element.size,
  count,
  element,
});

/**
 * Declares a struct layout and checks it is self-consistent (fields inside the struct, scalar
 * sizes right, no overlaps). Unions are declared as separate layouts sharing the same bytes.
 */
export function defineStruct<F extends Fields>(
  name: string,
  size: number,
  align: number,
  fields: F,
): StructLayout<F> {
  const spans: [number, number, string][] = [];
  for (const [field, f] of Object.entries(fields)) {
    if (f.type !== "bytes" && f.type !== "array" && SCALAR_SIZE[f.type] !== f.size) {
      throw new Error(`${name}.${field}: ${f.type} must be ${SCALAR_SIZE[f.type]} bytes`);
    }
    if (f.offset < 0 || f.offset + f.size > size)
      throw new Error(`${name}.${field} lies outside ${size} bytes`);
    if (f.size > 0) spans.push([f.offset, f.offset + f.size, field]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1] as [number, number, string];
    const cur = spans[i] as [number, number, string];
    if (cur[0] < prev[1]) throw new Error(`${name}: ${prev[2]} overlaps ${cur[2]}`);
  }
  if (align <= 0 || (align & (align - 1)) !== 0 || size % align !== 0) {
    throw new Error(`${name}: bad alignment ${align} for size ${size}`);
  }
  return { name, size, align, fields };
}
