// CONTROL (cx do_control()): `help`, `print` (dump the tree), `quota` (limits, or a domain's
// usage and refusals), `check`. Unknown commands → EINVAL as cx; cx commands xensim does not
// implement (log, logfile, memreport, quota-soft, live-update) → ENOSYS.
import { XsOpError } from "../store/access.ts";
import { formatPerms } from "../store/permissions.ts";
import type { Quotas } from "../store/quotas.ts";
import { bytesToLatin1, encodeString } from "../wire/payload.ts";
import type { Session } from "./session.ts";
import type { XenStoreServer } from "./xenstore-server.ts";

const UNIMPLEMENTED = new Set(["log", "logfile", "memreport", "quota-soft", "live-update"]);

export function controlCommand(server: XenStoreServer, _s: Session, args: string[]): Uint8Array {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case "help":
      return encodeString("check\nhelp\nprint\nquota [<domid>]\n");
    case "check":
      return encodeString("OK");
    case "print":
      return encodeString(printTree(server));
    case "quota":
      return encodeString(
        rest.length === 0 ? quotaLimits(server.quotas) : quotaUsage(server, Number(rest[0])),
      );
    default:
      if (cmd !== undefined && UNIMPLEMENTED.has(cmd)) throw new XsOpError("ENOSYS");
      throw new XsOpError(server.profile.unknownControlErrno);
  }
}

/** One line per node: `path = "value" (perms)`, parents first (cx `print` / xenstore-ls style). */
export function printTree(server: XenStoreServer): string {
  const lines: string[] = [];
  server.store.walk((path, value, perms) => {
    lines.push(`${path} = "${escapeValue(bytesToLatin1(value))}" (${formatPerms(perms).join(" ")})`);
  });
  return `${lines.join("\n")}\n`;
}

function escapeValue(s: string): string {
  let o = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    o += c >= 32 && c < 127 && ch !== '"' && ch !== "\\" ? ch : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return o;
}

function quotaLimits(q: Quotas): string {
  return `${Object.entries(q)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n")}\n`;
}

function quotaUsage(server: XenStoreServer, domid: number): string {
  if (!Number.isInteger(domid) || domid < 0) throw new XsOpError("EINVAL");
  const q = server.quotas;
  const st = server.store;
  const lines = [
    `domain ${domid}${server.isPrivileged(domid) ? " (privileged: quotas not enforced)" : ""}`,
    `nodes: ${st.nodeCount(domid)} / ${q.nodes}`,
    `watches: ${st.watchCount(domid)} / ${q.watches}`,
    `transactions: ${st.transactionCount(domid)} / ${q.transactions}`,
    `node-size: ${q.nodeSize}`,
    `permissions: ${q.permissions}`,
    `outstanding: ${q.outstanding}`,
    `transaction-nodes: ${q.transactionNodes}`,
  ];
  const hits = server.quotaRefusals(domid);
  if (hits.length === 0) lines.push("refused: none");
  for (const h of hits) lines.push(`refused: ${h.quota} (${h.errno}) x${h.count}`);
  return `${lines.join("\n")}\n`;
}
