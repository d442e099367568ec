// The console under the explorer (exploreHandshake): the hvc_xen-like version survives generated
// schedules with and without faults; the naive "state-first" version is caught, shrunk, and its
// replay token reproduces the failure.
import { readFileSync } from "node:fs";
import { exploreHandshake, HandshakeFailure, replayHandshake } from "@xensim/frontend-sim";
import { describe, expect, it } from "vitest";
import { consoleDevice } from "./console-device.ts";

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
    const err = await exploreHandshake(naive, { runs: 200, seed: 11 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HandshakeFailure);
    const f = err as HandshakeFailure;
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
