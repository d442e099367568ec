// Per-connection protocol state (cx struct connection minus I/O): identity, transactions.
import type { OpEnv } from "../store/operations.ts";
import type { Caller } from "../store/permissions.ts";
import type { Transaction } from "../store/transactions.ts";

export class Session {
  /** open transactions by id (cx conn->transaction_list, in start order) */
  readonly txs = new Map<number, Transaction>();
  /** cx conn->next_transaction_id */
  nextTxId = 1;
  /** @internal the server's caller/env caches for this session, valid while `cacheEpoch` matches */
  cachedCaller: Caller | null = null;
  /** @internal */
  cachedEnv: OpEnv | null = null;
  /** @internal */
  cacheEpoch = -1;

  constructor(
    /** stable connection id */
    readonly id: number,
    readonly domid: number,
    readonly label: string | undefined,
    /** creation order, cx walks connections in this order when firing watches */
    readonly seq: number,
    /** where watch events for this connection go */
    public deliverEvent: (path: string, token: string) => "queued" | "coalesced" | "queue-full",
  ) {}
}
