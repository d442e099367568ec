// Hostile peers (hostile-peers.md §B, §C): one end of a connected vif stops behaving and writes
// what a malicious or buggy peer would; the honest end must end with the device disabled and an
// error node naming the violation — never a crash, a hang, or a read outside a page.
import { NETTXF_more_data } from "@xensim/ring";
import type { Blkfront, BlkfrontDevice } from "../guest/blkfront/blkfront.ts";
import { ethernetFrame, netfrontOf, parseMac } from "../guest/netfront/index.ts";
import { TX_PENDING } from "../guest/netfront/netfront-queue.ts";
import type { Blkback } from "../host/blkback/blkback.ts";
import type { Guest, Machine } from "../host/machine.ts";
import { type DeviceKit, macOf } from "./devices.ts";
import { type BlkHostileKind, playBlkHostile } from "./hostile-blk.ts";

export type HostileKind =
  | BlkHostileKind
  | "be-tx-id-range"
  | "be-tx-id-inactive"
  | "be-rsp-prod-jump"
  | "be-rsp-prod-back"
  | "be-grant-kept"
  | "be-event-storm"
  | "fe-tx-cross-page"
  | "fe-too-many-slots"
  | "fe-req-prod-overflow"
  | "fe-bad-gref";

export interface HostileInfo {
  readonly name: HostileKind;
  /** The device type whose peer misbehaves. */
  readonly dev: "vif" | "vbd";
  /** Which end misbehaves: the backend (against our netfront) or the frontend (against netback). */
  readonly peer: "backend" | "frontend";
  readonly description: string;
  /** Verdict the honest side must reach: disabled with this reason, or keep working. */
  readonly expect: RegExp | "survive";
}

export const HOSTILE: readonly HostileInfo[] = [
  {
    name: "be-tx-id-range",
    dev: "vif",
    peer: "backend",
    description: "TX response with id ≥ 256 (B3)",
    expect: /incorrect id/,
  },
  {
    name: "be-tx-id-inactive",
    dev: "vif",
    peer: "backend",
    description: "TX response for an id that is not in flight (B3)",
    expect: /inactive request/,
  },
  {
    name: "be-rsp-prod-jump",
    dev: "vif",
    peer: "backend",
    description: "RX rsp_prod jumps 300 past rsp_cons (B1)",
    expect: /Illegal number of responses/,
  },
  {
    name: "be-rsp-prod-back",
    dev: "vif",
    peer: "backend",
    description: "TX rsp_prod moves backwards (B2)",
    expect: /backwards|Illegal number of responses/,
  },
  {
    name: "be-grant-kept",
    dev: "vif",
    peer: "backend",
    description: "the backend keeps a TX grant mapped after responding (B6)",
    expect: /Grant still in use/,
  },
  {
    name: "be-event-storm",
    dev: "vif",
    peer: "backend",
    description: "200 kicks without responses (B8): no livelock, device keeps working",
    expect: "survive",
  },
  {
    name: "fe-tx-cross-page",
    dev: "vif",
    peer: "frontend",
    description: "TX request crossing its page (offset 4000 + 200) (C7)",
    expect: /Cross page boundary/,
  },
  {
    name: "fe-too-many-slots",
    dev: "vif",
    peer: "frontend",
    description: "a more_data chain of 24 slots (C7)",
    expect: /Malicious frontend/,
  },
  {
    name: "fe-req-prod-overflow",
    dev: "vif",
    peer: "frontend",
    description: "req_prod jumps 300 past the backend's consumer (C1)",
    expect: /Impossible number of requests/,
  },
  {
    name: "fe-bad-gref",
    dev: "vif",
    peer: "frontend",
    description: "TX request naming a grant ref that does not exist (C6): error response, vif stays up",
    expect: "survive",
  },
  {
    name: "be-blk-id-range",
    dev: "vbd",
    peer: "backend",
    description: "blkif response with id 9999 (B3)",
    expect: /incorrect id/,
  },
  {
    name: "be-blk-wrong-op",
    dev: "vbd",
    peer: "backend",
    description: "blkif response with another request's operation (B4)",
    expect: /wrong operation/,
  },
  {
    name: "be-blk-rsp-prod-jump",
    dev: "vbd",
    peer: "backend",
    description: "blkif rsp_prod jumps 1000 ahead (B1)",
    expect: /illegal number of responses/,
  },
  {
    name: "be-blk-bad-status",
    dev: "vbd",
    peer: "backend",
    description: "blkif response status 7, outside {-2,-1,0} (B22): an I/O error, the disk stays up",
    expect: "survive",
  },
  {
    name: "fe-blk-req-prod-overflow",
    dev: "vbd",
    peer: "frontend",
    description: "blkif req_prod jumps 5000 past the backend's consumer (C1): the ring halts",
    expect: /bogus ring requests/,
  },
  {
    name: "fe-blk-bad-requests",
    dev: "vbd",
    peer: "frontend",
    description:
      "no segments, bad sectors, past the end, unknown op, bad gref (C3–C6): error responses, vbd stays up",
    expect: "survive",
  },
];

