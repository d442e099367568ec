/**
 * @module @xensim/xenstore-core
 */
// @xensim/xenstore-core: a faithful XenStore (cxenstored semantics by default).

export { XsConnection } from "./server/connection.ts";
export { DirectClient, type Result } from "./server/direct-client.ts";
export { StoreView, type WatchInfo } from "./server/store-view.ts";
export type { TraceEvent, TraceSink } from "./server/trace.ts";
export {
  type ConnectOptions,
  type QuotaHit,
  XenStoreServer,
  type XenStoreServerFaults,
  type XenStoreServerOptions,
} from "./server/xenstore-server.ts";
export { XsOpError } from "./store/access.ts";
export { DEFAULT_HOST, type DomainHost, type DomainInfo } from "./store/domains.ts";
export { type Caller, formatPerm, type PermEntry, type Perms, parsePerm } from "./store/permissions.ts";
export {
  type ConflictPolicy,
  CXENSTORED,
  type Profile,
  type ProfileName,
  QEMU,
  resolveProfile,
} from "./store/profiles.ts";
export { CX_QUOTAS, type QuotaName, type Quotas } from "./store/quotas.ts";
export { XsSnapshotError } from "./store/snapshot.ts";
export * from "./wire/index.ts";
