// The console under the explorer (exploreHandshake): the hvc_xen-like version survives generated
// schedules with and without faults, guest suspend/resume and backend restarts, and every peer
// profile; the naive versions (state-first publishing, no resume hook) are caught, shrunk, and
// their replay tokens reproduce the failures.
import { readFileSync } from "node:fs";
import { exploreHandshake, HandshakeFailure, type PeerProfiles, replayHandshake } from "@xensim/frontend-sim";
import { describe, expect, it } from "vitest";
import { consoleDevice } from "./console-device.ts";
import type { ConsoleFrontend, ConsoleFrontendOptions } from "./console-frontend.ts";

async function failureOf(p: Promise<unknown>): Promise<HandshakeFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HandshakeFailure);
  return err as HandshakeFailure;
}

/** consoleDevice, keeping every frontend driver it made (to see which hooks ran). */
function watched(options: ConsoleFrontendOptions = {}) {
  const d = consoleDevice(options);
  const fronts: ConsoleFrontend[] = [];
  return {
    fronts,
    device: {
      ...d,
      frontend: () => {
        const f = d.frontend();
        fronts.push(f);
        return f;
      },
    },
  };
}

describe("the console under exploreHandshake", () => {
  it("passes: plug → connect → I/O → unplug under 100 schedules", async () => {
    const r = await exploreHandshake(consoleDevice(), { runs: 100, seed: 1 });
    expect(r.runs).toBe(100);
  }, 60_000);

  it("passes with transient faults", async () => {
    await exploreHandshake(consoleDevice(), { runs: 60, seed: 2, faults: "transient" });
  }, 60_000);

  it("catches the naive state-first frontend, with a token that replays the failure", async () => {
    const naive = consoleDevice({ publish: "state-first" });
    const f = await failureOf(exploreHandshake(naive, { runs: 200, seed: 11 }));
    expect(f.message).toContain(f.token);
    // The tutorial quotes this very message: keep it current.
    const doc = readFileSync(new URL("../../docs/writing-a-device.md", import.meta.url), "utf8");
    expect(doc).toContain(f.message);
    const replay = await replayHandshake(naive, f.token);
    expect(replay.ok).toBe(false);
    expect(replay.failures.join("\n")).toBe(f.failures);
    // The fixed frontend survives the very same run.
    expect((await replayHandshake(consoleDevice(), f.token)).ok).toBe(true);
  }, 60_000);
});

describe("the console across suspend/resume and backend restarts", () => {
  it("passes with suspend/resume and backend restarts drawn (xencons_resume re-publishes)", async () => {
    const { device, fronts } = watched();
    const r = await exploreHandshake(device, { runs: 25, seed: 3, suspend: true, backendRestart: true });
    expect(r.runs).toBe(25);
    expect(fronts.some((f) => f.resumes > 0)).toBe(true);
  }, 60_000);

  it("passes them under transient faults too", async () => {
    await exploreHandshake(consoleDevice(), {
      runs: 15,
      seed: 4,
      suspend: true,
      backendRestart: true,
      faults: "transient",
    });
  }, 60_000);

  it("catches a frontend without a resume hook: the re-created backend waits forever", async () => {
    const naive = consoleDevice({ resume: false });
    const f = await failureOf(exploreHandshake(naive, { runs: 30, seed: 3, suspend: true }));
    // After resume the toolstack re-created the frontend directory (state 1, no keys); nobody
    // re-publishes them, so the new backend sits in InitWait.
    expect(f.failures).toContain("console: did not converge: frontend 1, backend 2");
    expect(f.failingCase.commands.some((c) => c.c === "suspend")).toBe(true);
    const replay = await replayHandshake(naive, f.token);
    expect(replay.failures.join("\n")).toBe(f.failures);
    // With the hook, the very same run converges.
    expect((await replayHandshake(consoleDevice(), f.token)).ok).toBe(true);
  }, 60_000);
});

describe("the console against other peers' dances (peer profiles)", () => {
  const profiles: PeerProfiles[] = [
    { frontend: "windows" },
    { frontend: "closed" },
    { backend: "skip-initwait" },
    { backend: "already-connected" },
  ];
  for (const p of profiles)
    it(`passes with ${JSON.stringify(p)}`, async () => {
      await exploreHandshake(consoleDevice(), {
        runs: 15,
        seed: 5,
        profiles: p,
        suspend: true,
        backendRestart: true,
      });
    }, 60_000);
});
