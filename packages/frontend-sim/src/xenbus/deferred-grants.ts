// Linux gnttab_end_foreign_access's deferred list (drivers/xen/grant-table.c
// gnttab_add_deferred / gnttab_handle_deferred): a grant the backend still maps cannot be
// revoked, so the ref and its page are queued and retried by a timer (once per second, HZ), and
// the page is freed only once revocation succeeds. Linux retries forever and warns; the simulated
// kernel gives up after a bound so a backend that never unmaps cannot keep a run alive forever —
// the leak then shows in checkQuiescentInvariants.
import type { GrantTable } from "@xensim/ring";
import { type Kernel, ktrace } from "./kernel.ts";

const RETRY_NS = 1_000_000_000;
const MAX_RETRIES = 120;

const scheduled = new WeakSet<GrantTable>();

/** Arms the per-kernel retry timer if revocations are pending and it is not armed yet. */
export function scheduleDeferredRetry(k: Kernel): void {
  const gt = k.grantTable;
  if (scheduled.has(gt) || gt.deferredRefs().length === 0) return;
  scheduled.add(gt);
  let attempts = 0;
  const tick = (): void => {
    const left = gt.retryDeferred();
    attempts++;
    ktrace(k, "gnttab.deferred_retry", { remaining: left, attempt: attempts });
    if (left > 0 && attempts < MAX_RETRIES) {
      k.sched.post(k.actor, "gnttab_handle_deferred", tick, RETRY_NS);
      return;
    }
    if (left > 0) ktrace(k, "gnttab.leaking", { refs: gt.deferredRefs().join(",") });
    scheduled.delete(gt);
  };
  k.sched.post(k.actor, "gnttab_handle_deferred", tick, RETRY_NS);
}
