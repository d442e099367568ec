import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
const tsx = resolve(root, "node_modules/.bin/tsx");
const start = (...args: string[]): string =>
  execFileSync(tsx, ["packages/frontend-sim/src/cli/start.ts", ...args], { cwd: root, encoding: "utf8" });

describe("pnpm start", () => {
  it("prints a byte-identical timeline for the same seed", () => {
    const a = start("--seed", "7");
    expect(a).toContain("result: ok");
    expect(start("--seed", "7")).toBe(a);
  });

  it("lists scenarios and rejects unknown options with usage", () => {
    expect(start("--list")).toMatch(/evtchn-pingpong/);
    expect(() => start("--bogus")).toThrow(/unknown option --bogus/);
  });
});