export const HOSTILE_NAMES: readonly HostileKind[] = HOSTILE.map((h) => h.name);

export function hostileInfo(name: string): HostileInfo | undefined {
  return HOSTILE.find((h) => h.name === name);
}

export interface HostileEnv {
  readonly m: Machine;
  readonly guest: Guest;
  /** The run's device kits: the hostile action needs the real drivers of its device type. */
  readonly kits: ReadonlyMap<string, DeviceKit>;
  /** Runs the machine until idle (bounded). */
  advance(): Promise<void>;
}

export interface HostileOutcome {
  /** False when the vif was not connected, so nothing was done. */
  readonly applied: boolean;
  readonly failures: string[];
}

function read(m: Machine, path: string): string | undefined {
  const r = m.platform.xenstored.direct(0).readString(path);
  return r.ok ? r.value : undefined;
}

/** Plays one hostile action against the vif of `env.guest` and judges the honest end. */
export async function runHostile(kind: HostileKind, env: HostileEnv): Promise<HostileOutcome> {
  const info = hostileInfo(kind)!;
  if (info.dev === "vbd") return runBlkHostile(info, env);
  const { m, guest } = env;
  const netback = env.kits.get("vif")?.netback;
  if (netback === undefined) return { applied: false, failures: [] };
  const domid = guest.kernel.domid;
  const nf = netfrontOf(guest.bus, 0);
  const vif = netback.vif(domid);
  const bq = vif?.queues[0];
  const fq = nf?.queues[0];
  if (
    nf === undefined ||
    !nf.connected ||
    vif === undefined ||
    bq === undefined ||
    !bq.live ||
    fq === undefined
  )
    return { applied: false, failures: [] };
  const trace = m.sched.trace;
  trace.emit("hostile", "hostile.begin", { kind, peer: info.peer });
  const frame = (): Uint8Array =>
    ethernetFrame(
      parseMac("00:16:3e:ff:ff:02")!,
      parseMac(macOf(domid))!,
      0x88b5,
      new TextEncoder().encode("hostile".padEnd(46, ".")),
    );
  const dom0 = m.dom0;
  /** The backend stops serving TX and holds one request of ours (false if none arrived). */
  const holdOneRequest = async (): Promise<boolean> => {
    bq.live = false;
    nf.transmit(frame());
    await env.advance();
    const n = bq.tx.unconsumedRequests();
    if (typeof n !== "number" || n < 1) return false;
    return true;
  };
  let applied = true;
  switch (kind) {
    case "be-tx-id-range":
    case "be-tx-id-inactive": {
      if (!(await holdOneRequest())) {
        applied = false;
        break;
      }
      bq.tx.takeRequest(bq.tx.requestSnapshot());
      let id = 300;
      if (kind === "be-tx-id-inactive") {
        id = 0;
        while (id < 255 && fq.txLink[id] === TX_PENDING) id++;
      }
      bq.tx.writeResponse({ id, status: 0 });
      bq.tx.pushResponses();
      dom0.events.send(bq.txIrq);
      break;
    }
    case "be-rsp-prod-jump":
      bq.rx.header.rspProd = (bq.rx.header.rspProd + 300) >>> 0;
      dom0.events.send(bq.rxIrq);
      break;
    case "be-rsp-prod-back": {
      if (bq.tx.header.rspProd === 0) {
        // Let the backend answer one packet first, so there is an index to go back from.
        nf.transmit(frame());
        await env.advance();
      }
      const prod = bq.tx.header.rspProd;
      if (prod === 0) {
        applied = false;
        break;
      }
      bq.live = false;
      bq.tx.header.rspProd = (prod - 1) >>> 0;
      dom0.events.send(bq.txIrq);
      break;
    }
    case "be-grant-kept": {
      if (!(await holdOneRequest())) {
        applied = false;
        break;
      }
      const req = bq.tx.requestSnapshot();
      bq.tx.takeRequest(req);
      const map = dom0.gnttab.map(domid, req.getU32(0), { readonly: true });
      bq.tx.writeResponse({ id: req.getU16(8), status: 0 });
      bq.tx.pushResponses();
      dom0.events.send(bq.txIrq);
      await env.advance();
      if (map.status === 0) dom0.gnttab.unmap(map.handle);
      break;
    }
    case "be-event-storm":
      for (let i = 0; i < 200; i++) dom0.events.send(bq.txIrq);
      break;
    case "fe-tx-cross-page":
    case "fe-too-many-slots":
    case "fe-bad-gref": {
      fq.live = false;
      const reqs =
        kind === "fe-tx-cross-page"
          ? [{ gref: 8, offset: 4000, flags: 0, id: 1, size: 200 }]
          : kind === "fe-bad-gref"
            ? [{ gref: 100000, offset: 0, flags: 0, id: 3, size: 60 }]
            : Array.from({ length: 24 }, (_, i) => ({
                gref: 8,
                offset: 0,
                flags: NETTXF_more_data,
                id: i,
                size: i === 0 ? 240 : 10,
              }));
      for (const r of reqs) fq.tx.writeRequest(r);
      fq.tx.pushRequests();
      guest.kernel.events.send(fq.txEvtchn);
      break;
    }
    case "fe-req-prod-overflow":
      fq.live = false;
      fq.tx.header.reqProd = (fq.tx.header.reqProd + 300) >>> 0;
      guest.kernel.events.send(fq.txEvtchn);
      break;
  }
  if (!applied) {
    trace.emit("hostile", "hostile.skipped", { kind });
    return { applied: false, failures: [] };
  }
  await env.advance();
  const failures: string[] = [];
  if (info.peer === "backend") {
    const errNode = read(m, `/local/domain/${domid}/error/device/vif/0/error`);
    if (info.expect === "survive") {
      if (nf.broken)
        failures.push(`hostile ${kind}: netfront disabled (${nf.brokenReason}) by a harmless peer`);
    } else if (!nf.broken) {
      failures.push(`hostile ${kind}: netfront accepted it (not disabled)`);
    } else if (!info.expect.test(nf.brokenReason ?? "")) {
      failures.push(`hostile ${kind}: netfront disabled for the wrong reason: ${nf.brokenReason}`);
    } else if (errNode === undefined) {
      failures.push(`hostile ${kind}: netfront disabled without an error node`);
    }
  } else {
    const errNode = read(m, `/local/domain/0/error/backend/vif/${domid}/0/error`);
    if (info.expect === "survive") {
      if (vif.disabled) failures.push(`hostile ${kind}: netback disabled the vif (${vif.disabledReason})`);
    } else if (!vif.disabled) {
      failures.push(`hostile ${kind}: netback accepted it (vif not disabled)`);
    } else if (!info.expect.test(vif.disabledReason ?? "")) {
      failures.push(`hostile ${kind}: netback disabled the vif for the wrong reason: ${vif.disabledReason}`);
    } else if (errNode === undefined) {
      failures.push(`hostile ${kind}: vif disabled without an error node`);
    }
  }
  trace.emit("hostile", "hostile.verdict", { kind, ok: failures.length === 0 });
  return { applied: true, failures };
}

