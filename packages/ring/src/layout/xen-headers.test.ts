// Fidelity: every struct layout, ring size and constant we model is compared with what gcc
// computes from Debian's libxen-dev headers (x86_64). The x86_32 blkif structs come from
// testing/c/xen-userspace.h, which reproduces Linux xen-blkback's #pragma pack(4) definitions
// because libxen-dev has none and gcc -m32 is not available here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as domid from "../domid.ts";
import * as gntst from "../grant/gnttab-status.ts";
import { GRANT_ENTRY_V1 } from "../grant/grant-entry.ts";
import * as flags from "../grant/grant-flags.ts";
import * as blkif from "../ring/protocols/blkif.ts";
import * as netif from "../ring/protocols/netif.ts";
import { ringSize } from "../ring/ring-index.ts";
import type { RingProtocol } from "../ring/ring-protocol.ts";
import { SHARED_RING_HEADER, SRING_HEADER_SIZE } from "../ring/shared-ring.ts";
import { NativeBuildDir, probeToolchain } from "../testing/native-toolchain.ts";
import * as xs from "../xenstore-page/xenstore-interface.ts";
import type { StructLayout } from "./struct-layout.ts";

const STRUCTS: [StructLayout, string][] = [
  [GRANT_ENTRY_V1, "struct grant_entry_v1"],
  [netif.NETIF_TX_REQUEST, "struct netif_tx_request"],
  [netif.NETIF_TX_RESPONSE, "struct netif_tx_response"],
  [netif.NETIF_EXTRA_INFO, "struct netif_extra_info"],
  [netif.NETIF_RX_REQUEST, "struct netif_rx_request"],
  [netif.NETIF_RX_RESPONSE, "struct netif_rx_response"],
  [netif.XEN_NETIF_CTRL_REQUEST, "struct xen_netif_ctrl_request"],
  [netif.XEN_NETIF_CTRL_RESPONSE, "struct xen_netif_ctrl_response"],
  [blkif.BLKIF_REQUEST_SEGMENT, "struct blkif_request_segment"],
  [blkif.BLKIF_REQUEST_X86_64, "struct blkif_request"],
  [blkif.BLKIF_REQUEST_DISCARD_X86_64, "struct blkif_request_discard"],
  [blkif.BLKIF_REQUEST_INDIRECT_X86_64, "struct blkif_request_indirect"],
  [blkif.BLKIF_RESPONSE_X86_64, "struct blkif_response"],
  [blkif.BLKIF_REQUEST_X86_32, "struct blkif_x86_32_request"],
  [blkif.BLKIF_RESPONSE_X86_32, "struct blkif_x86_32_response"],
];

const RINGS: [RingProtocol, string][] = [
  [netif.NETIF_TX_RING, "netif_tx"],
  [netif.NETIF_RX_RING, "netif_rx"],
  [netif.NETIF_CTRL_RING, "xen_netif_ctrl"],
  [blkif.BLKIF_RING_X86_64, "blkif"],
  [blkif.BLKIF_RING_X86_32, "blkif_x86_32"],
];

/** Header macros and their TypeScript counterparts. */
const CONSTANTS: [string, number][] = [
  ...Object.entries(gntst).filter(([k]) => k.startsWith("GNTST_")),
  ...Object.entries(flags).filter(([k]) => /^(GTF_|GNTMAP_|GNTCOPY_|GNTTAB_)/.test(k)),
  ...Object.entries(domid).filter(([k]) => k.startsWith("DOMID_")),
  ...Object.entries(xs).filter(([k]) =>
    /^XENSTORE_(RING_SIZE|PAYLOAD_MAX|SERVER_FEATURE_R|SERVER_FEATURE_E|CONNECTED|RECONNECT|ERROR_)/.test(k),
  ),
  ...Object.entries(blkif).filter(([k]) => /^BLKIF_(OP_|RSP_|MAX_)/.test(k)),
  ...Object.entries(netif).filter(([k]) => /^(NETTXF_|NETRXF_|NETIF_RSP_)/.test(k)),
].filter((e): e is [string, number] => typeof e[1] === "number");

