// `tsx test/support/refpeer-probe.ts [--ox] 'c OP args…; c OP args…'`: runs a tiny script
// on the reference cxenstored and on our server, prints both transcripts and whether they match.
// OPs: READ DIR GETP RM MKDIR <path> | WRITE <path> <value> | SETP <path> <perm>… |
// WATCH/UNWATCH <path> <tok> | TSTART | TEND <tx> T|F | RAW <type> <tx> <payload with \0> | CLOSE
// A path/value argument may use \0 for NUL; `@tx` prefix "tx=<n>:" before an op sets the tx id.
import { encodeStrings, encodeWrite, XenStoreServer, XsRequest, XsType } from "@xensim/xenstore-core";
import { startRefpeer } from "./refpeer.ts";
import { type DiffStep, formatTranscript, runOnServer, runOnSocket } from "./refpeer-diff.ts";

const args = process.argv.slice(2);
const ox = args.includes("--ox");
const script = args.filter((a) => !a.startsWith("--")).join(";");
const unesc = (s: string) => s.replace(/\\0/g, "\0");
let req = 1;
let nconns = 1;
const steps: DiffStep[] = [];
for (const raw of script
  .split(";")
  .map((s) => s.trim())
  .filter(Boolean)) {
  const parts = raw.split(/\s+/);
  const conn = Number(parts.shift());
  nconns = Math.max(nconns, conn + 1);
  let tx = 0;
  if (parts[0]?.startsWith("tx=")) tx = Number(parts.shift()!.slice(3));
  const op = parts.shift()!;
  const a = parts.map(unesc);
  const ids = { reqId: req++, txId: tx };
  const T: Record<string, number> = {
    READ: XsType.READ,
    DIR: XsType.DIRECTORY,
    GETP: XsType.GET_PERMS,
    RM: XsType.RM,
    MKDIR: XsType.MKDIR,
  };
  let f: Uint8Array;
  if (op === "CLOSE") {
    steps.push({ conn, frames: [], close: true });
    continue;
  } else if (T[op] !== undefined) f = XsRequest.raw(T[op]!, encodeStrings([a[0]!]), ids);
  else if (op === "WRITE") f = XsRequest.raw(XsType.WRITE, encodeWrite(a[0]!, a[1] ?? ""), ids);
  else if (op === "SETP") f = XsRequest.setPerms(a[0]!, a.slice(1), ids);
  else if (op === "WATCH") f = XsRequest.watch(a[0]!, a[1]!, ids);
  else if (op === "UNWATCH") f = XsRequest.unwatch(a[0]!, a[1]!, ids);
  else if (op === "TSTART") f = XsRequest.transactionStart(ids);
  else if (op === "TEND") f = XsRequest.transactionEnd(a[0] !== "F", ids);
  else if (op === "DIRPART") f = XsRequest.directoryPart(a[0]!, Number(a[1]), ids);
  else if (op === "RAW")
    f = XsRequest.raw(Number(a[0]), new Uint8Array([...(a[1] ?? "")].map((c) => c.charCodeAt(0))), ids);
  else throw new Error(`op ${op}`);
  steps.push({ conn, frames: [f] });
}
const peer = await startRefpeer({ daemon: ox ? "oxenstored" : "cxenstored" });
if (!peer) throw new Error("no refpeer");
try {
  const ref = await runOnSocket(peer.socketPath, nconns, steps);
  const ours = runOnServer(new XenStoreServer(), nconns, steps);
  const a = formatTranscript(ref);
  const b = formatTranscript(ours);
  console.log(`--- reference\n${a}\n--- ours\n${b}\n${a === b ? "MATCH" : "DIFFER"}`);
} finally {
  peer.stop();
}
