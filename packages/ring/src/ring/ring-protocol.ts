// A ring type = a request layout and a response layout sharing slots [ring.h DEFINE_RING_TYPES:
// union { req_t req; rsp_t rsp; } ring[]]. netif, blkif and user-defined devices are all just
// values of this type.
import type { StructLayout } from "../layout/struct-layout.ts";

export interface RingProtocol<
  Req extends StructLayout = StructLayout,
  Rsp extends StructLayout = StructLayout,
> {
  /** The DEFINE_RING_TYPES name, e.g. "netif_tx", "blkif". */
  readonly name: string;
  readonly request: Req;
  readonly response: Rsp;
  /** sizeof(union name##_sring_entry): the larger struct, rounded up to the stricter alignment. */
  readonly slotSize: number;
}

export function defineRingProtocol<Req extends StructLayout, Rsp extends StructLayout>(
  name: string,
  request: Req,
  response: Rsp,
): RingProtocol<Req, Rsp> {
  const align = Math.max(request.align, response.align);
  const raw = Math.max(request.size, response.size);
  return { name, request, response, slotSize: Math.ceil(raw / align) * align };
}
