// Hostile vbd peers (hostile-peers.md §B against blkfront, §C against blkback): one end of a
// connected vbd is taken over by hand — the real driver's ring thread stopped or its upcall
// unbound — and writes what a malicious or buggy peer would. The hands are also what the blk
// unit tests use to play a peer.
import type { DomainEvents } from "@xensim/evtchn";
import type { SlotWriter } from "@xensim/ring";
import type { BlkfrontDevice, RingInfo } from "../guest/blkfront/blkfront.ts";
import {
  BLKIF_ABI_X86_64 as ABI,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  getU64n,
  setU64n,
} from "../guest/blkfront/blkif-abi.ts";
import type { BlkbackDevice } from "../host/blkback/blkback.ts";
import type { BlkbackRing } from "../host/blkback/blkback-ring.ts";

/** blkback's side of one ring played by hand: its ring thread is stopped first. */
export class BlkBackendHands {
  private readonly snap;

  constructor(
    readonly ring: BlkbackRing,
    private readonly dom0: DomainEvents,
  ) {
    ring.active = false;
    this.snap = ring.back.requestSnapshot();
  }

  /** Requests the frontend produced that nobody consumed yet. */
  pending(): number {
    const n = this.ring.back.unconsumedRequests();
    return typeof n === "number" ? n : 0;
  }

  /** Consumes the next request (RING_COPY_REQUEST): its id, operation and first segment's gref. */
  take(): { id: number; op: number; gref: number } {
    if (!this.ring.back.takeRequest(this.snap)) throw new Error("no request to take");
    return { id: getU64n(this.snap, ABI.id), op: this.snap.getU8(ABI.op), gref: this.snap.getU32(ABI.seg0) };
  }

  /** Writes one response (fields from `fill`), pushes it and kicks the frontend. */
  respond(fill: (w: SlotWriter) => void): void {
    const w = this.ring.back.nextResponse();
    if (w === undefined) throw new Error("response ring full");
    fill(w);
    this.ring.back.pushResponses();
    this.kick();
  }

  kick(): void {
    this.dom0.send(this.ring.port);
  }
}

/** A blkif response (x86_64 ABI): id, operation, status. */
export function blkResponse(id: number, op: number, status: number): (w: SlotWriter) => void {
  return (w) => {
    w.setU32(ABI.rspId, id);
    w.setU32(ABI.rspId + 4, 0);
    w.setU8(ABI.rspOp, op);
    w.setU16(ABI.rspStatus, status & 0xffff);
  };
}

/** A READ/WRITE request's fields: sector and segments `[gref, first_sect, last_sect]`. */
export function blkRw(op: number, sector: number, segs: readonly [number, number, number][]) {
  return (w: SlotWriter): void => {
    w.setU8(ABI.op, op);
    w.setU8(ABI.nrSegments, segs.length);
    w.setU16(ABI.handle, 51712);
    setU64n(w, ABI.sector, sector);
    segs.forEach(([gref, first, last], i) => {
      w.setU32(ABI.seg0 + 8 * i, gref);
      w.setU8(ABI.seg0 + 8 * i + 4, first);
      w.setU8(ABI.seg0 + 8 * i + 5, last);
    });
  };
}

/** blkfront's side of one ring played by hand: its upcall is unbound, so responses stay for us. */
export class BlkFrontendHands {
  private readonly snap;
  private nextId = 1000;

  constructor(
    readonly r: RingInfo,
    private readonly events: DomainEvents,
  ) {
    events.unbindHandler(r.port);
    this.snap = r.front.responseSnapshot();
  }

  /** Pushes one raw request (fields written by `fill`, id set here) and kicks the backend. */
  send(fill: (w: SlotWriter) => void, id = this.nextId++): number {
    const w = this.r.front.nextRequest();
    if (w === undefined) throw new Error("request ring full");
    fill(w);
    setU64n(w, ABI.id, id);
    this.r.front.pushRequests();
    this.kick();
    return id;
  }

