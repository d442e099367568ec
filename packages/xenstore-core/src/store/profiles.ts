// Profiles: the small bundle of choices where cxenstored and QEMU's xenstore differ.
// QEMU bugs (guest MKDIR abort, oldest-only UNWATCH, watch on `/` never firing) are not reproduced.
import type { PathRules } from "./paths.ts";
import { CX_QUOTAS, type Quotas } from "./quotas.ts";

export type ConflictPolicy =
  /** cx: commit fails with EAGAIN if a node read in the transaction changed since it was read. */
  | "read-set"
  /** qemu: commit fails if anything at all was committed since the transaction started. */
  | "global";

export interface Profile {
  readonly name: string;
  readonly conflictPolicy: ConflictPolicy;
  /** DIRECTORY order: cx creation order, qemu sorted by bytes. */
  readonly directoryOrder: "creation" | "sorted";
  readonly paths: PathRules;
  readonly quotas: Readonly<Quotas>;
  /** New node owner: cx the (unprivileged) creator, qemu/ox the parent's owner. */
  readonly newNodeOwner: "creator" | "parent";
  /** ACL matching: cx first matching entry, qemu last. */
  readonly aclMatch: "first" | "last";
  /** cx errno_from_parents(): hide ENOENT vs EACCES. */
  readonly hideExistence: boolean;
  /** RM of a missing node whose parent exists: cx OK, qemu ENOENT. */
  readonly rmMissingOk: boolean;
  /** RESET_WATCHES also drops transactions (cx). */
  readonly resetDropsTransactions: boolean;
  /** TRANSACTION_START with a non-zero tx id: cx EBUSY/ENOENT, qemu EINVAL. */
  readonly startInTxErrno: "cx" | "EINVAL";
  /** First transaction id handed out: cx 1 per connection, qemu a global counter. */
  readonly txIds: "per-connection" | "global";
  /** Special watches (@introduceDomain, @releaseDomain) supported. */
  readonly specialWatches: boolean;
  /** GET_DOMAIN_PATH supported (qemu: ENOSYS). */
  readonly getDomainPath: boolean;
  /** DIRECTORY_PART supported. */
  readonly directoryPart: boolean;
  /** Unknown CONTROL command: cx EINVAL. */
  readonly unknownControlErrno: "EINVAL" | "EACCES";
  /** Error for an unprivileged owner change in SET_PERMS. */
  readonly ownerChangeErrno: "EPERM" | "EACCES";
  /** WATCH quota errno: cx ≤ 4.21 E2BIG. */
  readonly watchQuotaErrno: "E2BIG" | "ENOSPC";
  /**
   * cx ≥ 4.17 (XSA-419): ACL entries of domains that do not exist, or whose domid was
   * introduced again after the node was written, are ignored (qemu keeps no domain history).
   */
  readonly staleDomainEntries: boolean;
}

export const CXENSTORED: Profile = {
  name: "cxenstored",
  conflictPolicy: "read-set",
  directoryOrder: "creation",
  paths: { pathMax: 2048, tooLongErrno: "EINVAL", absPathMax: 0, allowAt: true, rejectTrailingSlash: true },
  quotas: CX_QUOTAS,
  newNodeOwner: "creator",
  aclMatch: "first",
  hideExistence: true,
  rmMissingOk: true,
  resetDropsTransactions: true,
  startInTxErrno: "cx",
  txIds: "per-connection",
  specialWatches: true,
  getDomainPath: true,
  directoryPart: true,
  unknownControlErrno: "EINVAL",
  ownerChangeErrno: "EPERM",
  watchQuotaErrno: "E2BIG",
  staleDomainEntries: true,
};

export const QEMU: Profile = {
  name: "qemu",
  conflictPolicy: "global",
  directoryOrder: "sorted",
  paths: {
    pathMax: 2048,
    tooLongErrno: "E2BIG",
    absPathMax: 3072,
    allowAt: false,
    rejectTrailingSlash: false,
  },
  quotas: { ...CX_QUOTAS, watches: 128, transactions: 9, outstanding: 1 },
  newNodeOwner: "parent",
  aclMatch: "last",
  hideExistence: false,
  rmMissingOk: false,
  resetDropsTransactions: false,
  startInTxErrno: "EINVAL",
  txIds: "global",
  specialWatches: false,
  getDomainPath: false,
  directoryPart: true,
  unknownControlErrno: "EACCES",
  ownerChangeErrno: "EPERM",
  watchQuotaErrno: "E2BIG",
  staleDomainEntries: false,
};

export type ProfileName = "cxenstored" | "qemu";

export function resolveProfile(p: ProfileName | Profile | undefined): Profile {
  if (p === undefined || p === "cxenstored") return CXENSTORED;
  if (p === "qemu") return QEMU;
  return p;
}
