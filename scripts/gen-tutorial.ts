// Writes docs/life-of-a-vif-and-a-vbd.md from a real run (the vif/vbd scenario once it is
// registered, the toy device until then). `--check` exits 1 if the committed file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import {
  generateTutorial,
  TUTORIAL_PATH,
  tutorialSource,
} from "../packages/frontend-sim/src/trace-tools/tutorial.ts";

const text = generateTutorial(await tutorialSource(1));
if (process.argv.includes("--check")) {
  const current = readFileSync(TUTORIAL_PATH, "utf8");
  if (current !== text) {
    console.error(`${TUTORIAL_PATH} is stale: run pnpm exec tsx scripts/gen-tutorial.ts`);
    process.exit(1);
  }
  console.log(`${TUTORIAL_PATH} is up to date`);
} else {
  writeFileSync(TUTORIAL_PATH, text);
  console.log(`wrote ${TUTORIAL_PATH}`);
}
