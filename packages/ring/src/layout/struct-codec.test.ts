import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { BLKIF_REQUEST_X86_64 } from "../ring/protocols/blkif.ts";
import { XEN_NETIF_CTRL_REQUEST } from "../ring/protocols/netif.ts";
import { decodeStruct, encodeStruct } from "./struct-codec.ts";
import { array, bytes, defineStruct, u8, u16, u32 } from "./struct-layout.ts";

describe("struct layouts and codecs", () => {
  it("rejects inconsistent layouts", () => {
    expect(() => defineStruct("x", 4, 4, { a: u32(0), b: u8(3) })).toThrow(/overlaps/);
    expect(() => defineStruct("x", 4, 4, { a: u32(2) })).toThrow(/outside/);
    expect(() => defineStruct("x", 6, 4, { a: u16(0) })).toThrow(/alignment/);
    expect(() => defineStruct("x", 4, 4, { a: { type: "u16", offset: 0, size: 4 } })).toThrow(/must be 2/);
  });

  it("decode(encode(v)) = v for blkif requests, with u64 as bigint and nested segment arrays", () => {
    const seg = fc.record({
      gref: fc.nat({ max: 2 ** 32 - 1 }),
      first_sect: fc.nat({ max: 255 }),
      last_sect: fc.nat({ max: 255 }),
    });
    fc.assert(
      fc.property(
        fc.record({
          operation: fc.nat({ max: 255 }),
          nr_segments: fc.nat({ max: 255 }),
          handle: fc.nat({ max: 0xffff }),
          id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          sector_number: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          seg: fc.array(seg, { minLength: 11, maxLength: 11 }),
        }),
        (req) => {
          const mem = new GuestMemory(1);
          const page = mem.page(mem.allocate() as Gfn);
          encodeStruct(BLKIF_REQUEST_X86_64, page, req, 64);
          expect(decodeStruct(BLKIF_REQUEST_X86_64, page, 64)).toEqual(req);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("encodes scalar arrays and byte fields, and only the fields given", () => {
    const mem = new GuestMemory(1);
    const page = mem.page(mem.allocate() as Gfn);
    page.fill(0xaa, 0, 16);
    encodeStruct(XEN_NETIF_CTRL_REQUEST, page, { id: 1, data: [7, 8] });
    expect(decodeStruct(XEN_NETIF_CTRL_REQUEST, page)).toEqual({
      id: 1,
      type: 0xaaaa,
      data: [7, 8, 0xaaaaaaaa],
    });
    const S = defineStruct("s", 8, 2, { mac: bytes(0, 6), n: u16(6), arr: array(0, 0, u8(0)) });
    encodeStruct(S, page, { mac: Uint8Array.of(1, 2, 3, 4, 5, 6), n: 9 }, 100);
    expect(decodeStruct(S, page, 100)).toEqual({ mac: Uint8Array.of(1, 2, 3, 4, 5, 6), n: 9, arr: [] });
    expect(() => encodeStruct(S, page, { n: 1.5 })).toThrow(TypeError);
    expect(() => encodeStruct(S, page, { nope: 1 } as never)).toThrow(TypeError);
  });
});
