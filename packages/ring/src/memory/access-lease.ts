// Who may still touch a page through a given view. Every view handed out (owner view, foreign
// mapping) holds one lease; ending the lease (unmap, release) makes every later access through
// that view throw instead of silently reaching memory the holder no longer owns.

/** Why a view stopped working. */
export type LeaseEndReason = "unmapped" | "released";

/** Thrown when a page is accessed through a view whose mapping was unmapped or whose frame was released. */
export class StalePageAccessError extends Error {
  override readonly name = "StalePageAccessError";
  constructor(
    readonly reason: LeaseEndReason,
    readonly what: string,
  ) {
    super(`access to ${what} through a stale view (${reason})`);
  }
}

/** A revocable right to access one page; shared by all views derived from one mapping. */
export class AccessLease {
  #ended: LeaseEndReason | undefined;

  constructor(readonly what: string) {}

  /** True once `end` was called. Cheap enough for the hot path. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  get endReason(): LeaseEndReason | undefined {
    return this.#ended;
  }

  end(reason: LeaseEndReason): void {
    this.#ended ??= reason;
  }

  /** Throws StalePageAccessError if the lease has ended. Kept tiny so hot paths can inline it. */
  check(): void {
    if (this.#ended !== undefined) this.#fail();
  }

  #fail(): never {
    throw new StalePageAccessError(this.#ended as LeaseEndReason, this.what);
  }
}
