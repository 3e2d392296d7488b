// bench/onnx: one whole 4-step sample of the distilled Fashion-MNIST student (DDIM, w = 2), batch
// 1 and batch 16, in three runtimes side by side in one run on one machine:
//   - libtorch: fewstep's torch path (models/fashion-mnist/student-N4.safetensors, sampleGuided),
//   - onnxruntime-node: the exported student (web/dist/models/student-N4.onnx) with the portable
//     samplers, as `fewstep sample --runtime onnx` runs it,
//   - the browser: the demo page in headless chromium (onnxruntime-web, wasm, its own threads),
//     timed by the page's window.fewstep.sample (performance.now around the whole sample).
// First the three must agree: from the same z_1 and labels, libtorch vs onnxruntime-node (max abs
// difference), and the page vs onnxruntime-node for the same seed. Rounds alternate the runtimes;
// the table reports medians (ms per sample) and ratios to libtorch.
//
//   npm run bench:onnx                # print the table
//   npm run bench:onnx -- --write     # also append it to BENCHMARKS.md
//   flags: --rounds R (5) --reps M (5 samples per round and runtime)
// Needs the exported students: npm run build:web (it runs `fewstep export`).
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { chromium } from "playwright-core";
import { getNumThreads, tensor, tidy, torchVersion } from "../../src/engine/index.js";
import { sampleGuided } from "../../src/diffusion/sample.js";
import { loadModelForSampling } from "../../src/cli/model-loading.js";
import { startStaticServer } from "../../src/cli/static-server.js";
import { NormalRng, openFewstepOnnx } from "../../src/portable/index.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const rounds = flag("rounds", 5);
const reps = flag("reps", 5);
const STEPS = 4;
const W = 2;
const BATCHES = [1, 16];
const repo = dirname(dirname(dirname(dirname(fileURLToPath(import.meta.url)))));
const checkpoint = join(repo, "models", "fashion-mnist", `student-N${STEPS}.safetensors`);
const webDist = join(repo, "web", "dist");
const onnxPath = join(webDist, "models", `student-N${STEPS}.onnx`);
const CHROMIUM = "/usr/bin/chromium";

function fail(message: string): never {
  console.error(`bench:onnx: ${message}`);
  process.exit(1);
}
if (!existsSync(onnxPath)) fail(`${onnxPath} is missing: run \`npm run build:web\` (it exports the students)`);
if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: apt-get install chromium`);

// ---- the three runtimes -------------------------------------------------------------------------

const torchSource = loadModelForSampling(checkpoint, { w: W, steps: STEPS });
const threads = getNumThreads();
const onnx = await openFewstepOnnx(ort, readFileSync(onnxPath), { source: onnxPath, sessionOptions: { intraOpNumThreads: threads } });
if (onnx.metadata.kind === "gaussian-fixture") fail(`${onnxPath} is a test fixture, not the exported student: run \`npm run build:web\` without --models-from`);
const shape = onnx.metadata.exampleShape;
const size = shape.reduce((a, b) => a * b, 1);

function torchSample(z: Float32Array, labels: Int32Array): Float32Array {
  return tidy(() => {
    const n = labels.length;
    const x = sampleGuided(torchSource.model, tensor(z, { shape: [n, ...shape] }), {
      sampler: "ddim",
      steps: STEPS,
      w: W,
      guidance: torchSource.guidance,
      cond: { labels: tensor(BigInt64Array.from(labels, (c) => BigInt(c))) },
    });
    return Float32Array.from(x.data() as Float32Array);
  });
}

const server = await startStaticServer(webDist, { port: 0 });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
const page = await browser.newPage();
await page.goto(server.url);
type PageResult = { data: number[]; ms: number; backend: string };
await page.evaluate(() => (globalThis as unknown as { fewstep: { ready: Promise<void> } }).fewstep.ready);
const browserSample = (n: number, seed: number) =>
  page.evaluate(
    (s) => (globalThis as unknown as { fewstep: { sample(s: unknown): Promise<PageResult> } }).fewstep.sample(s),
    { classIndex: 0, w: W, steps: STEPS, seed, sampler: "ddim", n },
  ) as Promise<PageResult>;

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// ---- agreement ------------------------------------------------------------------------------------