  kick(): void {
    this.events.send(this.r.port);
  }

  /** Every response the backend produced since the last call. */
  responses(): { id: number; idHi: number; op: number; status: number }[] {
    const out = [];
    const n = this.r.front.unconsumedResponses();
    if (typeof n !== "number") throw new Error(n.kind);
    while (this.r.front.takeResponse(this.snap)) {
      out.push({
        id: this.snap.getU32(ABI.rspId),
        idHi: this.snap.getU32(ABI.rspId + 4),
        op: this.snap.getU8(ABI.rspOp),
        status: this.snap.getI16(ABI.rspStatus),
      });
    }
    return out;
  }
}

export type BlkHostileKind =
  | "be-blk-id-range"
  | "be-blk-wrong-op"
  | "be-blk-rsp-prod-jump"
  | "be-blk-bad-status"
  | "fe-blk-req-prod-overflow"
  | "fe-blk-bad-requests";

/** What a hostile vbd action needs: both ends of the connected vbd and the machine's hands. */
export interface BlkHostileEnv {
  readonly disk: BlkfrontDevice;
  readonly be: BlkbackDevice;
  readonly guestEvents: DomainEvents;
  readonly dom0Events: DomainEvents;
  advance(): Promise<void>;
}

/**
 * Plays one hostile vbd action. Returns false when it could not be applied (no request reached
 * the backend, say); the caller judges the honest end afterwards. `pending` collects the I/O
 * the action started, whose outcome (an error, usually) is the frontend's business.
 */
export async function playBlkHostile(
  kind: BlkHostileKind,
  env: BlkHostileEnv,
  pending: Promise<unknown>[],
): Promise<boolean> {
  const ring = env.be.rings[0];
  const fring = env.disk.rings[0];
  if (ring === undefined || fring === undefined) return false;
  if (kind.startsWith("be-")) {
    const hands = new BlkBackendHands(ring, env.dom0Events);
    // One read of ours reaches the stopped backend (blkfront may already have more in flight).
    pending.push(env.disk.read(0, 8).catch(() => undefined));
    await env.advance();
    if (kind === "be-blk-rsp-prod-jump") {
      ring.back.header.rspProd = (ring.back.header.rspProd + 1000) >>> 0;
      hands.kick();
      return true;
    }
    if (hands.pending() < 1) return false;
    const req = hands.take();
    switch (kind) {
      case "be-blk-id-range":
        hands.respond(blkResponse(9999, req.op, 0));
        break;
      case "be-blk-wrong-op":
        hands.respond(blkResponse(req.id, req.op === BLKIF_OP_READ ? BLKIF_OP_WRITE : BLKIF_OP_READ, 0));
        break;
      case "be-blk-bad-status":
        hands.respond(blkResponse(req.id, req.op, 7));
        // Then the backend behaves again: requests after this one are served normally.
        ring.active = true;
        break;
    }
    return true;
  }
  const hands = new BlkFrontendHands(fring, env.guestEvents);
  switch (kind) {
    case "fe-blk-req-prod-overflow":
      fring.front.header.reqProd = (fring.front.header.reqProd + 5000) >>> 0;
      hands.kick();
      return true;
    case "fe-blk-bad-requests":
      // C3–C6: no segments, last_sect past the page, first > last, past the disk's end, an
      // unknown operation, a grant that does not exist — each answered with an error status.
      hands.send(blkRw(BLKIF_OP_READ, 0, []));
      hands.send(blkRw(BLKIF_OP_READ, 0, [[4000, 0, 8]]));
      hands.send(blkRw(BLKIF_OP_READ, 0, [[4000, 5, 4]]));
      hands.send(blkRw(BLKIF_OP_READ, 0xffff_fff0, [[4000, 0, 7]]));
      hands.send((w) => w.setU8(ABI.op, 4));
      hands.send(blkRw(BLKIF_OP_WRITE, 0, [[100000, 0, 0]]));
      await env.advance();
      hands.responses();
      return true;
  }
  return false;
}
