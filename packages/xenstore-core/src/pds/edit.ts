// Ownership tokens for transient (in-place) updates of persistent structures, as Clojure's
// transients / immer's "edit" tokens: a structure node whose `edit` is the caller's token is
// private to the caller and may be mutated in place; any other node is shared and is copied.

/** An ownership token; compared by identity only. */
export interface Edit {
  readonly __edit: true;
}

/** A fresh token no existing node carries. */
export function newEdit(): Edit {
  return { __edit: true };
}
