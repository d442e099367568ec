export type { Scenario, ScenarioContext, ScenarioResult } from "./scenarios/scenario.ts";
export { findScenario, scenarios } from "./scenarios/registry.ts";
