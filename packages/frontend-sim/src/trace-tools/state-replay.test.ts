import type { TraceRecord } from "@xensim/evtchn";
import { beforeAll, describe, expect, it } from "vitest";
import { toyLifecycleJsonLines } from "./fixtures/toy-lifecycle.ts";
import {
  deviceViews,
  portLabels,
  Replayer,
  replayTo,
  sortedGrants,
  sortedMappings,
  sortedPorts,
  sortedRings,
  treeRows,
} from "./state-replay.ts";
import { parseTrace } from "./trace-reader.ts";

let toy: readonly TraceRecord[];
beforeAll(async () => {
  toy = parseTrace(await toyLifecycleJsonLines(1)).records;
});

/** Hand-written XenStore traffic: request/reply pairs on one dom0 connection. */
function xs(pairs: [type: string, payload: string, reply: string, tx?: number][], domid = 0): TraceRecord[] {
  const out: TraceRecord[] = [];
  pairs.forEach(([type, payload, reply, tx = 0], i) => {
    const common = { domid, conn: 1, req_id: i, tx_id: tx };
    out.push({
      seq: out.length,
      t: i,
      actor: "xenstored",
      kind: "xs.request",
      details: { ...common, type, payload },
    });
    const rtype = reply.startsWith("E") ? "ERROR" : type;
    out.push({
      seq: out.length,
      t: i,
      actor: "xenstored",
      kind: "xs.reply",
      details: { ...common, type: rtype, payload: `${reply}\\0` },
    });
  });
  return out;
}

const value = (s: ReturnType<typeof replayTo>, p: string) => s.nodes.get(p)?.value;

describe("state replay: XenStore tree", () => {
  it("applies WRITE/MKDIR/RM/SET_PERMS at their successful reply, with parents and relative paths", () => {
    const recs = xs(
      [
        ["WRITE", "/a/b/c\\0hello", "OK"],
        ["MKDIR", "/a/d", "OK"],
        ["SET_PERMS", "/a/d\\0n0\\0r1\\0", "OK"],
        ["WRITE", "/a/x\\0nope", "EACCES"],
        ["WRITE", "device/vif/0/state\\01", "OK"],
      ],
      1,
    );
    expect(replayTo(recs, 0).nodes.size).toBe(0); // the request alone changes nothing
    const s1 = replayTo(recs, 1);
    expect(value(s1, "/a/b/c")).toBe("hello");
    expect(value(s1, "/a/b")).toBe("");
    expect(s1.changed).toEqual(["/a", "/a/b", "/a/b/c"]);
    const s = replayTo(recs, recs.length - 1);
    expect(s.nodes.get("/a/d")?.perms).toEqual(["n0", "r1"]);
    expect(s.nodes.has("/a/x")).toBe(false);
    expect(value(s, "/local/domain/1/device/vif/0/state")).toBe("1");
    const rm = replayTo(
      [...recs, ...xs([["RM", "/a\\0", "OK"]]).map((r) => ({ ...r, details: { ...r.details, req_id: 99 } }))],
      99,
    );
    expect(rm.removed.sort()).toEqual(["/a", "/a/b", "/a/b/c", "/a/d"]);
    expect([...rm.nodes.keys()].some((p) => p.startsWith("/a"))).toBe(false);
  });

  it("applies transaction writes only at a successful commit", () => {
    const recs = xs([
      ["TRANSACTION_START", "\\0", "7"],
      ["WRITE", "/t/a\\01", "OK", 7],
      ["TRANSACTION_END", "T\\0", "OK", 7],
      ["TRANSACTION_START", "\\0", "8"],
      ["WRITE", "/t/b\\01", "OK", 8],
      ["TRANSACTION_END", "T\\0", "EAGAIN", 8],
      ["TRANSACTION_START", "\\0", "9"],
      ["WRITE", "/t/c\\01", "OK", 9],
      ["TRANSACTION_END", "F\\0", "OK", 9],
    ]);
    expect(value(replayTo(recs, 3), "/t/a")).toBeUndefined(); // written inside tx 7, not committed yet
    const committed = replayTo(recs, 5);
    expect(value(committed, "/t/a")).toBe("1");
    expect(committed.changed).toContain("/t/a");
    const s = replayTo(recs, recs.length - 1);
    expect(s.nodes.has("/t/b")).toBe(false); // EAGAIN
    expect(s.nodes.has("/t/c")).toBe(false); // aborted
  });

  it("lists the tree parent-first with numeric segments in order", () => {
    const recs = xs([
      ["WRITE", "/l/10\\0x", "OK"],
      ["WRITE", "/l/2\\0y", "OK"],
      ["WRITE", "/l/2/a\\0z", "OK"],
    ]);
    expect(treeRows(replayTo(recs, 99)).map((r) => r.path)).toEqual(["/l", "/l/2", "/l/2/a", "/l/10"]);
  });
});

