// The pixel-space path end to end on tiny synthetic images: U-Net teacher training (dropout,
// grids every K steps, exact resume), loading by model kind, the w path that starts as the
// teacher, the stage-two target identity on images, and both stages writing loadable students.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Generator, full, noGrad, rand, randint, randn, tensor, tidy } from "../../src/engine/index.js";
import { ImageTensorDataset } from "../../src/diffusion/image-dataset.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { ddimStep } from "../../src/diffusion/samplers/ddim.js";
import { trainTeacher } from "../../src/diffusion/train-teacher.js";
import { runStageOne, runStageTwo, stageOnePath, stageTwoPath } from "../../src/distill/pipeline.js";
import { stageTwoTarget } from "../../src/distill/stage-two.js";
import { loadCheckpoint, disposeCheckpoint } from "../../src/io/checkpoint.js";
import type { ImageDataset } from "../../src/io/datasets.js";
import { loadModel } from "../../src/io/load-model.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";

/** 2 classes of 6x6 gray images: class 0 a bright left half, class 1 a bright top half (plus noise). */
function tinyImages(count = 40): ImageDataset {
  const images = new Uint8Array(count * 36);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let r = 0; r < 6; r++) for (let c = 0; c < 6; c++) images[i * 36 + r * 6 + c] = ((labels[i] === 0 ? c < 3 : r < 3) ? 200 : 30) + ((i * 13 + r * 5 + c * 7) % 40);
  }
  return { images, labels, count, channels: 1, height: 6, width: 6, numClasses: 2, source: "tiny", classNames: ["left", "top"] };
}

// padded to 8 so two U-Net levels fit
const unet = { baseChannels: 8, channelMults: [1, 2], attentionResolutions: [4], dropout: 0.2 };
const trainOpts = { steps: 4, batchSize: 6, lr: 1e-3, warmupSteps: 0, model: unet, onProgress: null, progressEvery: 1 };

test("ImageTensorDataset: padded [n, 1, 8, 8] batches in [-1, 1] with the right labels, drawn from the generator", () =>
  tidy(() => {
    const data = new ImageTensorDataset(tinyImages(), { size: 8 });
    assert.deepEqual(data.exampleShape, [1, 8, 8]);
    const a = data.sample(5, new Generator(3));
    const b = data.sample(5, new Generator(3));
    assert.deepEqual(a.x.shape, [5, 1, 8, 8]);
    assert.deepEqual(a.x.toNumbers(), b.x.toNumbers());
    const x = a.x.toNumbers();
    assert.ok(x.every((v) => v >= -1 && v <= 1));
    // border row 0 is padding (-1); the image's own pixel (1,1) is bright for class 0 (left half), 30 + ... for class 1 rows < 3 too
    const labels = a.labels.toNumbers();
    labels.forEach((label, k) => {
      assert.equal(x[k * 64], -1, "padding");
      const leftPixel = x[k * 64 + 4 * 8 + 2]; // image row 3, column 1: bright only for class 0
      assert.equal(leftPixel > 0, label === 0, `class ${label}: pixel ${leftPixel}`);
    });
    data.dispose();
  }));

