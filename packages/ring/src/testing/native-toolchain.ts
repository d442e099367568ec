// Test and benchmark support (not part of the package API): find gcc and the Debian libxen-dev
// headers, compile the C programs in ./c into a fresh temp dir, and talk to a long-running C
// process line by line. When gcc or the headers are missing, callers skip with `reason`.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const XEN_RING_HEADER = "/usr/include/xen/io/ring.h";
export const C_SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), "c");

export type ToolchainProbe = { readonly ok: true } | { readonly ok: false; readonly reason: string };

let probed: ToolchainProbe | undefined;

/** Is there a gcc and are the Xen public headers installed? (Cached.) */
export function probeToolchain(): ToolchainProbe {
  if (probed !== undefined) return probed;
  const gcc = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (gcc.error !== undefined || gcc.status !== 0) probed = { ok: false, reason: "gcc not found" };
  else if (!existsSync(XEN_RING_HEADER)) {
    probed = { ok: false, reason: `${XEN_RING_HEADER} missing (apt-get install libxen-dev)` };
  } else probed = { ok: true };
  return probed;
}

/** A temp dir for compiled programs; `dispose` removes it. */
export class NativeBuildDir {
  readonly path = mkdtempSync(join(tmpdir(), "xensim-ring-"));

  /**
   * Compiles C (a file under ./c, or source text) into this dir and returns the executable's
   * path. Throws with gcc's diagnostics on failure.
   */
  compile(
    name: string,
    input: { file: string } | { source: string },
    flags: readonly string[] = ["-O2"],
  ): string {
    let src: string;
    if ("file" in input) src = join(C_SOURCE_DIR, input.file);
    else {
      src = join(this.path, `${name}.c`);
      writeFileSync(src, input.source);
    }
    const exe = join(this.path, name);
    const r = spawnSync(
      "gcc",
      [...flags, "-Wall", "-Wextra", "-Werror", "-I", C_SOURCE_DIR, "-o", exe, src],
      {
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`gcc failed for ${name}:\n${r.stderr}${r.error ?? ""}`);
    return exe;
  }

  /** Whether `source` compiles (used to detect optional header fields). */
  compiles(name: string, source: string): boolean {
    try {
      this.compile(name, { source }, ["-fsyntax-only"]);
      return true;
    } catch {
      return false;
    }
  }

  dispose(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * A C process that reads request batches on stdin and ends each answer with a line "done".
 * Requests are answered in order; one process serves a whole test file.
 */
export class LineProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { lines: string[]; resolve: (l: string[]) => void; reject: (e: Error) => void }[] = [];
  #stderr = "";
  #exited: Error | undefined;

  constructor(exe: string) {
    this.#child = spawn(exe, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr.on("data", (d: Buffer) => {
      this.#stderr += d.toString();
    });
    this.#child.on("exit", (code) => {
      this.#exited = new Error(`${exe} exited (${code}): ${this.#stderr}`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#exited);
    });
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      const w = this.#waiting[0];
      if (w === undefined) return;
      if (line === "done") {
        this.#waiting.shift();
        w.resolve(w.lines);
      } else w.lines.push(line);
    });
  }

  /** Sends `input` (which must end one or more sequences) and resolves with the answer lines of one sequence. */
  request(input: string): Promise<string[]> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ lines: [], resolve, reject });
      this.#child.stdin.write(input);
    });
  }

  close(): void {
    this.#child.stdin.end();
  }
}