describe("state replay of a real run (toy device through the real toolstack, XenStore ring, grants)", () => {
  it("sees the XenBus states, grants, ports and rings of the toy device at each step", () => {
    const rp = new Replayer(toy, 64);
    const connectedAt = toy.findIndex(
      (r) => r.kind === "xenbus.state" && r.details.to === "Connected" && r.actor === "dom0",
    );
    expect(connectedAt).toBeGreaterThan(0);
    const s = rp.at(connectedAt);
    const [dev] = deviceViews(s);
    expect(dev).toMatchObject({ key: "toy/1/0", backDomid: 0, frontState: "4", backState: "4" });
    expect(dev!.frontDriver?.state).toBe("Connected");
    expect(dev!.backDriver?.state).toBe("Connected");
    expect(s.nodes.get("/local/domain/1/device/toy/0/state")?.value).toBe("4");

    const ref = Number(s.nodes.get("/local/domain/1/device/toy/0/ring-ref")?.value);
    expect(sortedGrants(s)).toContainEqual(expect.objectContaining({ granter: 1, ref, grantee: 0 }));
    expect(sortedMappings(s)).toContainEqual(expect.objectContaining({ mapper: 0, granter: 1, ref }));
    // The xenstore page of dom1, mapped by xenstored since INTRODUCE.
    expect(sortedMappings(s)).toContainEqual(expect.objectContaining({ mapper: 0, granter: 1, ref: 1 }));

    const port = Number(s.nodes.get("/local/domain/1/device/toy/0/event-channel")?.value);
    const fe = sortedPorts(s).find((p) => p.domid === 1 && p.port === port);
    expect(fe).toMatchObject({ status: "interdomain", remoteDomid: 0 });
    const labels = portLabels(s);
    expect(labels.get(`1:${port}`)).toBe("toy/1/0 event-channel");
    expect(labels.get(`0:${fe!.remotePort}`)).toBe("toy/1/0 event-channel");
    expect(labels.get("1:1")).toBe("xenstore");

    const xsRing = sortedRings(s).find((r) => r.id === "xenstore/dom1")!;
    expect(xsRing.indices.req_prod).toBe(xsRing.indices.req_cons);
    expect(xsRing.indices.req_prod).toBeGreaterThan(0);

    // After the requests and responses the device ring shows 2/2.
    const last = rp.at(toy.length - 1);
    const rings = sortedRings(rp.at(toy.findLastIndex((r) => r.kind === "ring.indices")));
    expect(rings.find((r) => r.id === "toy/1/0/ring")?.indices).toMatchObject({
      req_prod: 2,
      rsp_prod: 2,
      rsp_cons: 2,
    });
    // Unplugged: no device nodes, no grant of the ring, no mapping, the device ports closed.
    expect([...last.nodes.keys()].some((p) => p.includes("/device/toy/"))).toBe(false);
    expect(sortedGrants(last).filter((g) => g.ref === ref)).toEqual([]);
    expect(sortedMappings(last).filter((m) => m.ref === ref)).toEqual([]);
    expect(sortedPorts(last).filter((p) => p.port === port && p.domid === 1)).toEqual([]);
  });

  it("gives the same state by random access as by a fresh replay, and is a pure function of the trace", () => {
    const rp = new Replayer(toy, 50);
    for (const step of [700, 3, 120, 119, 500, toy.length - 1, 0, 260]) {
      const a = rp.at(step);
      const b = replayTo(toy, step);
      expect(treeRows(a)).toEqual(treeRows(b));
      expect(sortedPorts(a)).toEqual(sortedPorts(b));
      expect(sortedGrants(a)).toEqual(sortedGrants(b));
      expect(a.changed).toEqual(b.changed);
    }
  });

  it("lists the state-change steps in order, each a xenbus.state record or a device state node write", () => {
    const rp = new Replayer(toy);
    const steps = rp.stateChangeSteps;
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(rp.nextStateChange(-1)).toBe(steps[0]);
    expect(rp.prevStateChange(steps[1]!)).toBe(steps[0]);
    for (const i of steps) {
      const r = toy[i]!;
      expect(r.kind === "xenbus.state" || r.kind === "xs.reply").toBe(true);
    }
  });
});
