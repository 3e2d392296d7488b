// The browser demo end to end: web/dist (npm run build:web) served by fewstep's static server,
// loaded in Debian's chromium (headless, through playwright-core). Moving the w slider must change
// the picture, and what the page drew must equal onnxruntime-node's sample of the same model file
// through the same portable sampler, for the same class, seed, w and steps. A latent student given
// by ?model= (a tiny one, exported into web/dist/models for the test) draws its decoded images,
// equal to onnxruntime-node's sample decoded by the same decoder file.
// Chromium missing or web/dist not built: the test fails and says how to fix it (CI installs both).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import type { Browser, Page } from "playwright-core";
import { type StaticServer, startStaticServer } from "../../src/cli/static-server.js";
import { exportCheckpointToOnnx } from "../../src/export/export-onnx.js";
import { openFewstepDecoder, openFewstepOnnx } from "../../src/portable/index.js";
import { writeLatentStudent } from "../helpers/latent-fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const webDist = fileURLToPath(new URL("../../../web/dist", import.meta.url));

interface PageSample {
  classIndex: number;
  w: number;
  steps: number;
  seed: number;
  sampler: "ddim" | "stochastic";
  n: number;
  data: number[];
  exampleShape: number[];
  latents?: number[];
  ms: number;
  backend: string;
}

// Functions passed to page.evaluate run in the page; this project compiles without the DOM types,
// so they reach the page's globals through globalThis, typed as what the page exposes.
type BrowserGlobal = {
  fewstep: { ready: Promise<void>; sample(settings: unknown): Promise<PageSample> };
  fewstepLastSample?: PageSample;
  document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
};

