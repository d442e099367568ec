// The toolstack's XenStore writes for a new domain (libxl__domain_make(), toolstack.md §1,
// plus `domid` from libxl__build_post() §2), as a data table, so the socket daemon's
// --guest-socket and the simulated toolstack write exactly the same nodes and permissions.
import type { DirectClient } from "../server/direct-client.ts";
import type { XsErrno } from "../wire/errors.ts";

/** One node of a domain's home: absolute path, value, permissions (XenStore notation). */
export interface HomeNode {
  readonly path: string;
  readonly value: string;
  /** `undefined`: inherited from the parent (libxl writes no explicit perms). */
  readonly perms: readonly string[] | undefined;
}

export interface DomainHomeOptions {
  /** `/local/domain/D/name` and `/vm/<uuid>/name`; default `guest<D>`. */
  name?: string;
  /** `/vm/<uuid>`; default a uuid derived from the domid (deterministic). */
  uuid?: string;
  /** `/libxl/D/type`; default `pv`. */
  type?: "pv" | "hvm" | "pvh";
}

/** A deterministic uuid for domain `domid`: `00000000-0000-0000-0000-<domid as 12 hex>`. */
export function defaultDomainUuid(domid: number): string {
  return `00000000-0000-0000-0000-${domid.toString(16).padStart(12, "0")}`;
}

/**
 * The nodes libxl__domain_make() writes for domain `domid` (toolstack.md §1), in libxl's
 * order, plus `domid` (§2). Paths that libxl removes first are listed by {@link homeRoots}.
 */
export function domainHomeNodes(domid: number, opts: DomainHomeOptions = {}): HomeNode[] {
  const d = String(domid);
  const name = opts.name ?? `guest${d}`;
  const uuid = opts.uuid ?? defaultDomainUuid(domid);
  const home = `/local/domain/${d}`;
  const vm = `/vm/${uuid}`;
  const roRead = ["n0", `r${d}`];
  const guest = [`n${d}`];
  const hvm = opts.type === "hvm";
  const nodes: HomeNode[] = [
    { path: home, value: "", perms: roRead },
    { path: vm, value: "", perms: roRead },
    { path: `/libxl/${d}`, value: "", perms: ["n0"] },
    { path: `/libxl/${d}/device`, value: "", perms: ["n0"] },
    { path: `${home}/vm`, value: vm, perms: undefined },
    { path: `${home}/name`, value: name, perms: undefined },
    { path: `${home}/cpu`, value: "", perms: roRead },
    { path: `${home}/memory`, value: "", perms: roRead },
    { path: `${home}/control`, value: "", perms: roRead },
    ...(hvm ? [{ path: `${home}/hvmloader`, value: "", perms: roRead }] : []),
    { path: `${home}/device`, value: "", perms: roRead },
    { path: `${home}/device/suspend/event-channel`, value: "", perms: guest },
    ...[
      "control/shutdown",
      "control/feature-poweroff",
      "control/feature-reboot",
      "control/feature-suspend",
      ...(hvm ? ["control/feature-s3", "control/feature-s4"] : []),
      "control/sysrq",
      "data",
      "drivers",
      "feature",
      "attr",
      "error",
    ].map((p) => ({ path: `${home}/${p}`, value: "", perms: guest })),
    { path: `${vm}/uuid`, value: uuid, perms: undefined },
    { path: `${vm}/name`, value: name, perms: undefined },
    { path: `${home}/control/platform-feature-multiprocessor-suspend`, value: "1", perms: undefined },
    { path: `${home}/control/platform-feature-xs_reset_watches`, value: "1", perms: undefined },
    { path: `/libxl/${d}/type`, value: opts.type ?? "pv", perms: undefined },
    // libxl__build_post() (§2); the rest of §2 (memory, store, cpu) needs a built domain
    { path: `${home}/domid`, value: d, perms: undefined },
  ];
  return nodes;
}

/** Subtrees libxl removes before writing (a stale home of a reused domid goes away). */
export function homeRoots(domid: number, opts: DomainHomeOptions = {}): string[] {
  const uuid = opts.uuid ?? defaultDomainUuid(domid);
  return [`/local/domain/${domid}`, `/vm/${uuid}`, `/libxl/${domid}`];
}

/**
 * Writes domain `domid`'s home through `client` (dom0) in one transaction, retried on EAGAIN
 * as libxl does. Returns null, or the errno of the first step that failed.
 */
export function writeDomainHome(
  client: DirectClient,
  domid: number,
  opts: DomainHomeOptions = {},
): XsErrno | null {
  for (let attempt = 0; attempt < 16; attempt++) {
    const t = client.transactionStart();
    if (!t.ok) return t.errno;
    const tx = t.value;
    const err = writeInTransaction(client, domid, opts, tx);
    if (err) {
      client.transactionEnd(tx, false);
      return err;
    }
    const end = client.transactionEnd(tx, true);
    if (end.ok) return null;
    if (end.errno !== "EAGAIN") return end.errno;
  }
  return "EAGAIN";
}

function writeInTransaction(
  client: DirectClient,
  domid: number,
  opts: DomainHomeOptions,
  tx: number,
): XsErrno | null {
  for (const root of homeRoots(domid, opts)) {
    const r = client.rm(root, tx);
    if (!r.ok && r.errno !== "ENOENT") return r.errno;
  }
  for (const n of domainHomeNodes(domid, opts)) {
    const w = client.write(n.path, n.value, tx);
    if (!w.ok) return w.errno;
    if (n.perms) {
      const p = client.setPerms(n.path, [...n.perms], tx);
      if (!p.ok) return p.errno;
    }
  }
  return null;
}
