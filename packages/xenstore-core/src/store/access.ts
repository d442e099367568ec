// The node-level interface every operation works through: the live store or a transaction.
// Mirrors cx's read_node()/write_node()/delete_node_single() + add_child()/delete_child(),
// so transactions can record accesses exactly where cx's access_node() does.
import type { Perms } from "./permissions.ts";
import type { XsNode } from "./tree.ts";

export interface NodeAccess {
  /** Reads the node at a canonical path (records the access in a transaction). */
  get(path: string): XsNode | undefined;
  /** Rewrites value (latin1 bytes) and perms of an existing node (new generation). */
  setNode(path: string, value: string, perms: Perms): void;
  /** Creates `parent/name` as a leaf, appended to the parent's children. */
  addChild(parent: string, name: string, value: string, perms: Perms): void;
  /** Removes the (childless) node `parent/name`. */
  removeChild(parent: string, name: string): void;
  /** Nodes owned by `domid` as this view sees them. */
  ownedCount(domid: number): number;
  /** A node's perms as cx read_node() adjusts them (XSA-419; XsStore.effectivePerms). */
  perms(node: XsNode): Perms;
  /** cx domain_alloc_permrefs() for perms being set (XsStore.permRefs). */
  permRefs(perms: Perms): Perms;
}

/** An operation failure carrying the errno to reply with; thrown inside the store only. */
export class XsOpError extends Error {
  constructor(
    readonly errno: import("../wire/errors.ts").XsErrno,
    /** the quota that refused the operation, if any (for CONTROL quota) */
    readonly quota?: import("./quotas.ts").QuotaName,
  ) {
    super(errno);
  }
}
