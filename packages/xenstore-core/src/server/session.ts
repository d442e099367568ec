// Per-connection protocol state (cx struct connection minus I/O): identity, transactions.
import type { Transaction } from "../store/transactions.ts";

export class Session {
  /** open transactions by id (cx conn->transaction_list, in start order) */
  readonly txs = new Map<number, Transaction>();
  /** cx conn->next_transaction_id */
  nextTxId = 1;

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
