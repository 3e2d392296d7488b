// FID/IS of image models (src/eval/image-metrics.ts), the cached reference statistics
// (src/eval/reference-stats.ts), the line plots (src/eval/line-plot.ts) and the report writers
// (src/eval/eval-report.ts). Independent facts: IS = K for balanced one-hot predictions, the
// reference set scored as samples through evaluateModel has FID ~ 0, a cache file is read back
// only for the same classifier file and request, and plotted data stays inside the plot area.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Generator, ShapeError, liveTensors, oneHot, randn, tensor, tidy, type Tensor } from "../../src/engine/index.js";
import type { Cond, Denoiser } from "../../src/diffusion/denoiser.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { resultsCsv, resultsTable, type ReportCell } from "../../src/eval/eval-report.js";
import { classifierFeatures } from "../../src/eval/feature-network.js";
import { gaussianStats } from "../../src/eval/fid.js";
import { checkEvalRequest, classifierOutputs, evaluateModel, quantizeImages, scoreImages, scoreOutputs, type EvalModel } from "../../src/eval/image-metrics.js";
import { linePlotLayout, niceTicks, renderLinePlot } from "../../src/eval/line-plot.js";
import { loadReferenceImages, referenceStats } from "../../src/eval/reference-stats.js";
import { TAB10 } from "../../src/eval/scatter-plot.js";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { hostArray } from "../../src/io/host-array.js";
import { saveNpy } from "../../src/io/npy.js";
import { ImageClassifier } from "../../src/nn/classifier.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { assertClose } from "../helpers/assert-close.js";
import { halvesImages } from "../helpers/tiny-images.js";

