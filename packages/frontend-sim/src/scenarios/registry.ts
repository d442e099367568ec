import { blkScenarios } from "../lifecycle/blk-lifecycle.ts";
import { evtchnPingPong } from "./evtchn-pingpong.ts";
import type { Scenario } from "./scenario.ts";
import { vifVbdLifecycle } from "./vif-vbd-lifecycle.ts";

/** Every scenario the CLI can run; the first is the default. */
export const scenarios: readonly Scenario[] = [vifVbdLifecycle, ...blkScenarios, evtchnPingPong];

export function findScenario(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name);
}