const checkN = 8;
const zCheck = new NormalRng(1).normals(checkN * size);
const labelsCheck = Int32Array.from({ length: checkN }, (_, i) => i % onnx.metadata.numClasses);
const torchVsOrt = maxAbs(torchSample(zCheck, labelsCheck), await onnx.sample({ sampler: "ddim", steps: STEPS, w: W, labels: labelsCheck, z: zCheck }));
const pageCheck = await browserSample(checkN, 3);
const pageVsOrt = maxAbs(pageCheck.data, await onnx.sample({ sampler: "ddim", steps: STEPS, w: W, labels: new Int32Array(checkN), seed: 3, clip: [-1, 1] }));
process.stderr.write(`check: libtorch vs onnxruntime-node ${torchVsOrt.toExponential(2)}; page (${pageCheck.backend}) vs onnxruntime-node ${pageVsOrt.toExponential(2)}\n`);
if (!(torchVsOrt < 1e-3 && pageVsOrt < 1e-3)) fail("the runtimes disagree by more than 1e-3: not timing them");

// ---- timing ---------------------------------------------------------------------------------------

const times: Record<string, Record<number, number[]>> = { torch: {}, node: {}, browser: {} };
for (const n of BATCHES) for (const k of Object.keys(times)) times[k][n] = [];
const labelsOf = (n: number) => new Int32Array(n);
for (const n of BATCHES) {
  // warm-up: first calls allocate
  torchSample(new NormalRng(0).normals(n * size), labelsOf(n));
  await onnx.sample({ sampler: "ddim", steps: STEPS, w: W, labels: labelsOf(n), seed: 0 });
  await browserSample(n, 0);
}
for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}\n`);
  for (const n of BATCHES) {
    for (let i = 0; i < reps; i++) {
      const z = new NormalRng(100 + i).normals(n * size);
      let t0 = performance.now();
      torchSample(z, labelsOf(n));
      times.torch[n].push(performance.now() - t0);
      t0 = performance.now();
      await onnx.sample({ sampler: "ddim", steps: STEPS, w: W, labels: labelsOf(n), z });
      times.node[n].push(performance.now() - t0);
      times.browser[n].push((await browserSample(n, 100 + i)).ms);
    }
  }
}
await browser.close();
await server.close();
await onnx.release();
torchSource.dispose();

// ---- table ----------------------------------------------------------------------------------------

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const command = `npm run bench:onnx${argv.filter((a) => a !== "--write").length ? ` -- ${argv.filter((a) => a !== "--write").join(" ")}` : ""}`;
const lines = [
  `### 4-step student sample: libtorch vs onnxruntime-node vs browser (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores; libtorch ${torchVersion()} with ${threads} threads; onnxruntime-node ${ort.env.versions.node ?? "?"} with ${threads} intra-op threads; chromium ${browser.version()} headless, onnxruntime-web ${pageCheck.backend}.`,
  `Command: \`${command}\` (rounds ${rounds}, ${reps} samples per round, runtime and batch; alternating runtimes).`,
  `Model: models/fashion-mnist/student-N4.safetensors (libtorch) and its \`fewstep export\` web/dist/models/student-N4.onnx (both ONNX Runtimes); DDIM, 4 calls, w = ${W}. Agreement from the same z_1: libtorch vs onnxruntime-node max abs ${torchVsOrt.toExponential(1)}, page vs onnxruntime-node ${pageVsOrt.toExponential(1)}.`,
  "Time: a whole sample (noise to image: 4 model calls and the sampler arithmetic), median ms per batch, and per image.",
  "",
  "| batch | libtorch (ms) | onnxruntime-node (ms) | browser wasm (ms) | node ORT / libtorch | browser / libtorch |",
  "| --- | --- | --- | --- | --- | --- |",
  ...BATCHES.map((n) => {
    const [t, o, b] = [median(times.torch[n]), median(times.node[n]), median(times.browser[n])];
    return `| ${n} | ${fmt(t)} (${fmt(t / n)}/image) | ${fmt(o)} (${fmt(o / n)}/image) | ${fmt(b)} (${fmt(b / n)}/image) | **${(o / t).toFixed(2)}** | **${(b / t).toFixed(2)}** |`;
  }),
  "",
];
const table = lines.join("\n");
console.log(table);
if (argv.includes("--write")) appendFileSync(join(repo, "BENCHMARKS.md"), `\n${table}`);
