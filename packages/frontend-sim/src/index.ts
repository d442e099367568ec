export { findScenario, scenarios } from "./scenarios/registry.ts";
export type { Scenario, ScenarioContext, ScenarioResult } from "./scenarios/scenario.ts";
