// A whole frame handed over in place (XsConnection.deliverWhole, what the socket transport does)
// runs one-path requests with a well-formed payload on their decoded strings, and everything
// else as a frame. Both must be indistinguishable from the frame path: the same random frames
// (one-path types with payloads of every shape — no NUL, NULs inside, empty — and others) go to
// a server whose trace listener forces every frame through processFrame(), and to a twin
// without one, from dom0 and from a guest; the output bytes of every connection must be equal.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../wire/frame.ts";
import { XsType } from "../wire/xs-wire.ts";
import { XenStoreServer } from "./xenstore-server.ts";

const piece = fc.constantFrom("a", "b", "/", "k1", "\0", "\u00e9", "@", "local", "domain", "1", "data");
const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const payload = fc
  .tuple(
    fc.constantFrom("", "/local/domain/1/", "data/", "/"),
    fc.array(piece, { maxLength: 6 }),
    fc.constantFrom("", "\0", "\0v", "\0\0"),
  )
  .map(([pre, ps, post]) => bytesOf(pre + ps.join("") + post));
const frame = fc.record({
  conn: fc.constantFrom(0, 1),
  type: fc.constantFrom(
    XsType.READ,
    XsType.WRITE,
    XsType.WRITE,
    XsType.MKDIR,
    XsType.RM,
    XsType.DIRECTORY,
    XsType.GET_PERMS,
    XsType.WATCH,
    XsType.TRANSACTION_START,
    XsType.SET_PERMS,
  ),
  reqId: fc.nat(),
  txId: fc.constantFrom(0, 0, 0, 1, 7),
  payload,
});

function twin(traced: boolean) {
  const server = new XenStoreServer(traced ? { trace: () => {} } : {});
  server.introduceDomain(1, 0, 1);
  const d0 = server.direct(0);
  d0.write("/local/domain/1/data", "");
  d0.setPerms("/local/domain/1/data", ["n1"]);
  return { server, conns: [server.connect({ domid: 0 }), server.connect({ domid: 1 })] };
}

describe("whole frames in place", () => {
  it("answer exactly as frames do", () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 30 }), (frames) => {
        const a = twin(true);
        const b = twin(false);
        for (const f of frames) {
          const bytes = encodeFrame(f);
          // a slab with bytes around the frame, as the socket transport hands it over
          const slab = new Uint8Array(bytes.length + 16).fill(0x41);
          slab.set(bytes, 8);
          a.conns[f.conn]!.deliver(bytes);
          b.conns[f.conn]!.deliverWhole(slab, 8, 8 + bytes.length);
        }
        for (const i of [0, 1])
          expect(Buffer.from(b.conns[i]!.takeOutput()).toString("hex")).toBe(
            Buffer.from(a.conns[i]!.takeOutput()).toString("hex"),
          );
        expect(b.server.store.dump()).toEqual(a.server.store.dump());
      }),
      { numRuns: 400 },
    );
  });
});
