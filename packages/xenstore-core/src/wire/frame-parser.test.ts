import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { XsFrameError } from "./errors.ts";
import { encodeFrame, type XsFrame } from "./frame.ts";
import { FrameParser } from "./frame-parser.ts";
import { XENSTORE_PAYLOAD_MAX, XsType } from "./xs-wire.ts";

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 0xffff }),
  reqId: fc.nat(),
  txId: fc.nat(),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe("FrameParser", () => {
  it("parses frames fed one byte at a time", () => {
    const f: XsFrame = { type: XsType.READ, reqId: 7, txId: 3, payload: new Uint8Array([47, 97, 0]) };
    const bytes = encodeFrame(f);
    expect(bytes.length).toBe(19);
    expect([...bytes.subarray(0, 16)]).toEqual([2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0]);
    const p = new FrameParser();
    const out: unknown[] = [];
    for (const b of bytes) {
      p.push(new Uint8Array([b]));
      const r = p.next();
      if (r) out.push(r);
    }
    expect(out).toEqual([f]);
  });

  it("any chunking yields the same frames", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 })),
        (frames, cuts) => {
          const all = new Uint8Array(frames.reduce((n, f) => n + 16 + f.payload.length, 0));
          let off = 0;
          for (const f of frames) {
            all.set(encodeFrame(f), off);
            off += 16 + f.payload.length;
          }
          const p = new FrameParser();
          const got: XsFrame[] = [];
          let i = 0;
          let k = 0;
          while (i < all.length) {
            const n = cuts.length ? cuts[k++ % cuts.length]! : all.length;
            p.push(all.subarray(i, i + n));
            i += n;
            for (const r of p.drain()) got.push(r as XsFrame);
          }
          expect(got).toEqual(frames);
          expect(p.finish()).toBeNull();
        },
      ),
    );
  });

  it("reports an oversized header as a typed, sticky error", () => {
    const p = new FrameParser();
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(12, XENSTORE_PAYLOAD_MAX + 1, true);
    p.push(h);
    const e = p.next();
    expect(e).toBeInstanceOf(XsFrameError);
    expect((e as XsFrameError).kind).toBe("oversized");
    expect(p.next()).toBe(e);
  });

  it("accepts exactly XENSTORE_PAYLOAD_MAX and reports a truncated stream", () => {
    const p = new FrameParser();
    p.push(encodeFrame({ type: 1, reqId: 0, txId: 0, payload: new Uint8Array(4096) }));
    expect((p.next() as XsFrame).payload.length).toBe(4096);
    p.push(new Uint8Array(5));
    expect(p.next()).toBeNull();
    expect(p.finish()?.kind).toBe("truncated");
  });
});
