// Issue 10's "done when": the viewer's state replay works on the default scenario and on a replayed
// fuzz failure — not only on the toy fixture. These replay real traces and check what the page
// would show at the interesting steps.
import { SeededPolicy, type TraceRecord } from "@xensim/evtchn";
import { describe, expect, it } from "vitest";
import { runCase } from "../explore/explore.ts";
import { decodeToken } from "../explore/replay-token.ts";
import { findScenario } from "../scenarios/registry.ts";
import { toMermaid } from "./mermaid.ts";
import { deviceViews, Replayer, sortedRings } from "./state-replay.ts";

function whenConnected(records: readonly TraceRecord[], type: string): number {
  const rep = new Replayer(records);
  for (let i = 0; i < rep.length; i++) {
    const devs = deviceViews(rep.at(i)).filter((d) => d.type === type);
    if (devs.length > 0 && devs.every((d) => d.frontState === "4" && d.backState === "4")) return i;
  }
  return -1;
}

describe("views on real runs", () => {
  it("replays the default scenario: both vifs and vbds Connected/Connected, device rings moving, all gone at the end", async () => {
    const r = await findScenario("vif-vbd-lifecycle")!.run({ seed: 1, policy: new SeededPolicy(1) });
    const records = r.sched.trace.all();
    const vif = whenConnected(records, "vif");
    const vbd = whenConnected(records, "vbd");
    expect(vif).toBeGreaterThan(0);
    expect(vbd).toBeGreaterThan(vif);
    const rep = new Replayer(records);
    const mid = rep.at(vbd);
    const rings = sortedRings(mid).filter((x) => x.kind === "device");
    expect(rings.map((x) => x.id)).toEqual(
      expect.arrayContaining(["vif/1/0/tx-0", "vif/2/0/rx-0", "vbd/1/51712/ring-0"]),
    );
    expect(rings.some((x) => (x.indices.req_prod ?? 0) > 0)).toBe(true);
    const end = rep.at(rep.length - 1);
    expect(deviceViews(end).filter((d) => d.frontState !== undefined || d.backState !== undefined)).toEqual(
      [],
    );
    expect(toMermaid(records, { device: "vbd/1/51712" })).toMatch(/^sequenceDiagram/);
  });

  it("replays a fuzz failure's trace: the stuck device shows frontend Closing, backend Connected", async () => {
    // backend-ignores-closing, shrunk by pnpm fuzz (see src/explore/README.md)
    const token =
      "xs1.eyJ2IjoxLCJtIjoibCIsInciOiJ2YmQiLCJmIjpbXSwiZnMiOjAsInMiOiIiLCJjIjpbWyJyZWNvbm5lY3QiLCJ2YmQiLC0xXSxbInJlY29ubmVjdCIsInZiZCIsMF1dLCJtdSI6ImJhY2tlbmQtaWdub3Jlcy1jbG9zaW5nIn0";
    const out = await runCase(decodeToken(token));
    expect(out.failures.join("\n")).toMatch(/did not converge: frontend 5, backend 4/);
    const records = out.sut.sched.trace.all();
    const last = new Replayer(records).at(records.length - 1);
    const vbd = deviceViews(last).find((d) => d.type === "vbd")!;
    expect([vbd.frontState, vbd.backState]).toEqual(["5", "4"]);
  });
});
