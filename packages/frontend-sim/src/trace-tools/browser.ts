// Headless Chromium for the trace tools: Debian's `chromium` (apt-get install -y chromium) driven
// by playwright-core — no browser download. Used to render Mermaid to SVG and by the viewer's
// browser test. `XENSIM_CHROMIUM` overrides the binary's path.
//
// Why not @mermaid-js/mermaid-cli: it drives its own puppeteer, which downloads a Chrome at install
// time (impossible here) and pins a Chrome version; skipping the download and pointing it at
// /usr/bin/chromium works only while puppeteer's CDP expectations match Debian's build. Rendering
// with the `mermaid` package inside a page of the same playwright-driven chromium the viewer test
// already needs is one browser, one driver, no install-time downloads.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The Chromium binary to use, or null when none is installed. */
export function findChromium(): string | null {
  const env = process.env.XENSIM_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export const CHROMIUM_MISSING =
  "no Chromium (apt-get install -y chromium, or set XENSIM_CHROMIUM to a Chromium binary)";

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile directory (removed on close). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === null) throw new Error(CHROMIUM_MISSING);
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "xensim-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Renders Mermaid text to an SVG document with the `mermaid` package inside headless Chromium. */
export async function renderMermaidSvg(text: string, browser?: Browser): Promise<string> {
  const own = browser === undefined;
  const b = browser ?? (await launchChromium());
  try {
    const page = await b.context.newPage();
    await page.setContent("<!doctype html><html><body></body></html>");
    const require = createRequire(import.meta.url);
    await page.addScriptTag({
      content: readFileSync(require.resolve("mermaid/dist/mermaid.min.js"), "utf8"),
    });
    const svg = await page.evaluate(async (src) => {
      const m = (globalThis as unknown as { mermaid: MermaidGlobal }).mermaid;
      m.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        sequence: { useMaxWidth: false },
        maxTextSize: 1e7,
      });
      return (await m.render("trace", src)).svg;
    }, text);
    await page.close();
    return svg;
  } finally {
    if (own) await b.close();
  }
}

interface MermaidGlobal {
  initialize(config: Record<string, unknown>): void;
  render(id: string, text: string): Promise<{ svg: string }>;
}