test("U-Net teacher: grids every K steps, finite loss, and 2 + 2 resumed steps equal 4 straight ones (dropout included)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-img-"));
  const data = new ImageTensorDataset(tinyImages(), { size: 8 });
  try {
    const snapshots: number[] = [];
    const straight = await trainTeacher({
      ...trainOpts,
      dataset: data,
      checkpointPath: join(dir, "a.safetensors"),
      snapshot: {
        every: 2,
        fn: (step, ema) => {
          snapshots.push(step);
          tidy(() => assert.deepEqual(denoiserOf(ema).denoiser(randn([2, 1, 8, 8], new Generator(0)), full([2], 0.5), { labels: randint(0, 3, [2], new Generator(0)) }).shape, [2, 1, 8, 8]));
        },
      },
    });
    assert.deepEqual(snapshots, [2, 4]);
    assert.ok(Number.isFinite(straight.loss));
    assert.ok(straight.model instanceof UNet);
    const controller = new AbortController();
    const first = await trainTeacher({ ...trainOpts, dataset: data, checkpointPath: join(dir, "b.safetensors"), onProgress: (p) => p.step >= 2 && controller.abort(), signal: controller.signal });
    assert.equal(first.step, 2);
    first.dispose();
    const resumed = await trainTeacher({ ...trainOpts, dataset: data, checkpointPath: join(dir, "b.safetensors"), resume: true });
    assert.equal(resumed.step, 4);
    for (const [name, p] of straight.model.named()) assert.deepEqual(resumed.model.named().get(name)!.toNumbers(), p.toNumbers(), name);
    straight.dispose();
    resumed.dispose();

    // loadModel rebuilds a U-Net from the metadata, with the EMA weights
    const ckpt = loadCheckpoint(join(dir, "a.safetensors"));
    const meta = ckpt.metadata.model as { kind: string };
    const saved = ckpt.metadata.dataset as { exampleShape: number[]; numClasses: number; classNames: string[] };
    disposeCheckpoint(ckpt);
    assert.equal(meta.kind, "unet");
    // the data's class names travel with the teacher, for grid labels
    assert.deepEqual(saved, { exampleShape: [1, 8, 8], numClasses: 2, classNames: ["left", "top"] });
    tidy(() => {
      const teacher = loadModel(join(dir, "a.safetensors"));
      const student = loadModel(join(dir, "a.safetensors"), { wInput: true });
      assert.ok(teacher instanceof UNet && !teacher.config.wInput && student.config.wInput);
      const g = new Generator(5);
      const z = randn([3, 1, 8, 8], g);
      const t = rand([3], g);
      const labels = randint(0, 3, [3], g);
      const expected = denoiserOf(teacher).denoiser(z, t, { labels }).toNumbers();
      for (const w of [0, 1.5, 4]) assert.deepEqual(denoiserOf(student).denoiser(z, t, { labels, w: full([3], w) }).toNumbers(), expected, `w = ${w}`);
      teacher.dispose();
      student.dispose();
    });
  } finally {
    data.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stage-two target on images: one DDIM step of the student's target from t lands where two teacher steps land", () =>
  tidy(() =>
    noGrad(() => {
      const teacher = new UNet(new ParamStore(), { channels: 1, size: 8, numClasses: 2, ...unet, wInput: true });
      // a non-trivial teacher: perturb every weight (the output conv starts at zero)
      const g = new Generator(7);
      for (const p of teacher.parameters()) p.add_(randn(p.shape, g).mul(0.1));
      const steps = 4;
      const z = randn([4, 1, 8, 8], g);
      const t = tensor([1, 0.75, 0.5, 0.25]);
      const cond = { labels: tensor(new BigInt64Array([0n, 1n, 2n, 0n])), w: tensor([0, 1, 2, 4]) };
      const xTilde = stageTwoTarget(denoiserOf(teacher).denoiser, z, t, steps, cond);
      const t1 = t.sub(0.5 / steps);
      const t2 = t.sub(1 / steps).clamp(0, null);
      const z1 = ddimStep(z, denoiserOf(teacher).denoiser(z, t, cond), t, t1);
      const z2 = ddimStep(z1, denoiserOf(teacher).denoiser(z1, t1, cond), t1, t2);
      const viaStudent = ddimStep(z, xTilde, t, t2).toNumbers();
      const expected = z2.toNumbers();
      const worst = Math.max(...expected.map((v, i) => Math.abs(v - viaStudent[i])));
      assert.ok(worst < 1e-4, `max |difference| ${worst}`);
      teacher.dispose();
    }),
  ));

test("both stages on a U-Net teacher write loadable w-input students with their N and w range", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-img-distill-"));
  const data = new ImageTensorDataset(tinyImages(), { size: 8 });
  try {
    const trained = await trainTeacher({ ...trainOpts, dataset: data, checkpointPath: join(dir, "teacher.safetensors") });
    trained.dispose();
    const range = { wMin: 0, wMax: 4 };
    await runStageOne({ teacher: { kind: "checkpoint", path: join(dir, "teacher.safetensors") }, dataset: data, outDir: dir, range, steps: 2, batchSize: 4, onProgress: null });
    await runStageTwo({ from: stageOnePath(dir), dataset: data, outDir: dir, range, startSteps: 4, targetSteps: 1, stepsPerHalving: 1, batchSize: 4, onProgress: null });
    for (const n of [2, 1]) {
      const ckpt = loadCheckpoint(stageTwoPath(dir, n));
      assert.deepEqual({ ...(ckpt.metadata.distill as object), teacher: undefined }, { stage: "two", steps: n, wMin: 0, wMax: 4, teacher: undefined });
      disposeCheckpoint(ckpt);
      tidy(() => {
        const student = loadModel(stageTwoPath(dir, n));
        assert.ok(student instanceof UNet && student.config.wInput);
        const x = denoiserOf(student).denoiser(randn([2, 1, 8, 8], new Generator(0)), full([2], 1), { labels: tensor(new BigInt64Array([0n, 1n])), w: full([2], 2) });
        assert.deepEqual(x.shape, [2, 1, 8, 8]);
        student.dispose();
      });
    }
    // data of another size is refused with the fix named
    const wrong = new ImageTensorDataset(tinyImages(), { size: 12 });
    await assert.rejects(runStageOne({ teacher: { kind: "checkpoint", path: join(dir, "teacher.safetensors") }, dataset: wrong, outDir: join(dir, "x"), range, steps: 1, onProgress: null }), /takes examples \[1,8,8\].*\[1,12,12\].*--size/);
    wrong.dispose();
  } finally {
    data.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
