import type { TraceRecord } from "@xensim/evtchn";
import { beforeAll, describe, expect, it } from "vitest";
import { daemonTraceText } from "./fixtures/daemon-trace.ts";
import { toyLifecycleJsonLines } from "./fixtures/toy-lifecycle.ts";
import { esc, toMermaid } from "./mermaid.ts";
import { parseTrace } from "./trace-reader.ts";

let toy: readonly TraceRecord[];
beforeAll(async () => {
  toy = parseTrace(await toyLifecycleJsonLines(1)).records;
});

const lines = (text: string) => text.trimEnd().split("\n");

describe("Mermaid sequence diagrams", () => {
  it("draws the lanes in frontend, xenstored, backend, toolstack, Xen order with the handshake in between", () => {
    const m = toMermaid(toy);
    expect(lines(m).filter((l) => l.startsWith("  participant"))).toEqual([
      "  participant dom1 as dom1 (frontend)",
      "  participant xenstored as xenstored",
      "  participant dom0 as dom0 (backend)",
      "  participant toolstack as toolstack (libxl)",
      "  participant hypervisor as Xen",
    ]);
    expect(m).toContain('dom1->>xenstored: WRITE device/toy/0/ring-ref = "8" [tx 1]');
    expect(m).toContain("Note over dom0: backend/toy/1/0: Initialising → InitWait");
    expect(m).toContain("dom0->>hypervisor: map_grant_ref dom1 ref 8 (backend/toy/1/0)");
    expect(m).toMatch(/dom1-\)dom0: kick port 2 → dom0:2/);
    // XenStore ring kicks and reads are implied / hidden by default.
    expect(m).not.toContain("kick port 1 ");
    expect(m).not.toMatch(/->>xenstored: READ /);
    expect(toMermaid(toy, { reads: true, xsKicks: true })).toMatch(/->>xenstored: READ /);
  });

  it("filters by device (keeping its transactions' commits and its kicks), kind and time", () => {
    const m = toMermaid(toy, { device: "toy/1/0" });
    const body = lines(m).filter((l) => !l.startsWith("  participant") && l !== "sequenceDiagram");
    expect(
      body.every((l) =>
        /toy|\[tx \d+\]|TRANSACTION_END|kick port 2|bind_interdomain|close port 2|end access 8/.test(l),
      ),
    ).toBe(true);
    expect(m).toContain("TRANSACTION_END commit");
    expect(toMermaid(toy, { device: "vif" })).toContain("no records match");
    const states = lines(toMermaid(toy, { kinds: ["xenbus.state"] })).filter((l) => l.includes("Note"));
    expect(states).toHaveLength(5);
    const notXs = toMermaid(toy, { excludeKinds: ["xs.*"] });
    expect(notXs).not.toContain("xenstored");
    const t = toy.find((r) => r.kind === "xenbus.state")!.t;
    const windowed = toMermaid(toy, { kinds: ["xenbus.state"], from: t, to: t });
    expect(lines(windowed).filter((l) => l.includes("Note"))).toHaveLength(1);
  });

  it("cuts long diagrams with a note", () => {
    const m = toMermaid(toy, { maxMessages: 10 });
    expect(lines(m).filter((l) => !l.startsWith("  participant") && l !== "sequenceDiagram")).toHaveLength(
      11,
    );
    expect(m).toMatch(/… \d+ more messages cut/);
  });

  it("draws a daemon trace with one lane per connection", () => {
    const m = toMermaid(parseTrace(daemonTraceText()).records);
    expect(m).toContain("participant conn1 as conn 1 (dom0)");
    expect(m).toContain('conn1->>xenstored: WRITE /demo/a = "hello"');
    expect(m).toContain("xenstored--xconn1: ERROR ENOENT");
    expect(m).toContain("xenstored-->>conn1: tx 5");
    expect(m).toContain("xenstored-->>conn2: watch /demo/b (w1)");
  });

  it("escapes what Mermaid would read as syntax", () => {
    expect(esc("a;b#c<d>\ne")).toBe("a#59;b#35;c#lt;d#gt; e");
  });

  it("is deterministic", () => {
    expect(toMermaid(toy, { device: "toy" })).toBe(toMermaid([...toy], { device: "toy" }));
  });
});
