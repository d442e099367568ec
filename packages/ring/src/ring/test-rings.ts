// Test helper: a ring's pages in a fresh domain's memory, with a front and a back attached.
import { GuestMemory } from "../memory/guest-memory.ts";
import type { Gfn } from "../memory/page.ts";
import { BackRing } from "./back-ring.ts";
import { FrontRing } from "./front-ring.ts";
import { PageSequence } from "./page-sequence.ts";
import type { RingProtocol } from "./ring-protocol.ts";
import { initSharedRing } from "./shared-ring.ts";

export function ringPair<P extends RingProtocol>(protocol: P, nrPages = 1, start = 0) {
  const mem = new GuestMemory(1);
  const seq = PageSequence.of((mem.allocateMany(nrPages) as Gfn[]).map((g) => mem.page(g)));
  initSharedRing(seq, start);
  return { seq, front: FrontRing.attach(seq, protocol, start), back: BackRing.attach(seq, protocol, start) };
}
