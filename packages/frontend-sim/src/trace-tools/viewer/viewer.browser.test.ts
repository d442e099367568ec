// The viewer in headless Chromium (Debian's chromium + playwright-core) on a real run's trace:
// steps with buttons and keys, asserts what the page shows, saves screenshots under out/.
import { mkdirSync, writeFileSync } from "node:fs";
import type { TraceRecord } from "@xensim/evtchn";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Browser,
  CHROMIUM_MISSING,
  findChromium,
  launchChromium,
  renderMermaidSvg,
} from "../browser.ts";
import { toyLifecycleJsonLines } from "../fixtures/toy-lifecycle.ts";
import { toMermaid } from "../mermaid.ts";
import { parseTrace } from "../trace-reader.ts";
import { buildViewerHtml } from "./build.ts";

const chromium = findChromium();
const OUT = "out/trace-viewer";

describe.skipIf(chromium === null)(
  `trace viewer in headless Chromium${chromium === null ? ` — skipped: ${CHROMIUM_MISSING}` : ""}`,
  () => {
    let browser: Browser;
    let page: Page;
    let records: readonly TraceRecord[];
    const errors: string[] = [];

    beforeAll(async () => {
      records = parseTrace(await toyLifecycleJsonLines(1)).records;
      mkdirSync(OUT, { recursive: true });
      const file = `${process.cwd()}/${OUT}/toy.html`;
      writeFileSync(
        file,
        await buildViewerHtml({ records, source: "toy device lifecycle, seed 1", format: "sim" }),
      );
      browser = await launchChromium();
      page = await browser.context.newPage();
      page.setDefaultTimeout(5000);
      await page.setViewportSize({ width: 1500, height: 950 });
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`file://${file}`);
      await page.waitForFunction(() => "xensimViewer" in globalThis);
    });
    afterAll(async () => {
      await browser?.close();
    });

    const stepNo = async () => Number(await page.textContent("#step-no"));
    const endState = (dev: string, end: string) =>
      page.evaluate(
        (sel) => document.querySelector(sel)?.getAttribute("data-state") ?? null,
        `[data-device="${dev}"] [data-end="${end}"]`,
      );
    const node = (path: string) => page.locator(`#tree li[data-path="${path}"]`);

    it("steps with the buttons and the arrow keys", async () => {
      expect(await stepNo()).toBe(0);
      await page.click("#btn-forward");
      await page.click("#btn-forward");
      await expect.poll(stepNo).toBe(2);
      await page.keyboard.press("ArrowLeft");
      await expect.poll(stepNo).toBe(1);
      await page.keyboard.press("End");
      await expect.poll(stepNo).toBe(records.length - 1);
      await page.click("#btn-first");
      await expect.poll(stepNo).toBe(0);
    });

    it("jumps from state change to state change and shows both ends, the tree and the tables", async () => {
      // Jump with 'next state change' until the backend shows Connected.
      let guard = 0;
      while ((await endState("toy/1/0", "backend")) !== "Connected" && guard++ < 30) {
        const before = await stepNo();
        await page.click("#btn-nextState");
        await page.waitForFunction(
          (n) => Number(document.getElementById("step-no")!.textContent) > n,
          before,
        );
      }
      const step = await stepNo();
      const r = records[step]!;
      // Each jump lands on a state change: the backend's switch to Connected (its state node committed).
      expect(r.kind === "xs.reply" || r.kind === "xenbus.state").toBe(true);
      expect(await endState("toy/1/0", "frontend")).toBe("Connected");
      expect(await node("/local/domain/1/device/toy/0/state").locator(".v").textContent()).toBe("4");
      expect(await node("/local/domain/0/backend/toy/1/0/state").getAttribute("class")).toBe("chg");
      const ref = await node("/local/domain/1/device/toy/0/ring-ref").locator(".v").textContent();
      const grants = await page.textContent("#grants");
      expect(grants).toContain(`ring device/toy/0`);
      expect(grants).toMatch(new RegExp(`dom1\\s*${ref}\\s*dom0`));
      const evPort = await node("/local/domain/1/device/toy/0/event-channel").locator(".v").textContent();
      expect(await page.textContent(`[data-port="1:${evPort}"]`)).toContain("interdomain");
      expect(await page.textContent("#rings")).toContain("xenstore/dom1");
      await page.screenshot({ path: `${OUT}/connected.png` });
    });

    it("shows the device ring's indices after the requests were answered, and the unplugged end state", async () => {
      const lastRing = records.findLastIndex((r) => r.kind === "ring.indices");
      await page.evaluate(
        (n) => (globalThis as unknown as { xensimViewer: { go(n: number): void } }).xensimViewer.go(n),
        lastRing,
      );
      const row = page.locator('[data-ring="toy/1/0/ring"] td');
      expect(await row.allTextContents()).toEqual(expect.arrayContaining(["toy/1/0/ring", "2"]));
      await page.screenshot({ path: `${OUT}/ring.png` });
      await page.keyboard.press("End");
      await expect.poll(stepNo).toBe(records.length - 1);
      expect(await page.locator('[data-device="toy/1/0"]').count()).toBe(1);
      expect(await endState("toy/1/0", "frontend")).toBe("absent");
      expect(await node("/local/domain/1/device/toy/0").count()).toBe(0);
      expect(errors).toEqual([]);
    });

    it("renders a Mermaid diagram of the device to SVG", async () => {
      const svg = await renderMermaidSvg(toMermaid(records, { device: "toy/1/0" }), browser);
      expect(svg).toMatch(/^<svg/);
      expect(svg).toContain("Initialising → InitWait");
      writeFileSync(`${OUT}/toy-device.svg`, svg);
    });
  },
);
