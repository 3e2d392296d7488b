// The FID/IS feature network (src/nn/classifier.ts), its training (src/eval/train-classifier.ts)
// and its loader (src/io/load-classifier.ts): shapes and parameter names, config errors, a
// hand-computed cross-entropy, the lr schedule's end points, and training on a tiny two-class
// set (bright left half vs bright top half) to 100% held-out accuracy, saved and loaded back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Generator, ShapeError, liveTensors, noGrad, randn, tensor, tidy } from "../../src/engine/index.js";
import { ImageTensorDataset } from "../../src/diffusion/image-dataset.js";
import { classifierAccuracy, classifierLrAt, crossEntropy, trainClassifier } from "../../src/eval/train-classifier.js";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { CheckpointError } from "../../src/io/errors.js";
import { toTensorBatch } from "../../src/io/datasets.js";
import { loadClassifier, loadClassifierCheckpoint } from "../../src/io/load-classifier.js";
import { ImageClassifier, resolveClassifierConfig } from "../../src/nn/classifier.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { assertClose } from "../helpers/assert-close.js";
import { halvesImages } from "../helpers/tiny-images.js";

const dir = mkdtempSync(join(tmpdir(), "fewstep-classifier-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const small = { widths: [8, 16], finalWidth: 16, featureDim: 12 };

test("ImageClassifier: features [n, featureDim], logits [n, K], PyTorch-style names, no leaked tensors", () => {
  const model = new ImageClassifier(new ParamStore({ seed: 1 }), { channels: 1, size: 8, numClasses: 3, ...small });
  const before = liveTensors();
  tidy(() =>
    noGrad(() => {
      const x = randn([5, 1, 8, 8], new Generator(0));
      const out = model.outputs(x);
      assert.deepEqual(out.features.shape, [5, 12]);
      assert.deepEqual(out.logits.shape, [5, 3]);
      assert.deepEqual(model.features(x).toNumbers(), out.features.toNumbers());
      assert.deepEqual(model.logits(x).toNumbers(), out.logits.toNumbers());
      // the logits are the last layer applied to the features
      const head = model.named();
      const manual = out.features.matmul(head.get("head.weight")!.transpose(0, 1)).add(head.get("head.bias")!);
      assertClose(manual.toNumbers(), out.logits.toNumbers(), { atol: 1e-5 });
      assert.throws(() => model.outputs(randn([2, 1, 12, 12], new Generator(0))), (e: Error) => e instanceof ShapeError && /\[2,1,12,12\].*\[n, 1, 8, 8\]/.test(e.message));
    }),
  );
  assert.equal(liveTensors(), before);
  assert.deepEqual([...model.named().keys()], [
    ...[0, 1, 2, 3, 4].flatMap((i) => [`blocks.${i}.conv.weight`, `blocks.${i}.norm.weight`, `blocks.${i}.norm.bias`]),
    "feature.weight", "feature.bias", "head.weight", "head.bias",
  ]);
  assert.deepEqual(model.named().get("blocks.3.conv.weight")!.shape, [16, 16, 3, 3]); // level 2, stride 2
  assert.deepEqual(model.named().get("blocks.4.conv.weight")!.shape, [16, 16, 3, 3]); // the final conv
  assert.deepEqual(model.metadata(), { kind: "classifier", config: { channels: 1, size: 8, numClasses: 3, widths: [8, 16], finalWidth: 16, featureDim: 12, activation: "silu", dropout: 0 } });
  model.dispose();
});

test("classifier config: every bad field named in one ConfigError", () => {
  assert.throws(
    () => resolveClassifierConfig({ channels: 1, size: 28, numClasses: 10, widths: [32, 64, 128] }),
    (e: Error) => e instanceof ConfigError && /size 28 must be a multiple of 2\^3/.test(e.message),
  );
  assert.throws(
    () => resolveClassifierConfig({ channels: 0, size: 28, numClasses: 1, widths: [30], activation: "tanh" as never, bogus: 1 } as never),
    (e: Error) => e instanceof ConfigError && /unknown field 'bogus'/.test(e.message) && /channels must be/.test(e.message) && /numClasses must be/.test(e.message) && /widths must be/.test(e.message) && /activation/.test(e.message),
  );
  assert.equal(resolveClassifierConfig({ channels: 1, size: 28, numClasses: 10 }).featureDim, 128);
});

test("crossEntropy: -log softmax(logits)[y], by hand; lr schedule: warmup to lr, cosine to 0", () =>
  tidy(() => {
    // softmax([0, ln 3]) = [1/4, 3/4]
    const logits = tensor([[0, Math.log(3)], [0, Math.log(3)]]);
    const labels = tensor(BigInt64Array.from([1n, 0n]));
    assertClose([crossEntropy(logits, labels).item()], [(-Math.log(0.75) - Math.log(0.25)) / 2], { atol: 1e-6 });
    const o = { lr: 1, warmupSteps: 10, steps: 110 };
    assertClose([classifierLrAt(1, o), classifierLrAt(10, o), classifierLrAt(60, o), classifierLrAt(110, o)], [0.1, 1, 0.5, 0], { atol: 1e-12 });
  }));

test("training on bright-left vs bright-top 8x8 images: 100% held-out accuracy, saved and loaded back", async () => {
  const data = new ImageTensorDataset(halvesImages(64, 0));
  const path = join(dir, "classifier.safetensors");
  const result = await trainClassifier({
    dataset: data,
    // 16 channels: 2 per GroupNorm group (1 per group is instance norm, which with global pooling
    // keeps only each channel's value histogram, and learns this task far more slowly)
    model: { widths: [16, 16], finalWidth: 16, featureDim: 16 },
    steps: 40,
    batchSize: 16,
    lr: 1e-2,
    warmupSteps: 5,
    checkpointPath: path,
    metadata: { data: "halves" },
    progressEvery: 10,
  });
  data.dispose();
  const held = toTensorBatch(halvesImages(40, 7), Array.from({ length: 40 }, (_, i) => i));
  try {
    assert.equal(result.step, 40);
    assert.ok(result.loss < 0.3, `final loss ${result.loss}`);
    const accuracy = classifierAccuracy(result.classifier, held.x, held.labels, 16);
    assert.deepEqual([accuracy.accuracy, accuracy.correct, accuracy.count, accuracy.perClass], [1, 40, 40, [1, 1]]);

    const { classifier: loaded, metadata } = loadClassifierCheckpoint(path);
    assert.equal(metadata.data, "halves");
    assert.equal(metadata.step, 40);
    tidy(() => noGrad(() => assert.deepEqual(loaded.logits(held.x).toNumbers(), result.classifier.logits(held.x).toNumbers())));
    loaded.dispose();
  } finally {
    held.x.dispose();
    held.labels.dispose();
    result.classifier.dispose();
  }
});

test("loadClassifier: a denoiser checkpoint or a missing tensor is a CheckpointError naming the file", () => {
  const unet = new UNet(new ParamStore(), { channels: 1, size: 8, numClasses: 2, baseChannels: 8, channelMults: [1, 2], attentionResolutions: [] });
  const denoiserPath = join(dir, "teacher.safetensors");
  saveCheckpoint(denoiserPath, { params: unet.named(), metadata: { model: unet.metadata() } });
  unet.dispose();
  assert.throws(() => loadClassifier(denoiserPath), (e: Error) => e instanceof CheckpointError && e.message.includes(denoiserPath) && /not a classifier checkpoint: metadata.model.kind is "unet"/.test(e.message));

  const model = new ImageClassifier(new ParamStore(), { channels: 1, size: 8, numClasses: 2, ...small });
  const partial = new Map([...model.named()].filter(([name]) => name !== "head.bias"));
  const partialPath = join(dir, "partial.safetensors");
  saveCheckpoint(partialPath, { params: partial, metadata: { model: model.metadata() } });
  model.dispose();
  assert.throws(() => loadClassifier(partialPath), (e: Error) => e instanceof CheckpointError && /missing head\.bias/.test(e.message));
});
