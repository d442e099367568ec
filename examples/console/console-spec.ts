// The toolstack hook for the console device: libxl's keys for a secondary console
// (libxl_console.c: frontend `limit`, `type`, `output`; backend `protocol`, `type`).
import type { DeviceSpec } from "@xensim/frontend-sim";

export function consoleSpec(domid: number, devid = 1, backendDomid = 0): DeviceSpec {
  return {
    kind: "console",
    domid,
    devid,
    backendDomid,
    frontend: { limit: "1048576", type: "xenconsoled", output: "pty" },
    backend: { protocol: "vt100", type: "xenconsoled" },
  };
}
