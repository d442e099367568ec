// Bugs the explorer found in the drivers, pinned by their replay tokens. Each test states the
// current (buggy) verdict; when the driver is fixed, flip it to expect a clean run.
import { describe, expect, it } from "vitest";
import { runCase } from "./explore.ts";
import { decodeToken } from "./replay-token.ts";

describe("findings", () => {
  it("blkfront in reconnect mode retries a handshake that fails for good forever (quota-nodes)", async () => {
    // Safety mode, vbd only, the guest's node quota a few nodes above what it owns: talk_to_blkback
    // fails with ENOSPC → Closing; the backend follows to Closed; blkfront (reconnect: true)
    // reinitialises and tries again — Closed → Initialising → … — without end.
    const token =
      "xs1.eyJ2IjoxLCJtIjoicyIsInciOiJ2YmQiLCJmIjpbInF1b3RhLW5vZGVzIl0sImZzIjo1LCJzIjoiIiwiYyI6W119";
    const out = await runCase(decodeToken(token), { recordTrace: false });
    expect(out.failures).toEqual(["no quiescence after 150000 steps (livelock?)"]);
  });
});