/** key → value lines the C probe prints and we expect. */
function expectedFacts(withEvtchnPort: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  const struct = (l: StructLayout, key: string, skipSize = false) => {
    if (!skipSize) {
      out[`${key}.size`] = l.size;
      out[`${key}.align`] = l.align;
    }
    for (const [name, f] of Object.entries(l.fields)) {
      out[`${key}.${name}.offset`] = f.offset;
      out[`${key}.${name}.size`] = f.size;
      if (f.type === "array") out[`${key}.${name}[0].size`] = f.element.size;
    }
  };
  for (const [l, c] of STRUCTS) struct(l, c);
  struct(SHARED_RING_HEADER, "struct netif_tx_sring", true);
  const xsi = xs.XENSTORE_DOMAIN_INTERFACE;
  if (withEvtchnPort) struct(xsi, "struct xenstore_domain_interface");
  else {
    // Xen ≤ 4.17 header: evtchn_port does not exist yet; ours must be appended right after `error`.
    const { evtchn_port, ...older } = xsi.fields;
    struct({ ...xsi, size: evtchn_port.offset, fields: older }, "struct xenstore_domain_interface");
  }
  for (const [p, c] of RINGS) {
    out[`${c}.slot`] = p.slotSize;
    out[`${c}.ring_offset`] = SRING_HEADER_SIZE;
    for (let order = 0; order <= 4; order++)
      out[`${c}.ring_size.${order}`] = ringSize(p.slotSize, 1 << order);
  }
  for (const [name, v] of CONSTANTS) out[name] = v;
  return out;
}

function probeSource(facts: Record<string, number>): string {
  const lines = Object.keys(facts).map((key) => {
    let m = /^(struct \w+)\.(\w+)\[0\]\.size$/.exec(key);
    if (m) return `P("${key}", sizeof(((${m[1]} *)0)->${m[2]}[0]));`;
    m = /^(struct \w+)\.(\w+)\.(offset|size)$/.exec(key);
    if (m) {
      return m[3] === "offset"
        ? `P("${key}", offsetof(${m[1]}, ${m[2]}));`
        : `P("${key}", sizeof(((${m[1]} *)0)->${m[2]}));`;
    }
    m = /^(struct \w+)\.(size|align)$/.exec(key);
    if (m) return `P("${key}", ${m[2] === "size" ? "sizeof" : "_Alignof"}(${m[1]}));`;
    m = /^(\w+)\.(slot|ring_offset|ring_size\.(\d))$/.exec(key);
    if (m) {
      if (m[2] === "slot") return `P("${key}", sizeof(union ${m[1]}_sring_entry));`;
      if (m[2] === "ring_offset") return `P("${key}", offsetof(struct ${m[1]}_sring, ring));`;
      return `P("${key}", __CONST_RING_SIZE(${m[1]}, 4096 << ${m[3]}));`;
    }
    return `P("${key}", ${key});`;
  });
  return `#include <stdio.h>
#include "xen-userspace.h"
#define P(k, v) printf("%s %lld\\n", k, (long long)(v))
int main(void) {
${lines.join("\n")}
  return 0;
}
`;
}

const tc = probeToolchain();
const title = tc.ok
  ? "layouts match gcc + libxen-dev"
  : `layouts match gcc + libxen-dev (skipped: ${tc.reason})`;

describe.skipIf(!tc.ok)(title, () => {
  let dir: NativeBuildDir;
  let expected: Record<string, number>;
  let actual: Record<string, number>;

  beforeAll(async () => {
    const { spawnSync } = await import("node:child_process");
    dir = new NativeBuildDir();
    const withEvtchnPort = dir.compiles(
      "evtchn-port",
      `#include "xen-userspace.h"\nint x = offsetof(struct xenstore_domain_interface, evtchn_port);\n`,
    );
    expected = expectedFacts(withEvtchnPort);
    const exe = dir.compile("layout-probe", { source: probeSource(expected) });
    const out = spawnSync(exe, { encoding: "utf8" }).stdout;
    actual = {};
    for (const line of out.trim().split("\n")) {
      const at = line.lastIndexOf(" ");
      actual[line.slice(0, at)] = Number(line.slice(at + 1));
    }
  });
  afterAll(() => dir?.dispose());

  it("struct sizes, alignments and field offsets", () => {
    const pick = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith("struct ")));
    expect(pick(actual)).toEqual(pick(expected));
  });

  it("ring slot sizes, header size and RING_SIZE for 1..16 pages", () => {
    const pick = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => /\.(slot|ring_offset|ring_size\.\d)$/.test(k)));
    expect(pick(actual)).toEqual(pick(expected));
  });

  it("GNTST_*, GTF_*, GNTMAP_*, DOMID_*, XenStore, blkif and netif constants", () => {
    const pick = (o: Record<string, number>) => Object.fromEntries(CONSTANTS.map(([k]) => [k, o[k]]));
    expect(pick(actual)).toEqual(pick(expected));
    expect(CONSTANTS.length).toBeGreaterThan(60);
  });
});
