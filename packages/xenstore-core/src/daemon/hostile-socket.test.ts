// Hostile clients on the daemon's real sockets: random frames and bytes, cut at random points,
// from dom0 and from a guest socket, interleaved with an honest client's requests. The socket
// path has its own framing (a whole frame handed over in place, headers and bodies split across
// reads, corked bursts, direct writes), so hostile bytes are sent through it rather than to the
// server alone (src/server/hostile.test.ts). Asserted: the daemon never reports an internal
// error, the honest client gets every reply right, a guest never changes a node outside its
// home, and every hostile connection is gone once its socket closes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XsSocketClient } from "../../../../test/support/xs-socket-client.ts";
import type { TraceEvent } from "../server/trace.ts";
import { XsRequest } from "../wire/client.ts";
import { encodeHeaderInto } from "../wire/frame.ts";
import { bytesToLatin1, encodeStrings } from "../wire/payload.ts";
import { XS_HEADER_SIZE, XsType } from "../wire/xs-wire.ts";
import { XenstoredDaemon } from "./xenstored-daemon.ts";

const GUEST = 5;

/** Paths: the guest's own, other domains' and dom0's (which a guest must not change), odd ones. */
const pathish = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "data/x",
      "data/y/z",
      "control/shutdown",
      "/tool/secret",
      "/tool/secret/sub",
      "/local/domain/0/backend/x",
      "/local/domain/0/backend",
      `/local/domain/${GUEST}`,
      "/local/domain/7/data",
      "/",
      "@introduceDomain",
      "@releaseDomain",
      "../x",
      "",
      "data//q",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).filter((s) => !s.includes("honest")) },
);
const payload = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  fc
    .array(fc.oneof(pathish, fc.constantFrom("n5", "b5", "r0", "w2", "T", "F", "1", "0", "5")), {
      maxLength: 4,
    })
    .map((a) => encodeStrings(a)),
);

/**
 * One hostile frame. dom0 never sends CONTROL: `CONTROL save FILE` writes a file wherever a
 * privileged client says, which a fuzzer must not do on the machine running it.
 */
const frameFor = (dom0: boolean) =>
  fc
    .record({
      // mostly the requests that change or reveal nodes, so that a permission hole shows
      type: fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(
            XsType.WRITE,
            XsType.WRITE,
            XsType.WRITE,
            XsType.RM,
            XsType.RM,
            XsType.SET_PERMS,
            XsType.MKDIR,
            XsType.SET_PERMS,
            XsType.READ,
            XsType.DIRECTORY,
            XsType.WATCH,
            XsType.TRANSACTION_START,
            XsType.TRANSACTION_END,
            XsType.INTRODUCE,
            XsType.RELEASE,
          ),
        },
        { weight: 3, arbitrary: fc.integer({ min: dom0 ? 1 : 0, max: 30 }) },
        { weight: 1, arbitrary: fc.constantFrom(999, 0x7fffffff) },
      ),
      reqId: fc.nat(),
      // mostly outside a transaction (a made-up tx id is answered ENOENT before anything else)
      txId: fc.oneof(
        { weight: 6, arbitrary: fc.constant(0) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }) },
        { weight: 1, arbitrary: fc.nat() },
      ),
      payload,
      // mostly the payload's length; sometimes a lie, short, long, or past XENSTORE_PAYLOAD_MAX
      len: fc.oneof(
        { weight: 18, arbitrary: fc.constant(-1) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 80 }) },
        { weight: 1, arbitrary: fc.constantFrom(4097, 0xffffffff) },
      ),
    })
    .map(({ type, reqId, txId, payload: p, len }) => {
      const out = new Uint8Array(XS_HEADER_SIZE + p.length);
      encodeHeaderInto(out, 0, { type, reqId, txId, len: len < 0 ? p.length : len });
      out.set(p, XS_HEADER_SIZE);
      return out;
    });

