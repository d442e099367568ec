// The daemon benchmark's C client (bench/c/xs-pairs.c) against our daemon: it must do the
// requests it claims (the store ends with every client's key), and stop on an error reply
// rather than count it, or `pnpm bench daemon` could time errors. Needs gcc (skipped without).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XenstoredDaemon } from "./xenstored-daemon.ts";

const SOURCE = resolve(import.meta.dirname, "../../bench/c/xs-pairs.c");
const dir = mkdtempSync(join(tmpdir(), "xs-pairs-"));
const exe = join(dir, "xs-pairs");
const gcc = spawnSync("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, SOURCE], { encoding: "utf8" });
const skip =
  gcc.error !== undefined
    ? `gcc not found (${gcc.error.message})`
    : gcc.status !== 0
      ? `gcc failed: ${gcc.stderr}`
      : null;

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolveP) => {
    const p = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    p.on("exit", (code) => resolveP({ code, out, err }));
  });
}

describe.skipIf(skip !== null)(
  `xs-pairs, the daemon bench's client${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let daemon: XenstoredDaemon;
    beforeAll(async () => {
      daemon = await XenstoredDaemon.start({
        socketPath: join(dir, "s"),
        guestSockets: [{ domid: 4, path: join(dir, "g4") }],
      });
    });
    afterAll(async () => {
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("runs its rounds of WRITE+READ pairs on one key per connection", async () => {
      const r = await run([join(dir, "s"), "8", "50", "2"]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const lines = r.out.trim().split("\n");
      expect(lines[0]).toBe("ready");
      expect(lines).toHaveLength(3);
      for (const l of lines.slice(1)) {
        const [requests, secs] = l.split(" ").map(Number);
        expect(requests).toBe(2 * 8 * 50);
        expect(secs).toBeGreaterThan(0);
      }
      for (let i = 0; i < 8; i++) expect(daemon.server.store.readString(`/bench/c${i}`)).toBe(`value-${i}`);
    });

    it("stops with exit 1 on an error reply instead of counting it", async () => {
      // a guest may not write /bench: the first WRITE is answered EACCES
      const r = await run([join(dir, "g4"), "1", "10", "1"]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("error reply EACCES");
      expect(r.out).toBe("");
    });
  },
);
