// Named u32 properties over a struct's fields, for the raw views of shared pages that either
// peer may write at any time (SharedRingHeader, XenstoreInterface): one table says which
// property is which field, instead of a hand-written getter/setter pair per field.
import type { ScalarField } from "./struct-layout.ts";

/** Where the bytes are: a page or a page sequence, little-endian u32 access by offset. */
export interface U32Access {
  getU32(offset: number): number;
  setU32(offset: number, value: number): void;
}

/**
 * Defines `name` → `fields[name]` as read/write u32 properties on `cls.prototype`, reading and
 * writing through the instance's `store` (`this[store]`). Declare the properties in the class
 * (`declare reqProd: number;`) so that they are typed.
 */
export function defineU32Accessors<K extends string, S extends string>(
  cls: { prototype: { [P in S]: U32Access } },
  store: S,
  fields: Record<K, ScalarField>,
): void {
  for (const [name, field] of Object.entries(fields) as [K, ScalarField][]) {
    const offset = field.offset;
    Object.defineProperty(cls.prototype, name, {
      get(this: Record<S, U32Access>): number {
        return this[store].getU32(offset);
      },
      set(this: Record<S, U32Access>, v: number): void {
        this[store].setU32(offset, v);
      },
      configurable: true,
    });
  }
}
