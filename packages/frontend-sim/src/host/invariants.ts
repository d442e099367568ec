import { GNTTAB_NR_RESERVED_ENTRIES } from "@xensim/ring";
import { parseXenbusState, XenbusState, xenbusStateName } from "../xenbus/xenbus-state.ts";
import type { Machine } from "./machine.ts";

/**
 * The machine-wide invariants every scenario ends with (issue 7 §6): nothing leaked — grants,
 * foreign mappings, event channels, watches, transactions — and both ends of every device that
 * still exists agree (Connected/Connected or Closed/Closed). Returns one line per violation.
 */
export function checkQuiescentInvariants(m: Machine): string[] {
  const failures: string[] = [];
  const p = m.platform;
  const live = new Set<number>([0, ...m.guests.keys()].filter((d) => p.hypervisor.domain(d) !== undefined));

  // Foreign mappings: only xenstored's map of each introduced guest's XenStore page (ref 1).
  for (const mp of p.hypervisor.activeMappings()) {
    const storeMap = mp.grantee === 0 && mp.ref === 1 && p.ringHost.link(mp.granter) !== undefined;
    if (!storeMap) failures.push(`leaked mapping: dom${mp.grantee} maps dom${mp.granter} ref ${mp.ref}`);
  }
  for (const h of p.hypervisor.hazards())
    failures.push(`memory hazard: ${h.kind} dom${h.domid} gfn ${h.gfn}`);

  // Grants: a guest grants nothing beyond the reserved entries once its devices are gone.
  for (const d of live) {
    const gt = p.hypervisor.domain(d)!.grantTable;
    const refs = gt.allocatedRefs().filter((r) => r >= GNTTAB_NR_RESERVED_ENTRIES);
    if (refs.length > 0) failures.push(`leaked grants: dom${d} refs ${refs.slice(0, 8).join(",")}`);
    const deferred = gt.deferredRefs();
    if (deferred.length > 0)
      failures.push(`grants still mapped by a peer: dom${d} refs ${deferred.join(",")}`);
  }

  // Event channels: only the XenStore channel of each introduced guest remains bound.
  for (const port of p.evtchn.openPorts()) {
    if (isStoreChannel(m, port.domid, port.port)) continue;
    failures.push(`leaked event channel: dom${port.domid} port ${port.port} (${port.status})`);
  }

  // Transactions: none left open anywhere.
  for (const d of [...live, 0]) {
    const n = p.xenstored.store.transactionCount(d);
    if (n > 0) failures.push(`open transactions: dom${d} has ${n}`);
  }

  // Watches: each kernel's bus keeps exactly its root watch; the toolstack none.
  for (const [domid, g] of m.guests) {
    if (!live.has(domid)) continue;
    const expected = g.bus.watchCount;
    const actual = g.kernel.xenbus.watchCount;
    if (actual !== expected)
      failures.push(`dom${domid}: ${actual} watches registered, bus accounts for ${expected}`);
    if (g.bus.devices.size === 0 && actual > 1)
      failures.push(`dom${domid}: ${actual} watches with no devices`);
  }
  if (m.toolstack.xb.watchCount > 0) failures.push(`toolstack: ${m.toolstack.xb.watchCount} watches left`);
  if (m.dom0.xenbus.watchCount !== m.backendBus.watchCount) {
    failures.push(
      `dom0: ${m.dom0.xenbus.watchCount} watches, backend bus accounts for ${m.backendBus.watchCount}`,
    );
  }

  failures.push(...checkDeviceAgreement(m));
  return failures;
}

/** Both ends of every device present in XenStore agree: 4/4 or 6/6. */
export function checkDeviceAgreement(m: Machine): string[] {
  const failures: string[] = [];
  const store = m.platform.xenstored.store;
  for (const domid of m.guests.keys()) {
    const base = `/local/domain/${domid}/device`;
    for (const kind of store.list(base) ?? []) {
      for (const id of store.list(`${base}/${kind}`) ?? []) {
        const fe = `${base}/${kind}/${id}`;
        const be = store.readString(`${fe}/backend`);
        if (be === undefined) continue; // not a device (e.g. libxl's device/suspend/event-channel)
        const fs = parseXenbusState(store.readString(`${fe}/state`));
        const bs = parseXenbusState(store.readString(`${be}/state`));
        const agree =
          (fs === XenbusState.Connected && bs === XenbusState.Connected) ||
          (fs === XenbusState.Closed && bs === XenbusState.Closed);
        if (!agree) {
          failures.push(
            `${kind}/${id} of dom${domid}: frontend ${xenbusStateName(fs)}, backend ${xenbusStateName(bs)}`,
          );
        }
      }
    }
  }
  return failures;
}

function isStoreChannel(m: Machine, domid: number, port: number): boolean {
  const p = m.platform;
  if (domid !== 0) return m.guests.get(domid)?.kernel.startInfo.storePort === port;
  const st = p.dom0.status(port);
  if (!st.ok || st.value.status !== "interdomain" || st.value.remoteDom === undefined) return false;
  return p.ringHost.link(st.value.remoteDom)?.port === port;
}
