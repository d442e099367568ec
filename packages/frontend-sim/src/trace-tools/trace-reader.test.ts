import { describe, expect, it } from "vitest";
import { daemonTraceText } from "./fixtures/daemon-trace.ts";
import { toyLifecycleJsonLines } from "./fixtures/toy-lifecycle.ts";
import { replayTo } from "./state-replay.ts";
import { parseTrace, printableLatin1, TraceParseError } from "./trace-reader.ts";

describe("trace reader", () => {
  it("reads the simulator's JSON lines back into the records it wrote", async () => {
    const text = await toyLifecycleJsonLines(1);
    const t = parseTrace(text);
    expect(t.format).toBe("sim");
    expect(t.records.length).toBe(text.trim().split("\n").length);
    const first = JSON.parse(text.split("\n")[0]!);
    expect(t.records[0]).toEqual({
      seq: first.seq,
      t: first.t,
      actor: first.actor,
      kind: first.kind,
      details: Object.fromEntries(
        Object.entries(first).filter(([k]) => !["seq", "t", "actor", "kind"].includes(k)),
      ),
    });
    expect(t.records.map((r) => r.seq)).toEqual(t.records.map((_, i) => i));
  });

  it("normalises the daemon's --trace lines (kinds, payload bytes, times, watch paths)", () => {
    const t = parseTrace(daemonTraceText());
    expect(t.format).toBe("xenstored");
    expect(t.records.map((r) => r.kind)).toContain("xs.watch_event");
    const write = t.records.find((r) => r.kind === "xs.request" && r.details.type === "WRITE")!;
    expect(write).toMatchObject({ actor: "xenstored", details: { conn: 1, payload: "/demo/a\\0hello" } });
    const b = t.records.find((r) => r.kind === "xs.request" && r.details.tx_id === 5)!;
    expect(b.details.payload).toBe("/demo/b\\0x\\x5cy"); // backslash escaped as the simulator does
    expect(t.records.find((r) => r.kind === "xs.watch_event")!.details).toMatchObject({
      path: "/demo",
      token: "w1",
    });
    expect(t.records[3]!.t).toBe(3e6); // 3 ms after the first line
    // The replay understands it: the tx write applied at commit.
    const s = replayTo(t.records, t.records.length - 1);
    expect(s.nodes.get("/demo/a")?.value).toBe("hello");
    expect(s.nodes.get("/demo/b")?.value).toBe("x\\x5cy");
    expect([...s.watches.values()]).toEqual([{ domid: 0, conn: 2, path: "/demo", token: "w1" }]);
  });

  it("reports malformed lines with their line number", () => {
    expect(() => parseTrace('{"seq":0,"t":0,"actor":"dom1","kind":"a.b"}\n\nnot json')).toThrow(
      /trace line 3: not JSON/,
    );
    expect(() => parseTrace('{"seq":-1,"t":0,"actor":"dom1","kind":"a.b"}')).toThrow(TraceParseError);
    expect(() => parseTrace('{"seq":0,"t":0,"actor":"","kind":"a.b"}')).toThrow(/actor/);
    expect(() => parseTrace('{"foo":1}')).toThrow(/neither/);
    expect(() => parseTrace('{"time":"yesterday","kind":"request"}')).toThrow(/ISO/);
    expect(() => parseTrace("[1]")).toThrow(/not a JSON object/);
  });

  it("warns about out-of-order records and a kind shadowed by a details key", () => {
    const t = parseTrace(
      ['{"seq":0,"t":5,"actor":"a","kind":"x.y"}', '{"seq":0,"t":4,"actor":"a","kind":"toy"}'].join("\n"),
    );
    expect(t.warnings).toHaveLength(3);
  });

  it("prints Latin-1 payloads like the simulator", () => {
    expect(printableLatin1("a\0b\\\x01")).toBe("a\\0b\\x5c\\x01");
    expect(printableLatin1("x".repeat(300))).toMatch(/…\(300 bytes\)$/);
  });
});