let server: StaticServer;
let browser: Browser;
let page: Page;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: the browser test needs Debian's chromium (apt-get install chromium; scripts/setup.sh installs it)`);
  assert.ok(existsSync(`${webDist}/index.html`), `${webDist} is not built: run \`npm run build:web\` (npm run setup does)`);
  const { chromium } = await import("playwright-core");
  server = await startStaticServer(webDist, { port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(server.url);
  await page.evaluate(() => (globalThis as unknown as BrowserGlobal).fewstep.ready).catch((e: Error) => assert.fail(`the page did not start: ${e.message} ${errors.join("; ")}`));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Waits until the page has drawn a sample with these settings and returns it. */
async function lastSample(expected: { classIndex: number; w: number; steps: number; seed: number }): Promise<PageSample> {
  const handle = await page.waitForFunction((e) => {
    const s = (globalThis as unknown as BrowserGlobal).fewstepLastSample;
    return s && s.classIndex === e.classIndex && s.w === e.w && s.steps === e.steps && s.seed === e.seed ? s : undefined;
  }, expected, { timeout: 30_000 });
  return (await handle.jsonValue()) as PageSample;
}

/** The grid's pixels as the page drew them, as grey values 0..255 in sample order. */
async function canvasGreys(n: number, size: number): Promise<number[][]> {
  return page.evaluate(
    ({ n, size }) => {
      const canvas = (globalThis as unknown as BrowserGlobal).document.getElementById("grid");
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height) as { data: Uint8ClampedArray };
      const columns = Math.ceil(Math.sqrt(n));
      return Array.from({ length: n }, (_, k) => {
        const [gx, gy] = [(k % columns) * size, Math.floor(k / columns) * size];
        return Array.from({ length: size * size }, (_, i) => data[((gy + Math.floor(i / size)) * columns * size + gx + (i % size)) * 4]);
      });
    },
    { n, size },
  );
}

async function nodeSample(s: PageSample): Promise<Float32Array> {
  const bytes = readFileSync(`${webDist}/models/student-N${s.steps}.onnx`);
  const model = await openFewstepOnnx(ort, bytes, { source: `student-N${s.steps}.onnx` });
  try {
    return await model.sample({ sampler: s.sampler, steps: s.steps, w: s.w, seed: s.seed, labels: new Int32Array(s.n).fill(s.classIndex), clip: [-1, 1] });
  } finally {
    await model.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("moving the w slider changes the picture, and the page equals onnxruntime-node", async () => {
  await page.selectOption("#class", "3");
  await page.selectOption("#steps", "4");
  await page.fill("#seed", "7");
  await page.fill("#w", "0.5");
  const low = await lastSample({ classIndex: 3, w: 0.5, steps: 4, seed: 7 });
  await page.fill("#w", "3");
  const high = await lastSample({ classIndex: 3, w: 3, steps: 4, seed: 7 });
  assert.ok(maxAbsDiff(low.data, high.data) > 0.05, "w changes the sample");

  // the canvas shows the sample: grey = round((x + 1) / 2 * 255)
  const greys = await canvasGreys(high.n, 28);
  const drawn = greys.flat();
  assert.ok(maxAbsDiff(drawn, high.data.map((v) => Math.round(((v + 1) / 2) * 255))) <= 1, "canvas pixels are the sample");

  for (const s of [low, high]) {
    const reference = await nodeSample(s);
    const diff = maxAbsDiff(s.data, reference);
    assert.ok(diff < 1e-3, `page (${s.backend}) vs onnxruntime-node at w ${s.w}: max abs diff ${diff}`);
  }
});

test("every step count and the stochastic sampler match onnxruntime-node", async () => {
  for (const steps of [1, 2, 8]) {
    for (const sampler of ["ddim", "stochastic"] as const) {
      const settings = { classIndex: steps % 10, w: 1.25, steps, seed: 100 + steps, sampler, n: 4 };
      const s = (await page.evaluate((settings) => (globalThis as unknown as BrowserGlobal).fewstep.sample(settings), settings)) as PageSample;
      const diff = maxAbsDiff(s.data, await nodeSample(s));
      assert.ok(diff < 1e-3, `${sampler}, ${steps} steps: max abs diff ${diff}`);
    }
  }
});

test("?model= a latent student: the page draws decoded images, equal to onnxruntime-node's sample + decode", async () => {
  // the tiny latent student of test/helpers, exported into a folder of web/dist for this test only
  const work = mkdtempSync(join(tmpdir(), "fewstep-web-latent-"));
  const folder = mkdtempSync(join(webDist, "models", "test-latent-"));
  const latentPage = await browser.newPage();
  try {
    const { studentPath } = writeLatentStudent(work);
    const exported = exportCheckpointToOnnx(studentPath, { decoderFile: "s.decoder.onnx" });
    writeFileSync(join(folder, "s.onnx"), exported.bytes);
    writeFileSync(join(folder, "s.decoder.onnx"), exported.decoder!.bytes);
    const errors: string[] = [];
    latentPage.on("pageerror", (e) => errors.push(e.message));
    await latentPage.goto(`${server.url}?model=models/${basename(folder)}/s.onnx`);
    await latentPage.evaluate(() => (globalThis as unknown as BrowserGlobal).fewstep.ready).catch((e: Error) => assert.fail(`the page did not start: ${e.message} ${errors.join("; ")}`));
    // the page offers only the student's own N (2) and drew a first sample of decoded 6 x 6 images
    assert.deepEqual(await latentPage.$$eval("#steps option", (options) => options.map((o) => (o as unknown as { value: string }).value)), ["2"]);
    const drawn = await latentPage.waitForFunction(() => (globalThis as unknown as BrowserGlobal).fewstepLastSample, undefined, { timeout: 30_000 });
    assert.deepEqual(((await drawn.jsonValue()) as PageSample).exampleShape, [1, 6, 6]);

    const settings = { classIndex: 2, w: 1.5, steps: 2, seed: 9, sampler: "ddim" as const, n: 4 };
    const s = (await latentPage.evaluate((settings) => (globalThis as unknown as BrowserGlobal).fewstep.sample(settings), settings)) as PageSample;
    const model = await openFewstepOnnx(ort, exported.bytes, { source: "s.onnx" });
    const decoder = await openFewstepDecoder(ort, exported.decoder!.bytes, { source: "s.decoder.onnx", forModel: { metadata: model.metadata, source: "s.onnx" } });
    try {
      const latents = await model.sample({ ...settings, labels: new Int32Array(4).fill(2) });
      const images = (await decoder.decode(latents)).map((v) => Math.min(1, Math.max(-1, v)));
      assert.equal(s.data.length, 4 * 36);
      assert.ok(maxAbsDiff(s.latents!, latents) < 1e-3, `latents: max abs diff ${maxAbsDiff(s.latents!, latents)}`);
      assert.ok(maxAbsDiff(s.data, images) < 1e-3, `decoded images: max abs diff ${maxAbsDiff(s.data, images)}`);
    } finally {
      await model.release();
      await decoder.release();
    }
  } finally {
    await latentPage.close();
    rmSync(folder, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});
