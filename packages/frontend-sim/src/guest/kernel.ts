import type { DomainEvents, Scheduler } from "@xensim/evtchn";
import type { GrantTable, GuestMemory } from "@xensim/ring";
import type { GrantOps, Kernel } from "../xenbus/kernel.ts";
import type { StartInfo } from "./start-info.ts";
import { XenbusClient } from "./xenbus/xs-client.ts";
import { XsRingTransport } from "./xenbus/xs-ring-transport.ts";

/** What the hypervisor gives a guest kernel: its own memory, grant table and event channels. */
export interface GuestResources {
  readonly sched: Scheduler;
  readonly events: DomainEvents;
  readonly memory: GuestMemory;
  readonly grantTable: GrantTable;
  readonly gnttab: GrantOps;
}

/**
 * A simulated domU kernel: everything it knows comes from start_info and its own resources.
 * It reaches XenStore only through its ring page and event channel (xenbus_comms), never by
 * calling the store.
 */
export class GuestKernel implements Kernel {
  readonly domid: number;
  readonly actor: string;
  readonly sched: Scheduler;
  readonly events: DomainEvents;
  readonly memory: GuestMemory;
  readonly grantTable: GrantTable;
  readonly gnttab: GrantOps;
  readonly xsTransport: XsRingTransport;
  readonly xenbus: XenbusClient;
  ringStartIndex = 0;

  constructor(
    resources: GuestResources,
    readonly startInfo: StartInfo,
  ) {
    this.domid = startInfo.domid;
    this.actor = `dom${this.domid}`;
    this.sched = resources.sched;
    this.events = resources.events;
    this.memory = resources.memory;
    this.grantTable = resources.grantTable;
    this.gnttab = resources.gnttab;
    // xenbus_init(): the store page and port come from start_info.
    this.xsTransport = new XsRingTransport({
      sched: this.sched,
      page: this.memory.page(startInfo.storeGfn),
      events: this.events,
      port: startInfo.storePort,
      actor: this.actor,
    });
    this.xenbus = new XenbusClient(this.xsTransport, { sched: this.sched, actor: this.actor });
  }
}
