import type { DomainEvents, Scheduler } from "@xensim/evtchn";
import type { GrantTable, GuestMemory } from "@xensim/ring";
import type { XenbusClient } from "../guest/xenbus/xs-client.ts";
import { type GrantOps, grantOpsFor, type Kernel } from "../xenbus/kernel.ts";
import type { Platform } from "./platform.ts";

/**
 * dom0's kernel as its backend drivers see it. Its XenStore connection is xenstored's local one
 * (xenstored runs in dom0, XS_LOCAL), privileged like every dom0 client.
 */
export class Dom0Kernel implements Kernel {
  readonly domid = 0;
  readonly actor = "dom0";
  readonly sched: Scheduler;
  readonly events: DomainEvents;
  readonly memory: GuestMemory;
  readonly grantTable: GrantTable;
  readonly gnttab: GrantOps;
  readonly xenbus: XenbusClient;
  ringStartIndex = 0;

  constructor(platform: Platform) {
    const dom = platform.hypervisor.domain(0);
    if (dom === undefined) throw new Error("no dom0");
    this.sched = platform.sched;
    this.events = platform.dom0;
    this.memory = dom.memory;
    this.grantTable = dom.grantTable;
    this.gnttab = grantOpsFor(platform.hypervisor, 0);
    this.xenbus = platform.dom0Client(this.actor);
  }
}
