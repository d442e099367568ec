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
/** Package-internal: something that caches access through a lease and must hear when it ends. */
export interface LeaseWatcher {
  leaseEnded(): void;
}

export class AccessLease {
  #ended: LeaseEndReason | undefined;
  // Held weakly: a watcher (a ring's slot cursor) must not outlive its ring because of a lease.
  #watchers: WeakRef<LeaseWatcher>[] | undefined;

  #what: string | (() => string);

  /** `what` names the page for error messages; a function defers building it until one is thrown. */
  constructor(what: string | (() => string)) {
    this.#what = what;
  }

  get what(): string {
    if (typeof this.#what === "function") this.#what = this.#what();
    return this.#what;
  }

  /** True once `end` was called. Cheap enough for the hot path. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  get endReason(): LeaseEndReason | undefined {
    return this.#ended;
  }

  end(reason: LeaseEndReason): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    const watchers = this.#watchers;
    this.#watchers = undefined;
    if (watchers !== undefined) for (const w of watchers) w.deref()?.leaseEnded();
  }

  /**
   * Package-internal: call `w.leaseEnded()` when this lease ends (at once if it already has).
   * Lets a hot path fold its lease check into a bounds check it makes anyway.
   */
  watch(w: LeaseWatcher): void {
    if (this.#ended !== undefined) {
      w.leaseEnded();
      return;
    }
    this.#watchers ??= [];
    const list = this.#watchers;
    if (list.length >= 16 && (list.length & (list.length - 1)) === 0) {
      // Drop collected watchers now and then so a long-lived page attached many times stays small.
      let keep = 0;
      for (const r of list) if (r.deref() !== undefined) list[keep++] = r;
      list.length = keep;
    }
    list.push(new WeakRef(w));
  }

  /** Throws StalePageAccessError if the lease has ended. Kept tiny so hot paths can inline it. */
  check(): void {
    if (this.#ended !== undefined) this.#fail();
  }

  #fail(): never {
    throw new StalePageAccessError(this.#ended as LeaseEndReason, this.what);
  }
}
