// Interop: Debian's xenstore-utils (libxenstore 4.17) against our daemon on a temporary
// socket, as dom0 and through a guest socket. Exact output is asserted. Needs the tools
// (`apt-get install xenstore-utils`); without them the suite reports as skipped.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XenstoredDaemon } from "./xenstored-daemon.ts";

const TOOLS = ["read", "write", "ls", "list", "exists", "rm", "chmod", "watch"].map((t) => `xenstore-${t}`);
const BIN = "/usr/bin";
const missing = TOOLS.filter((t) => !existsSync(join(BIN, t)));
const hasTools = missing.length === 0 && process.platform === "linux";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one tool with XENSTORED_PATH=sock; never rejects (exit status in `code`). */
function xs(tool: string, args: string[], sock: string, timeout = 5000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      join(BIN, `xenstore-${tool}`),
      args,
      { env: { ...process.env, XENSTORED_PATH: sock }, timeout, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function ok(tool: string, args: string[], sock: string): Promise<string> {
  const r = await xs(tool, args, sock);
  expect(r, `xenstore-${tool} ${args.join(" ")}`).toMatchObject({ code: 0, stderr: "" });
  return r.stdout;
}

describe.skipIf(!hasTools)(
  `xenstore-utils against pnpm xenstored${hasTools ? "" : ` (skipped: ${missing.join(", ")} not in ${BIN}; apt-get install xenstore-utils)`}`,
  () => {
    let dir: string;
    let sock: string;
    let g1: string;
    let d: XenstoredDaemon;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "xs-"));
      sock = join(dir, "s");
      g1 = join(dir, "g1");
      d = await XenstoredDaemon.start({ socketPath: sock, guestSockets: [{ domid: 1, path: g1 }] });
    });
    afterAll(async () => {
      await d?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("dom0: write, read, ls, list, exists, rm", async () => {
      expect(await ok("write", ["/t/a", "1", "/t/b", "two words", "/t/c/d", "deep"], sock)).toBe("");
      expect(await ok("read", ["/t/a", "/t/c/d"], sock)).toBe("1\ndeep\n");
      expect(await ok("read", ["-p", "/t/b"], sock)).toBe("/t/b: two words\n");
      expect(await ok("ls", ["-f", "/t"], sock)).toBe(
        '/t/a = "1"\n/t/b = "two words"\n/t/c = ""\n/t/c/d = "deep"\n',
      );
      expect(await ok("ls", ["/t"], sock)).toBe('a = "1"\nb = "two words"\nc = ""\n d = "deep"\n');
      expect(await ok("list", ["/t"], sock)).toBe("a\nb\nc\n");
      expect(await ok("list", ["-p", "/t"], sock)).toBe("/t/a\n/t/b\n/t/c\n");
      expect((await xs("exists", ["/t/a"], sock)).code).toBe(0);
      expect(await xs("exists", ["/t/nope"], sock)).toMatchObject({ code: 1, stdout: "" });
      expect(await ok("rm", ["/t/a"], sock)).toBe("");
      expect(await xs("read", ["/t/a"], sock)).toEqual({
        code: 1,
        stdout: "",
        stderr: "xenstore-read: couldn't read path /t/a\n",
      });
      expect(await ok("list", ["/t"], sock)).toBe("b\nc\n");
    });

    it("dom0: chmod and ls -p show permissions", async () => {
      await ok("write", ["/p/x", "v"], sock);
      expect(await ok("chmod", ["/p/x", "n1", "r2"], sock)).toBe("");
      // xenstore-ls pads with ". " to a column (80-column fallback when stdout is no tty)
      expect(await ok("ls", ["-p", "/p"], sock)).toBe(
        'x = "v"  . . . . . . . . . . . . . . . . . . . . . . . . . .  (n1,r2)\n',
      );
    });

    it("the guest home matches the toolstack's (libxl__domain_make)", async () => {
      const out = await ok("ls", ["-f", "/local/domain/1"], sock);
      expect(out.split("\n").slice(0, 4)).toEqual([
        '/local/domain/1/vm = "/vm/00000000-0000-0000-0000-000000000001"',
        '/local/domain/1/name = "guest1"',
        '/local/domain/1/cpu = ""',
        '/local/domain/1/memory = ""',
      ]);
      expect(out).toContain('/local/domain/1/control/platform-feature-xs_reset_watches = "1"\n');
      expect(await ok("read", ["/vm/00000000-0000-0000-0000-000000000001/name"], sock)).toBe("guest1\n");
    });

    it("guest socket: acts as domain 1 (relative paths, its permissions)", async () => {
      expect(await ok("write", ["data/foo", "bar"], g1)).toBe("");
      expect(await ok("read", ["data/foo"], g1)).toBe("bar\n");
      expect(await ok("read", ["/local/domain/1/data/foo"], sock)).toBe("bar\n");
      expect(await ok("ls", ["-f", "/local/domain/1/data"], g1)).toBe('/local/domain/1/data/foo = "bar"\n');
      // the new node is owned by the guest (cx: the creator), readable by nobody else
      const perms = await ok("ls", ["-p", "/local/domain/1/data"], sock);
      expect(perms.endsWith("(n1)\n")).toBe(true);
      // home is n0 r1: readable, not writable; dom0's tree is not readable
      expect(await xs("write", ["name", "evil"], g1)).toMatchObject({
        code: 1,
        stderr: "xenstore-write: could not write path name\n",
      });
      expect(await xs("read", ["/local/domain/0"], g1)).toMatchObject({ code: 1 });
      expect(await xs("write", ["/t/b", "evil"], g1)).toMatchObject({ code: 1 });
      expect(await ok("read", ["/t/b"], sock)).toBe("two words\n");
      expect(await xs("exists", ["control/shutdown"], g1)).toMatchObject({ code: 0 });
      expect(await ok("rm", ["data/foo"], g1)).toBe("");
      expect(await xs("exists", ["data/foo"], g1)).toMatchObject({ code: 1 });
    });

    it("guest socket: chmod on its own node", async () => {
      await ok("write", ["data/shared", "s"], g1);
      expect(await ok("chmod", ["data/shared", "n1", "r0"], g1)).toBe("");
      expect((await ok("ls", ["-p", "/local/domain/1/data"], sock)).trimEnd().endsWith("(n1,r0)")).toBe(true);
      // giving the node away (owner change) is refused for a guest (cx EPERM)
      expect((await xs("chmod", ["data/shared", "n2"], g1)).code).toBe(1);
    });

    it("xenstore-watch sees writes by other clients (dom0 and guest)", async () => {
      await ok("write", ["/w", ""], sock);
      const watch = xs("watch", ["-n", "3", "/w"], sock, 8000);
      // the first event is the initial one for /w itself; wait for it before writing
      await waitUntil(async () => d.server.store.watchCount(0) > 0);
      await ok("write", ["/w/x", "1"], sock);
      await ok("write", ["/w/y", "2"], sock);
      const r = await watch;
      expect(r).toEqual({ code: 0, stdout: "/w\n/w/x\n/w/y\n", stderr: "" });

      const gw = xs("watch", ["-n", "2", "data"], g1, 8000);
      await waitUntil(async () => d.server.store.watchCount(1) > 0);
      await ok("write", ["/local/domain/1/data/ev", "1"], sock);
      // relative watch: events carry the relative path
      expect(await gw).toEqual({ code: 0, stdout: "data\ndata/ev\n", stderr: "" });
      // the tool exited: its connection and watch are gone
      await waitUntil(async () => d.server.store.watchCount(1) === 0);
    });
  },
);

async function waitUntil(pred: () => Promise<boolean> | boolean, timeoutMs = 4000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}
