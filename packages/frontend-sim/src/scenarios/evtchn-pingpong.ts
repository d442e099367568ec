import { DOMID_SELF, EventChannels, Scheduler, unwrap } from "@xensim/evtchn";
import type { Scenario, ScenarioContext, ScenarioResult } from "./scenario.ts";

/**
 * Two domains set up an interdomain event channel the way a split driver does (the frontend
 * allocates an unbound port for the backend's domain, the backend binds to it) and then bounce
 * notifications back and forth, each side answering the other's kick from its upcall.
 */
export const evtchnPingPong: Scenario = {
  name: "evtchn-pingpong",
  description: "dom1 and dom0 bind an interdomain event channel and exchange notifications",
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const rounds = 4;
    const sched = new Scheduler({ policy: ctx.policy });
    const ev = new EventChannels(sched);
    const dom0 = ev.addDomain(0, { privileged: true });
    const dom1 = ev.addDomain(1);
    const failures: string[] = [];

    // Frontend (dom1): offer a port to dom0. In a real handshake the number travels through XenStore.
    const frontPort = unwrap(dom1.allocUnbound(0, DOMID_SELF), "alloc_unbound");
    const backPort = unwrap(dom0.bindInterdomain(1, frontPort), "bind_interdomain");

    let pings = 0;
    let pongs = 0;
    dom0.bindHandler(backPort, () => {
      // The first upcall after bind_interdomain may be spurious (the new port starts pending).
      if (pings === 0) return;
      pongs++;
      sched.trace.emit("dom0", "demo.pong", { n: pongs });
      unwrap(dom0.send(backPort), "send");
    });
    dom1.bindHandler(frontPort, () => {
      if (pings >= rounds) return;
      pings++;
      sched.trace.emit("dom1", "demo.ping", { n: pings });
      unwrap(dom1.send(frontPort), "send");
    });
    sched.post("dom1", "start", () => {
      pings++;
      sched.trace.emit("dom1", "demo.ping", { n: pings });
      unwrap(dom1.send(frontPort), "send");
    });
    await sched.run();

    unwrap(dom1.close(frontPort), "close");
    unwrap(dom0.close(backPort), "close");
    await sched.run();

    if (pings !== rounds) failures.push(`expected ${rounds} pings, saw ${pings}`);
    if (pongs !== rounds) failures.push(`expected ${rounds} pongs, saw ${pongs}`);
    const leaked = ev.openPorts();
    if (leaked.length > 0) failures.push(`leaked ports: ${JSON.stringify(leaked)}`);
    return {
      sched,
      summary: [
        `dom1 port ${frontPort} ↔ dom0 port ${backPort}: ${pings} pings, ${pongs} pongs`,
        `${sched.steps} scheduler steps, ${sched.trace.length} trace records, ${sched.now} ns virtual time`,
      ],
      failures,
    };
  },
};
