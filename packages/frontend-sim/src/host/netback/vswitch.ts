// A small learning Ethernet switch per bridge name (what the vif-bridge hotplug script attaches a
// vif to with `ip link set vifD.N master xenbr0`): learn source MACs per port, forward known
// unicast to its port, flood broadcast/multicast/unknown unicast to every other port.
import type { Scheduler } from "@xensim/evtchn";
import type { Skb } from "./skb.ts";

/** Something attached to a switch: a vif's backend side. */
export interface SwitchPort {
  readonly name: string;
  /** Takes one reference to `skb` (and releases it when done). */
  receive(skb: Skb): void;
}

export interface SwitchStats {
  forwarded: number;
  flooded: number;
  /** Frames with nowhere to go (sole port, or destination is the source port). */
  dropped: number;
}

function macKey(skb: Skb, at: number): number {
  return (
    ((skb.byteAt(at) * 0x100 + skb.byteAt(at + 1)) * 0x1_0000_0000 +
      ((skb.byteAt(at + 2) << 24) |
        (skb.byteAt(at + 3) << 16) |
        (skb.byteAt(at + 4) << 8) |
        skb.byteAt(at + 5))) >>>
    0
  );
}

export class VirtualSwitch {
  readonly ports: SwitchPort[] = [];
  /** Forwarding database: MAC (48-bit number) → port. */
  readonly fdb = new Map<number, SwitchPort>();
  readonly stats: SwitchStats = { forwarded: 0, flooded: 0, dropped: 0 };
  private readonly targets: SwitchPort[] = [];

  constructor(
    readonly name: string,
    /** For trace records; set by the registry. */
    public sched?: Scheduler,
  ) {}

  attach(port: SwitchPort): void {
    if (!this.ports.includes(port)) this.ports.push(port);
  }

  /** Detach a port and forget every address learnt on it. */
  detach(port: SwitchPort): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
    for (const [mac, p] of this.fdb) if (p === port) this.fdb.delete(mac);
  }

  /** The port a MAC was learnt on ("aa:bb:cc:dd:ee:ff"), if any. */
  lookup(mac: string): SwitchPort | undefined {
    const b = mac.split(":").map((x) => Number.parseInt(x, 16));
    if (b.length !== 6) return undefined;
    return this.fdb.get(
      ((b[0]! * 0x100 + b[1]!) * 0x1_0000_0000 + ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!)) >>>
        0,
    );
  }

  /** br_handle_frame: takes over the caller's reference to `skb`. */
  forward(skb: Skb, from: SwitchPort): void {
    if (skb.len < 12) {
      this.stats.dropped++;
      skb.release();
      return;
    }
    const src = macKey(skb, 6);
    if ((skb.byteAt(6) & 1) === 0) this.fdb.set(src, from);
    const multicast = (skb.byteAt(0) & 1) !== 0;
    const known = multicast ? undefined : this.fdb.get(macKey(skb, 0));
    const targets = this.targets;
    targets.length = 0;
    if (known !== undefined) {
      if (known !== from && this.ports.includes(known)) targets.push(known);
    } else {
      for (const p of this.ports) if (p !== from) targets.push(p);
    }
    const trace = this.sched?.trace;
    if (trace?.enabled) {
      trace.emit(`vswitch:${this.name}`, "vswitch.forward", {
        from: from.name,
        to: targets.map((p) => p.name).join(","),
        flood: known === undefined,
        len: skb.len,
      });
    }
    if (targets.length === 0) {
      this.stats.dropped++;
      skb.release();
      return;
    }
    if (known === undefined) this.stats.flooded++;
    else this.stats.forwarded++;
    skb.users += targets.length - 1;
    for (const p of targets) p.receive(skb);
  }
}

/** Switches by bridge name, created on first use. */
export class SwitchRegistry {
  private readonly switches = new Map<string, VirtualSwitch>();

  /** Scheduler for trace records (netback sets it from dom0's kernel at first probe). */
  sched: Scheduler | undefined = undefined;

  get(name: string): VirtualSwitch {
    let s = this.switches.get(name);
    if (s === undefined) {
      s = new VirtualSwitch(name, this.sched);
      this.switches.set(name, s);
    }
    s.sched ??= this.sched;
    return s;
  }

  has(name: string): boolean {
    return this.switches.has(name);
  }
}
