// The console as exploreHandshake drives it: fresh drivers per run, the toolstack spec, an I/O
// step (the guest writes numbered lines) and the data checks (what xenconsoled logged is exactly
// what the guest's writes accepted, in order, on the live connection).
import type { HandshakeDevice } from "@xensim/frontend-sim";
import { ConsoleBackend } from "./console-backend.ts";
import { type ConsoleFrontDevice, ConsoleFrontend, type ConsoleFrontendOptions } from "./console-frontend.ts";
import { consoleSpec } from "./console-spec.ts";

/** Per run: the bytes each frontend device's writes were accepted (ring had room). */
export interface ConsoleRunState {
  readonly accepted: Map<ConsoleFrontDevice, string>;
  all: string;
  seq: number;
}

export function consoleDevice(
  options: ConsoleFrontendOptions = {},
): HandshakeDevice<ConsoleFrontend, ConsoleBackend, ConsoleRunState> {
  return {
    name: "console",
    frontend: () => new ConsoleFrontend(options),
    backend: () => new ConsoleBackend(),
    spec: (domid) => consoleSpec(domid),
    state: () => ({ accepted: new Map(), all: "", seq: 0 }),
    io({ frontend, state }, n) {
      const c = frontend.devices.get("device/console/1");
      if (c === undefined || !c.connected) return;
      for (let i = 0; i < n; i++) {
        const line = `line ${state.seq++}\n`;
        const took = line.slice(0, c.write(line));
        state.accepted.set(c, (state.accepted.get(c) ?? "") + took);
        state.all += took;
      }
    },
    check({ backend, state }) {
      const out: string[] = [];
      for (const [node, b] of backend.devices)
        if (!state.all.includes(b.log)) out.push(`console: ${node} logged bytes the guest never wrote`);
      return out;
    },
    settled({ frontend, backend, state }) {
      const c = frontend.devices.get("device/console/1");
      const b = backend.devices.get("backend/console/1/1");
      if (c === undefined || b === undefined || !c.connected) return [];
      const sent = state.accepted.get(c) ?? "";
      return b.log === sent ? [] : [`console: the backend logged ${b.log.length} of ${sent.length} bytes`];
    },
  };
}
