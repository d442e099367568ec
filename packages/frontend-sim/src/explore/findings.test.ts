// Bugs the explorer found in the drivers, pinned by their replay tokens. Each test first stated
// the buggy verdict; once the driver was fixed it was flipped to expect a clean run.
import { describe, expect, it } from "vitest";
import { BLKFRONT_MAX_HANDSHAKE_RETRIES, type Blkfront } from "../guest/blkfront/blkfront.ts";
import { runCase } from "./explore.ts";
import { decodeToken } from "./replay-token.ts";

describe("findings", () => {
  it("blkfront in reconnect mode gives up on a handshake that fails for good (quota-nodes)", async () => {
    // Safety mode, vbd only, the guest's node quota a few nodes above what it owns: talk_to_blkback
    // fails with ENOSPC → Closing; the backend follows to Closed. blkfront (reconnect: true) used
    // to reinitialise and try again — Closed → Initialising → … — without end (a livelock: no
    // quiescence after 150 000 steps). Now it retries a bounded number of times with backoff on
    // virtual time, then stays Closed with an error node, as Linux does at once.
    const token =
      "xs1.eyJ2IjoxLCJtIjoicyIsInciOiJ2YmQiLCJmIjpbInF1b3RhLW5vZGVzIl0sImZzIjo1LCJzIjoiIiwiYyI6W119";
    const out = await runCase(decodeToken(token), { recordTrace: false });
    expect(out.failures).toEqual([]);
    const fe = out.sut.kits.get("vbd")!.frontend as Blkfront;
    const disk = fe.find("xvda")!;
    expect(disk.dead).toBe(true);
    expect(disk.failedHandshakes).toBe(BLKFRONT_MAX_HANDSHAKE_RETRIES + 1);
    expect(disk.dev.state).toBe(6); // Closed
    // Virtual time: the backoffs 1 s + 2 s + 4 s were waited, then nothing more ran.
    expect(out.sut.m.sched.now).toBeGreaterThanOrEqual(7_000_000_000);
  });

  it.each([
    // No faults: the harness re-created the backends while dom0 still had the old ones bound
    // (netback failed "parsing …/mac") and the vbd frontend, still probing, saw its backend gone.
    [
      "no faults",
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJ2aWYrdmJkIiwiZiI6W10sImZzIjowLCJzIjoiIiwiYyI6W1sic3VzcGVuZCIsLTFdLFsiaW8iLCJ2aWYiLDEsLTFdXX0",
    ],
    // Transient faults: netfront's state writes landed in the re-created frontend directory
    // (Connected with no ring refs) — the guest bus now quiesces watches across suspend.
    [
      "transient faults",
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJ2aWYrdmJkIiwiZiI6WyJldnRjaG4tZHJvcCIsImV2dGNobi1kdXBsaWNhdGUiLCJldnRjaG4tZGVsYXkiLCJldnRjaG4tc3B1cmlvdXMiLCJ3YXRjaC1kdXBsaWNhdGUiLCJ3YXRjaC1zcHVyaW91cyIsImNvbW1pdC1lYWdhaW4iLCJxdW90YS1vdXRzdGFuZGluZyJdLCJmcyI6NCwicyI6IiIsImMiOltbInN1c3BlbmQiLC0xXV19",
    ],
    // Transient faults, a vif unplugged first: blkback, caught connecting when the toolstack
    // removed its directory, wrote its features back, and the re-add found the device there.
    [
      "unplug vif, then suspend",
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJ2aWYrdmJkIiwiZiI6WyJldnRjaG4tZHJvcCIsImV2dGNobi1kdXBsaWNhdGUiLCJldnRjaG4tZGVsYXkiLCJldnRjaG4tc3B1cmlvdXMiLCJ3YXRjaC1kdXBsaWNhdGUiLCJ3YXRjaC1zcHVyaW91cyIsImNvbW1pdC1lYWdhaW4iLCJxdW90YS1vdXRzdGFuZGluZyJdLCJmcyI6MCwicyI6IiIsImMiOltbInVucGx1ZyIsInZpZiIsMCwtMV0sWyJzdXNwZW5kIiwtMV1dfQ",
    ],
  ])("suspend/resume converges (%s)", async (_name, token) => {
    const out = await runCase(decodeToken(token), { recordTrace: false });
    expect(out.failures).toEqual([]);
  });

  it("blkfront and blkback do not chase each other round a reconnect", async () => {
    // Transient faults, fifo schedule, io then a vbd reconnect: blkback (Closed) answered the
    // restarted frontend's Initialising with InitWait, but before that committed blkfront read
    // it still Closed, went Closed and restarted at once — round and round (no quiescence after
    // 150 000 steps). A restart that closes before connecting now counts as a failed handshake,
    // so the next one backs off and the backend's answer lands first.
    const token =
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJ2aWYrdmJkIiwiZiI6WyJldnRjaG4tZHJvcCIsImV2dGNobi1kdXBsaWNhdGUiLCJldnRjaG4tZGVsYXkiLCJldnRjaG4tc3B1cmlvdXMiLCJ3YXRjaC1kdXBsaWNhdGUiLCJ3YXRjaC1zcHVyaW91cyIsImNvbW1pdC1lYWdhaW4iLCJxdW90YS1vdXRzdGFuZGluZyJdLCJmcyI6MTAsInMiOiIiLCJjIjpbWyJpbyIsInZpZiIsMSwtMV0sWyJyZWNvbm5lY3QiLCJ2YmQiLDBdXX0";
    const out = await runCase(decodeToken(token), { recordTrace: false });
    expect(out.failures).toEqual([]);
  });
});
