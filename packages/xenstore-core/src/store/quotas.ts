// Quotas (cx hard_quotas[] / ACC_*): defaults of cxenstored 4.17.

export interface Quotas {
  /** nodes owned per domain (cx ACC_NODES, quota_nb_entry_per_domain). 0 = unlimited. */
  nodes: number;
  /** node record size limit (cx ACC_NODESZ, quota_max_entry_size): refused when size ≥ this. */
  nodeSize: number;
  /** watches per domain (cx ACC_WATCH): refused when the domain already has more than this. */
  watches: number;
  /** open transactions per domain (cx ACC_TRANS): refused when more than this are open. */
  transactions: number;
  /** permission entries per node (cx ACC_NPERM, quota_nb_perms_per_node). */
  permissions: number;
  /** outstanding replies per connection before its input is no longer read (cx ACC_OUTST). */
  outstanding: number;
  /** nodes touched per transaction (cx ACC_TRANSNODES). */
  transactionNodes: number;
  /** queued watch events per connection before new ones are dropped (xensim cap, XSA-326). */
  queuedEvents: number;
}

export const CX_QUOTAS: Readonly<Quotas> = {
  nodes: 1000,
  nodeSize: 2048,
  watches: 128,
  transactions: 10,
  permissions: 5,
  outstanding: 20,
  transactionNodes: 1024,
  queuedEvents: 1024,
};

/** Quota a domain ran into, for `CONTROL quota <domid>` (users debugging E2BIG/ENOSPC). */
export type QuotaName = keyof Quotas;

/**
 * cx node record size as charged against `nodeSize`: header (24) + 8 per permission +
 * value + child names with their NULs.
 */
export function nodeRecordSize(nperms: number, valueLen: number, childLen: number): number {
  return 24 + 8 * nperms + valueLen + childLen;
}
