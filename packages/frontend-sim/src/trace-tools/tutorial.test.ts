import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateTutorial, TUTORIAL_PATH, tutorialSource } from "./tutorial.ts";

describe("tutorial: docs/life-of-a-vif-and-a-vbd.md", () => {
  it("is what the generator writes from the run today (regenerate: pnpm exec tsx scripts/gen-tutorial.ts)", async () => {
    const text = generateTutorial(await tutorialSource(1));
    expect(readFileSync(TUTORIAL_PATH, "utf8")).toBe(text);
  });

  it("explains each transition with the key that caused it and the state key committed", async () => {
    const text = generateTutorial(await tutorialSource(1));
    expect(text).toContain("```mermaid\nsequenceDiagram");
    expect(text).toMatch(
      /\*\*Caused by\*\* the watch on the other end's state: `\/local\/domain\/\d+\/backend\/[^`]+\/state` fired/,
    );
    expect(text).toMatch(/\*\*Then\*\* it committed `\/local\/domain\/\d+\/device\/[^`]+\/state` = `4`/);
  });
});