const dir = mkdtempSync(join(tmpdir(), "fewstep-image-metrics-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const arch = { widths: [16, 16], finalWidth: 16, featureDim: 6 };
/** A random-weight classifier of 8x8 gray images, saved to `path` (its features are enough for FID's identities). */
function savedClassifier(path: string, seed: number): ImageClassifier {
  const classifier = new ImageClassifier(new ParamStore({ seed }), { channels: 1, size: 8, numClasses: 2, ...arch });
  saveCheckpoint(path, { params: classifier.named(), metadata: { model: classifier.metadata() } });
  return classifier;
}

// 48 reference images as a bare uint8 .npy [48, 8, 8] (the form of a set without labels)
const reference = halvesImages(48, 3);
const referenceNpy = join(dir, "reference.npy");
saveNpy(referenceNpy, hostArray("uint8", [48, 8, 8], reference.images));
// 24 images of class 0 only (even indices of another set): a different distribution
const classZeroNpy = join(dir, "class-zero.npy");
const classZero = halvesImages(48, 9);
/** The null condition of the stand-in models below: never asked for, as they take w ("input"). */
const noNullCond = (): Cond => {
  throw new Error("a w-input model's sampling never asks for the null condition");
};
saveNpy(classZeroNpy, hostArray("uint8", [24, 8, 8], Uint8Array.from({ length: 24 * 64 }, (_, k) => classZero.images[(2 * Math.floor(k / 64)) * 64 + (k % 64)])));

test("IS of balanced one-hot predictions is K, with zero spread over the chunks", () =>
  tidy(() => {
    const K = 5;
    const probs = oneHot(tensor(BigInt64Array.from({ length: 50 }, (_, i) => BigInt(i % K))), K).to("float32");
    const features = randn([50, 3], new Generator(0));
    const scores = scoreOutputs(features, probs, gaussianStats(features), 10);
    assertClose([scores.isMean!, scores.isStd!], [K, 0], { atol: 1e-9, rtol: 0 });
  }));

test("evaluateModel: the reference images replayed as a model's samples have FID ~ 0 against the reference statistics", async () => {
  const classifierPath = join(dir, "self.safetensors");
  const classifier = savedClassifier(classifierPath, 1);
  const before = liveTensors();
  const features = classifierFeatures(classifier, classifierPath);
  const ref = await referenceStats({ features, reference: referenceNpy, n: 48 });
  assert.equal(ref.count, 48);
  const images = loadReferenceImages(referenceNpy, 8, 48);
  // A "model" whose one DDIM step (N = 1 ends at t = 0 and returns x-hat) gives the next reference
  // images: the samples are exactly the reference set, in batches of 10 (the last one of 8).
  let offset = 0;
  const replay: Denoiser = (z) => {
    const x = images.narrow(0, offset, z.shape[0]);
    offset += z.shape[0];
    return x;
  };
  const model: EvalModel = { name: "replay", model: { denoiser: replay, nullCond: noNullCond }, exampleShape: [1, 8, 8], numClasses: 2, guidance: "input", distill: null };
  const batches: number[] = [];
  const cell = await evaluateModel(model, { sampler: "ddim", steps: 1, w: 0, n: 48, batchSize: 10, splits: 4, features, reference: ref.stats, onBatch: (done) => batches.push(done) });
  assert.deepEqual(batches, [10, 20, 30, 40, 48]);
  assert.equal(offset, 48);
  assert.ok(Math.abs(cell.fid) < 1e-4, `FID of the reference against itself: ${cell.fid}`);
  // the same path as scoring the images directly (quantisation leaves u8/127.5 - 1 unchanged)
  const direct = scoreImages(classifier, images, ref.stats, { batchSize: 48, splits: 4 });
  assertClose([cell.isMean!, cell.isStd!], [direct.isMean!, direct.isStd!], { atol: 1e-5 });
  assert.ok(Math.abs(direct.fid) < 1e-4);
  // one class only is measurably farther
  const other = loadReferenceImages(classZeroNpy, 8, 48);
  assert.equal(other.shape[0], 24);
  const far = scoreImages(classifier, other, ref.stats, { splits: 4 });
  assert.ok(far.fid > 1e-3 && far.fid > 1e3 * Math.abs(cell.fid), `FID of one class against both: ${far.fid}, of the set itself ${cell.fid}`);
  other.dispose();
  images.dispose();
  ref.stats.mean.dispose();
  ref.stats.cov.dispose();
  assert.equal(liveTensors(), before);
  classifier.dispose();
});

test("reference statistics: cached per request, read back without recomputing, recomputed for a changed classifier file", async () => {
  const cacheDir = join(dir, "cache");
  const classifierPath = join(dir, "cached.safetensors");
  const first = savedClassifier(classifierPath, 2);
  const a = await referenceStats({ features: classifierFeatures(first, classifierPath), reference: referenceNpy, n: 40, cacheDir });
  assert.equal(a.fromCache, false);
  assert.equal(a.count, 40); // a seeded subset of the 48
  assert.deepEqual(readdirSync(cacheDir), [a.cachePath!.split("/").at(-1)]);
  const b = await referenceStats({ features: classifierFeatures(first, classifierPath), reference: referenceNpy, n: 40, cacheDir });
  assert.equal(b.fromCache, true);
  assert.equal(b.cachePath, a.cachePath);
  assert.equal(b.count, 40);
  assert.deepEqual(b.stats.cov.toNumbers(), a.stats.cov.toNumbers());
  assert.deepEqual(b.stats.mean.toNumbers(), a.stats.mean.toNumbers());
  // another n is another entry
  const c = await referenceStats({ features: classifierFeatures(first, classifierPath), reference: referenceNpy, n: 48, cacheDir });
  assert.equal(c.fromCache, false);
  assert.notEqual(c.cachePath, a.cachePath);
  // the classifier file replaced by other weights (same path): new statistics
  const second = savedClassifier(classifierPath, 3);
  const d = await referenceStats({ features: classifierFeatures(second, classifierPath), reference: referenceNpy, n: 40, cacheDir });
  assert.equal(d.fromCache, false);
  assert.notEqual(d.cachePath, a.cachePath);
  assert.notDeepEqual(d.stats.mean.toNumbers(), a.stats.mean.toNumbers());
  assert.equal((await referenceStats({ features: classifierFeatures(second, classifierPath), reference: referenceNpy, n: 40, cacheDir })).fromCache, true);
  for (const s of [a, b, c, d]) {
    s.stats.mean.dispose();
    s.stats.cov.dispose();
  }
  first.dispose();
  second.dispose();
  await assert.rejects(referenceStats({ features: classifierFeatures(second, classifierPath), reference: join(dir, "missing.npy"), n: 4 }), /reference '.*missing\.npy'/);
});

test("checkEvalRequest: a stage-two student only at its N, a student only in its w range, images the classifier takes", async () => {
  const classifierPath = join(dir, "check.safetensors");
  const classifier = classifierFeatures(savedClassifier(classifierPath, 0), classifierPath);
  const base: EvalModel = { name: "student-N4", model: { denoiser: (z) => z, nullCond: noNullCond }, exampleShape: [1, 8, 8], numClasses: 2, guidance: "input", distill: { stage: "two", steps: 4, wMin: 0, wMax: 2, teacher: "student-N8" } };
  checkEvalRequest(base, classifier, 4, 2);
  assert.throws(() => checkEvalRequest(base, classifier, 2, 1), (e: Error) => e instanceof ConfigError && /student-N4 was distilled for 4 steps; use --steps 4, or the student-N2 checkpoint of the same run/.test(e.message));
  assert.throws(() => checkEvalRequest(base, classifier, 4, 3), (e: Error) => e instanceof ConfigError && /student-N4 was distilled for w in \[0, 2\]; pick a w in that range or distill with a wider range/.test(e.message));
  checkEvalRequest({ ...base, distill: { stage: "one", steps: null, wMin: 0, wMax: 4, teacher: "teacher" } }, classifier, 3, 4); // stage one: any N
  checkEvalRequest({ ...base, distill: null, guidance: "teacher" }, classifier, 7, 9); // a teacher: anything
  assert.throws(() => checkEvalRequest({ ...base, exampleShape: [1, 16, 16] }, classifier, 4, 1), (e: Error) => e instanceof ShapeError && /makes images \[1,16,16\] but the classifier takes \[1,8,8\]/.test(e.message));
  await assert.rejects(evaluateModel(base, { sampler: "ddim", steps: 1, w: 0, n: 4, features: classifier, reference: { mean: tensor([0]), cov: tensor([[1]]) } }), /student-N4 was distilled for 4 steps/);
  classifier.dispose();
});

test("evaluateModel on a U-Net teacher: finite FID, 1 <= IS <= K, the same numbers for the same seed, no leaked tensors", async () => {
  const classifierPath = join(dir, "teacher-eval.safetensors");
  const classifier = savedClassifier(classifierPath, 4);
  const features = classifierFeatures(classifier, classifierPath);
  const unet = new UNet(new ParamStore({ seed: 5 }), { channels: 1, size: 8, numClasses: 2, baseChannels: 8, channelMults: [1, 2], attentionResolutions: [], dropout: 0 });
  const model: EvalModel = { name: "teacher", model: denoiserOf(unet), exampleShape: unet.exampleShape, numClasses: 2, guidance: "teacher", distill: null };
  const images = loadReferenceImages(referenceNpy, 8, 48);
  const reference = tidy(() => gaussianStats(classifierOutputs(classifier, images).features));
  const before = liveTensors();
  const run = (sampler: "ddim" | "stochastic", seed: number) => evaluateModel(model, { sampler, steps: 2, w: 1, n: 12, seed, batchSize: 5, splits: 3, features, reference });
  const a = await run("stochastic", 0);
  const b = await run("stochastic", 0);
  const c = await run("stochastic", 1);
  assert.equal(liveTensors(), before);
  assert.ok(Number.isFinite(a.fid) && a.fid > 0, `FID ${a.fid}`);
  assert.ok(a.isMean! >= 1 - 1e-9 && a.isMean! <= 2 + 1e-9, `IS ${a.isMean}`);
  assert.deepEqual([b.fid, b.isMean, b.isStd], [a.fid, a.isMean, a.isStd]);
  assert.notEqual(c.fid, a.fid);
  assert.equal(a.n, 12);
  for (const t of [images, reference.mean, reference.cov]) t.dispose();
  unet.dispose();
  classifier.dispose();
});

test("quantizeImages: clipped to [-1, 1] on the 256 levels u8/127.5 - 1", () =>
  tidy(() => {
    const x = quantizeImages(tensor([-3, -1, -0.001, 0.3, 1, 2.5]));
    const expected = [0, 0, 127, 166, 255, 255].map((u) => u / 127.5 - 1);
    assertClose(x.toNumbers(), expected, { atol: 1e-6, rtol: 0 });
  }));

test("line plot: nice ticks; lines and markers only inside the plot area, points where they belong", () => {
  assert.deepEqual(niceTicks(0, 4), [0, 1, 2, 3, 4]);
  assert.deepEqual(niceTicks(0, 4, 8), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
  assert.deepEqual(niceTicks(-0.3, 0.3, 3), [-0.2, 0, 0.2]);
  assert.deepEqual(niceTicks(3.2, 41, 4), [10, 20, 30, 40]);
  const series = [
    { name: "teacher ddim", points: [[0, 30], [0.5, 20], [1, 12], [2, 9], [4, 14]] as [number, number][] },
    { name: "student-N4 ddim", points: [[0, 40], [1, NaN], [2, 1e6], [4, -50]] as [number, number][] }, // NaN skipped; far points clipped
  ];
  const opts = { title: "FID against w", xLabel: "w", yLabel: "FID", yRange: [0, 50] as [number, number], width: 400, height: 260 };
  const { image, layout } = renderLinePlot(series, opts);
  assert.deepEqual(layout, linePlotLayout(series, opts));
  assert.deepEqual([image.width, image.height, image.channels], [400, 260, 3]);
  const { plot, legend } = layout;
  assertClose(layout.xRange, [-0.16, 4.16], { atol: 1e-12 }); // the data's extent padded by 4%
  assert.deepEqual(layout.xTicks, [0, 1, 2, 3, 4]);
  const inside = (x: number, y: number, box: { left: number; top: number; width: number; height: number }) => x >= box.left && x < box.left + box.width && y >= box.top && y < box.top + box.height;
  let seriesPixels = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const o = (y * image.width + x) * 3;
      const rgb = [image.data[o], image.data[o + 1], image.data[o + 2]];
      if (TAB10.slice(0, 2).some((c) => c.every((v, i) => v === rgb[i]))) {
        seriesPixels++;
        assert.ok(inside(x, y, plot) || inside(x, y, legend!), `series colour at (${x}, ${y}) outside the plot ${JSON.stringify(plot)} and legend`);
      }
    }
  }
  assert.ok(seriesPixels > 200, `only ${seriesPixels} series pixels`);
  // the marker of (1, 12): its centre where the ranges put it
  const [x0, x1] = layout.xRange;
  const px = Math.floor(plot.left + 0.5 + ((1 - x0) / (x1 - x0)) * (plot.width - 1));
  const py = Math.floor(plot.top + 0.5 + ((50 - 12) / 50) * (plot.height - 1));
  const o = (py * image.width + px) * 3;
  assert.deepEqual([image.data[o], image.data[o + 1], image.data[o + 2]], [...TAB10[0]]);
  // the legend's frame is closed: its bottom-right corner is drawn (integer layout)
  const corner = ((legend!.top + legend!.height - 1) * image.width + legend!.left + legend!.width - 1) * 3;
  assert.deepEqual([image.data[corner], image.data[corner + 1], image.data[corner + 2]], [64, 64, 64]);
  for (const v of [plot.left, plot.top, plot.width, plot.height, legend!.left, legend!.top, legend!.width, legend!.height]) assert.ok(Number.isInteger(v), `layout value ${v}`);
  assert.throws(() => renderLinePlot(series, { yRange: [5, 5] }), ConfigError);
});

test("report: the paper's table (rows model / sampler / N, columns w, '-' where not evaluated) and CSV", () => {
  const cell = (model: string, steps: number, w: number, fid: number): ReportCell => ({ model, sampler: "ddim", steps, w, fid, isMean: 8.123, isStd: 0.1, n: 100, seconds: 1.25 });
  const cells = [cell("teacher", 4, 0, 10.5), cell("teacher", 4, 1, 7.25), cell("student-N4", 4, 0, 12)];
  assert.equal(
    resultsTable(cells, [0, 1]),
    ["| model | sampler | N | w = 0 | w = 1 |", "|---|---|--:|--:|--:|", "| teacher | ddim | 4 | 10.50 (8.12) | 7.25 (8.12) |", "| student-N4 | ddim | 4 | 12.00 (8.12) | - |"].join("\n"),
  );
  const csv = resultsCsv(cells).trim().split("\n");
  assert.equal(csv[0], "model,sampler,steps,w,fid,is_mean,is_std,n,seconds");
  assert.equal(csv[2], "teacher,ddim,4,1,7.25,8.123,0.1,100,1.3");
  assert.equal(csv.length, 4);
});
