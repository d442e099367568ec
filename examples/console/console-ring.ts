// struct xencons_interface (xen/include/public/io/console.h): two byte rings in one page with
// free-running u32 indices — `in` (backend → guest, 1024 bytes) and `out` (guest → backend,
// 2048 bytes) — at the offsets the C struct has:
//   char in[1024] @0; char out[2048] @1024; in_cons @3072, in_prod @3076, out_cons @3080, out_prod @3084
import { type ByteWriter, bytes, defineStruct, u32 } from "@xensim/frontend-sim";

export const XENCONS_INTERFACE = defineStruct("xencons_interface", 3088, 4, {
  in: bytes(0, 1024),
  out: bytes(1024, 2048),
  in_cons: u32(3072),
  in_prod: u32(3076),
  out_cons: u32(3080),
  out_prod: u32(3084),
});

const F = XENCONS_INTERFACE.fields;

interface Direction {
  readonly buf: number;
  readonly size: number;
  readonly prod: number;
  readonly cons: number;
}
/** Guest → backend. */
export const OUT: Direction = {
  buf: F.out.offset,
  size: 2048,
  prod: F.out_prod.offset,
  cons: F.out_cons.offset,
};
/** Backend → guest. */
export const IN: Direction = { buf: F.in.offset, size: 1024, prod: F.in_prod.offset, cons: F.in_cons.offset };

/** The peer left indices no honest peer can produce (prod − cons > size). */
export class ConsoleRingError extends Error {
  override readonly name = "ConsoleRingError";
}

/**
 * Writes as much of `data` as fits (hvc_xen __write_console / xenconsoled's buffer_append in
 * reverse): read both indices once, check them, copy, then publish the producer. Returns the
 * number of bytes written, or a ConsoleRingError for impossible indices (never thrown).
 */
export function ringWrite(page: ByteWriter, d: Direction, data: Uint8Array): number | ConsoleRingError {
  const cons = page.getU32(d.cons);
  const prod = page.getU32(d.prod);
  const used = (prod - cons) >>> 0;
  if (used > d.size) return new ConsoleRingError(`prod ${prod} − cons ${cons} > ${d.size}`);
  const n = Math.min(data.length, d.size - used);
  for (let i = 0; i < n; i++) page.setU8(d.buf + ((prod + i) & (d.size - 1)), data[i]!);
  page.setU32(d.prod, (prod + n) >>> 0); // data before index
  return n;
}

/** Reads every byte available (hvc_xen domU_read_console), publishing the consumer. */
export function ringRead(page: ByteWriter, d: Direction): Uint8Array | ConsoleRingError {
  const cons = page.getU32(d.cons);
  const prod = page.getU32(d.prod);
  const avail = (prod - cons) >>> 0;
  if (avail > d.size) return new ConsoleRingError(`prod ${prod} − cons ${cons} > ${d.size}`);
  const out = new Uint8Array(avail);
  for (let i = 0; i < avail; i++) out[i] = page.getU8(d.buf + ((cons + i) & (d.size - 1)));
  page.setU32(d.cons, (cons + avail) >>> 0);
  return out;
}
