import type { ChoicePolicy } from "@xensim/evtchn";
import { GuestKernel } from "../guest/kernel.ts";
import type { XenbusDriver } from "../xenbus/driver.ts";
import { BACKEND_BUS, FRONTEND_BUS, XenbusBus } from "../xenbus/xenbus-bus.ts";
import { Dom0Kernel } from "./dom0-kernel.ts";
import { Platform, type PlatformOptions } from "./platform.ts";
import type { DeviceSpec } from "./toolstack/device-spec.ts";
import { type CreateDomainOptions, Toolstack } from "./toolstack/toolstack.ts";

export interface MachineOptions extends PlatformOptions {
  /** Backend drivers dom0's kernel runs (netback, blkback, a user's backend). */
  readonly backends?: readonly XenbusDriver[];
  readonly policy?: ChoicePolicy;
}

/** A booted guest: its kernel and its frontend bus. */
export interface Guest {
  readonly kernel: GuestKernel;
  readonly bus: XenbusBus;
}

/**
 * The whole simulated host: platform (scheduler, hypervisor, xenstored), the toolstack, dom0's
 * kernel with its backend bus, and the guests. Guests run the same driver code a user would
 * ship; everything that differs in simulation (time, scheduling, faults) is injected.
 */
export class Machine {
  readonly platform: Platform;
  readonly toolstack: Toolstack;
  readonly dom0: Dom0Kernel;
  readonly backendBus: XenbusBus;
  readonly guests = new Map<number, Guest>();

  constructor(options: MachineOptions = {}) {
    this.platform = new Platform(options);
    this.toolstack = new Toolstack(this.platform);
    this.dom0 = new Dom0Kernel(this.platform);
    this.backendBus = new XenbusBus(this.dom0, BACKEND_BUS, options.backends ?? []);
  }

  get sched() {
    return this.platform.sched;
  }

  /** Starts dom0's backend bus (xenbus_probe_backend): run once before adding devices. */
  async startDom0(): Promise<void> {
    await this.backendBus.start();
  }

  /**
   * Creates a domain with the toolstack and boots its kernel from start_info: the kernel's
   * frontend bus (xenbus_probe_frontend) starts with the given drivers.
   */
  async createGuest(
    domid: number,
    drivers: readonly XenbusDriver[],
    options: CreateDomainOptions = {},
  ): Promise<Guest> {
    const start = await this.toolstack.createDomain(domid, options);
    const kernel = new GuestKernel(this.platform.guestResources(domid), start);
    const bus = new XenbusBus(kernel, FRONTEND_BUS, drivers);
    const guest = { kernel, bus };
    this.guests.set(domid, guest);
    // The guest boots on its own vCPU: probing is its own work, not the toolstack's.
    await new Promise<void>((resolve, reject) => {
      this.sched.post(kernel.actor, "xenbus_probe", () => bus.start().then(resolve, reject));
    });
    return guest;
  }

  /**
   * `xl destroy`: pause the guest (its vCPU and kernel threads stop for good), remove its devices
   * forced, delete its home and RELEASE it (xenstored fires @releaseDomain), then the hypervisor
   * tears the domain down: its event channels close (peers go back to unbound). Pages other
   * domains still map stay alive until they unmap them, as in Xen.
   */
  async destroyGuest(domid: number, devices: readonly DeviceSpec[] = []): Promise<void> {
    const guest = this.guests.get(domid);
    if (guest === undefined) throw new Error(`no guest ${domid}`);
    const actor = guest.kernel.actor;
    this.sched.haltActors((a) => a === actor || a.startsWith(`${actor}:`));
    await this.toolstack.destroyDomain(domid, devices);
    this.platform.evtchn.removeDomain(domid);
    this.guests.delete(domid);
  }

  /** Runs until idle; fails if `work` is still pending then (see Platform.settle). */
  settle<T>(work: Promise<T>): Promise<T> {
    return this.platform.settle(work);
  }
}
