import type { DomainEvents, Scheduler } from "@xensim/evtchn";
import type {
  GntStatus,
  GrantCopyOp,
  GrantHandle,
  GrantRef,
  GrantTable,
  GuestMemory,
  Hypervisor,
  MapResult,
  ReadablePage,
  WritablePage,
} from "@xensim/ring";
import type { XenbusClient } from "../guest/xenbus/xs-client.ts";

/**
 * Grant operations a kernel performs as the *grantee* (GNTTABOP_map_grant_ref, unmap, copy):
 * hypercalls, so they go through the hypervisor with the caller's domid and all of Xen's checks.
 */
export interface GrantOps {
  map(granter: number, ref: GrantRef, options: { readonly: true }): MapResult<ReadablePage>;
  map(granter: number, ref: GrantRef, options?: { readonly?: false }): MapResult<WritablePage>;
  unmap(handle: GrantHandle): GntStatus;
  copy(ops: readonly GrantCopyOp[]): GntStatus[];
}

/** The grantee hypercalls of `domid`, bound to the hypervisor. */
export function grantOpsFor(hypervisor: Hypervisor, domid: number): GrantOps {
  return {
    map: ((granter: number, ref: GrantRef, options?: { readonly?: boolean }) =>
      hypervisor.map(domid, granter, ref, options ?? {})) as GrantOps["map"],
    unmap: (handle) => hypervisor.unmap(domid, handle),
    copy: (ops) => hypervisor.copy(domid, ops),
  };
}

/**
 * A domain's kernel as drivers see it (what Linux drivers reach through their headers): its
 * scheduler actor, event channels, memory, grant table (as granter) and grant hypercalls (as
 * grantee), and its XenStore client. The same shape serves a domU and dom0, so frontends and
 * backends are written against one framework.
 */
export interface Kernel {
  readonly domid: number;
  /** The actor this kernel's driver work runs on (`dom<N>`). */
  readonly actor: string;
  readonly sched: Scheduler;
  readonly events: DomainEvents;
  readonly memory: GuestMemory;
  readonly grantTable: GrantTable;
  readonly gnttab: GrantOps;
  readonly xenbus: XenbusClient;
  /**
   * Where the shared rings this kernel creates start their free-running indices (0 in Linux,
   * SHARED_RING_INIT). The `ring-index-wrap` fault sets it near 2³² so every ring wraps early;
   * peers must attach at whatever the shared header says.
   */
  ringStartIndex?: number;
}

/** Trace helper: every framework record is stamped with the kernel's actor. */
export function ktrace(
  k: Kernel,
  kind: string,
  details: Record<string, string | number | boolean | undefined>,
): void {
  k.sched.trace.emit(k.actor, kind, details);
}