/** The vbd half of `runHostile`: play the action (hostile-blk.ts), then judge the honest end. */
async function runBlkHostile(info: HostileInfo, env: HostileEnv): Promise<HostileOutcome> {
  const { m, guest } = env;
  const kit = env.kits.get("vbd");
  const blkfront: Blkfront | undefined = kit?.blkfront;
  const blkback: Blkback | undefined = kit?.blkback;
  const domid = guest.kernel.domid;
  const disk = blkfront?.find("xvda");
  const be = disk === undefined ? undefined : blkback?.device(domid, disk.handle);
  if (
    disk === undefined ||
    disk.conn !== "connected" ||
    disk.frozen ||
    be === undefined ||
    be.rings.length === 0
  )
    return { applied: false, failures: [] };
  const kind = info.name as BlkHostileKind;
  const trace = m.sched.trace;
  trace.emit("hostile", "hostile.begin", { kind, peer: info.peer });
  const pending: Promise<unknown>[] = [];
  const applied = await playBlkHostile(
    kind,
    { disk, be, guestEvents: guest.kernel.events, dom0Events: m.dom0.events, advance: env.advance },
    pending,
  );
  if (!applied) {
    trace.emit("hostile", "hostile.skipped", { kind });
    return { applied: false, failures: [] };
  }
  await env.advance();
  const failures: string[] = [];
  const who = `hostile ${kind}`;
  const conn = disk.conn as BlkfrontDevice["conn"]; // the action changed it (TS narrowed it above)
  if (info.peer === "backend") {
    const errNode = read(m, `/local/domain/${domid}/error/device/vbd/${disk.handle}/error`);
    if (info.expect === "survive") {
      if (conn !== "connected") failures.push(`${who}: blkfront left the disk ${conn} (harmless peer)`);
    } else if (conn !== "error") {
      failures.push(`${who}: blkfront accepted it (disk ${conn})`);
    } else if (errNode === undefined) {
      failures.push(`${who}: blkfront disabled the disk without an error node`);
    } else if (!info.expect.test(errNode)) {
      failures.push(`${who}: blkfront disabled the disk for the wrong reason: ${errNode}`);
    }
  } else {
    const errNode = read(m, `/local/domain/0/error/backend/vbd/${domid}/${disk.handle}/error`);
    const halted = be.rings.some((r) => r.halted);
    if (info.expect === "survive") {
      if (halted || errNode !== undefined)
        failures.push(`${who}: blkback halted the ring (${errNode ?? "no error node"}) for harmless abuse`);
    } else if (!halted) {
      failures.push(`${who}: blkback accepted it (ring not halted)`);
    } else if (errNode === undefined) {
      failures.push(`${who}: blkback halted the ring without an error node`);
    } else if (!info.expect.test(errNode)) {
      failures.push(`${who}: blkback halted the ring for the wrong reason: ${errNode}`);
    }
  }
  trace.emit("hostile", "hostile.verdict", { kind, ok: failures.length === 0 });
  return { applied: true, failures };
}