/** One hostile client: dom0 (main socket) one time in three, else the guest; its bytes and cuts. */
const hostile = fc.constantFrom(false, false, true).chain((dom0) =>
  fc.record({
    dom0: fc.constant(dom0),
    parts: fc.array(
      fc.oneof(
        { weight: 6, arbitrary: frameFor(dom0) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
      ),
      { minLength: 1, maxLength: 12 },
    ),
    cuts: fc.array(fc.integer({ min: 1, max: 48 }), { minLength: 1, maxLength: 6 }),
  }),
);

/** A daemon with a guest socket, an honest dom0 client on it, and nodes a guest must not touch. */
interface Target {
  dir: string;
  daemon: XenstoredDaemon;
  honest: XsSocketClient;
  internalErrors: string[];
  /** keys the honest client wrote (and must read back at the end) */
  written: number;
}

async function target(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "xs-hostile-"));
  const internalErrors: string[] = [];
  const daemon = await XenstoredDaemon.start({
    socketPath: join(dir, "s"),
    guestSockets: [{ domid: GUEST, path: join(dir, "g") }],
    onTrace: (e: TraceEvent) => {
      if (e.kind === "internal-error") internalErrors.push(e.message);
    },
  });
  const c0 = daemon.server.direct(0);
  c0.write("/tool/secret", "s");
  c0.write("/local/domain/0/backend/x", "b");
  c0.setPerms("/local/domain/0/backend/x", ["n0", `r${GUEST}`]);
  const honest = await XsSocketClient.connect(join(dir, "s"));
  return { dir, daemon, honest, internalErrors, written: 0 };
}

/** Every node outside the guest's home (and the honest client's, checked apart), with its value and perms. */
function foreign(t: Target): string {
  const out: string[] = [];
  for (const [p, v] of t.daemon.server.store.dump())
    if (!p.startsWith(`/local/domain/${GUEST}/`) && !p.startsWith("/honest"))
      out.push(`${p}=${v.value}|${v.perms.join(",")}`);
  return out.sort().join("\n");
}

describe("hostile clients on the daemon's sockets", () => {
  // Runs with a hostile dom0 go to `mixed`; guest-only runs to `guarded`, which no hostile dom0
  // ever reaches: a dom0 may grant a guest anything (SET_PERMS b5 on /), after which the guest's
  // writes there would be legitimate.
  let mixed: Target;
  let guarded: Target;
  beforeAll(async () => {
    mixed = await target();
    guarded = await target();
  });
  afterAll(async () => {
    for (const t of [mixed, guarded]) {
      if (!t) continue;
      t.honest.close();
      await t.daemon.stop();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });

  it("never break the daemon, the honest client or another domain's nodes", async () => {
    let req = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 3 }), async (hs) => {
        const guestOnly = hs.every((h) => !h.dom0);
        const t = guestOnly ? guarded : mixed;
        const { daemon, honest } = t;
        // a hostile dom0 may have RELEASEd the guest in an earlier run: bring it back
        if (!daemon.server.domains().some((d) => d.domid === GUEST)) daemon.server.introduceDomain(GUEST);
        const before = guestOnly ? foreign(t) : "";
        const baseline = daemon.stats().connections;
        const socks: (XsSocketClient | null)[] = [];
        for (const h of hs) {
          try {
            socks.push(await XsSocketClient.connect(join(t.dir, h.dom0 ? "s" : "g"), 1000));
          } catch {
            socks.push(null); // refused: nothing to send
          }
        }
        // interleave: a cut of each hostile stream, then one honest WRITE + READ
        const streams = hs.map((h) => {
          const all = new Uint8Array(h.parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of h.parts) {
            all.set(p, at);
            at += p.length;
          }
          return { all, off: 0, k: 0, cuts: h.cuts };
        });
        while (streams.some((s) => s.off < s.all.length)) {
          streams.forEach((s, i) => {
            if (s.off >= s.all.length) return;
            const n = s.cuts[s.k++ % s.cuts.length]!;
            socks[i]?.send(s.all.subarray(s.off, s.off + n));
            s.off += n;
          });
          const n = ++t.written;
          honest.send(XsRequest.write(`/honest/s${n}`, `v${n}`, { reqId: ++req }));
          const w = await honest.reply(req);
          expect(w?.type).toBe(XsType.WRITE);
          honest.send(XsRequest.read(`/honest/s${n}`, { reqId: ++req }));
          const r = await honest.reply(req);
          expect(r ? bytesToLatin1(r.payload) : "<none>").toBe(`v${n}`);
        }
        for (const s of socks) s?.close();
        // the daemon notices the closes and drops those connections
        const deadline = Date.now() + 3000;
        while (daemon.stats().connections > baseline && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        expect(daemon.stats().connections).toBe(baseline);
        expect(t.internalErrors).toEqual([]);
        if (guestOnly) expect(foreign(t)).toBe(before);
      }),
      { numRuns: Number(process.env.XS_HOSTILE_SOCKET_RUNS ?? 150) },
    );
    // the honest clients' keys all survived every hostile run
    for (const t of [mixed, guarded])
      for (let i = 1; i <= t.written; i++)
        expect(t.daemon.server.store.readString(`/honest/s${i}`)).toBe(`v${i}`);
  });
});
