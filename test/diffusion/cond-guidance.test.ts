// Guidance and condition dropout for any condition record, the model registry's refusals, and the
// training loop's afterBackward point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AdamW, ConfigError, Generator, full, keep, rand, randn, tidy, zeros, type Tensor } from "../../src/engine/index.js";
import type { Cond, CondDenoiser } from "../../src/diffusion/denoiser.js";
import { dropCond, guided } from "../../src/diffusion/guidance.js";
import { trainLoop } from "../../src/diffusion/train-loop.js";
import { exportModelToOnnx } from "../../src/export/export-onnx.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { buildModel, denoiserMetadataForData, resolveModelMetadata } from "../../src/nn/registry.js";

type Seen = { labels: number[]; image: number[]; w: number[] };

/** A conditional "model" whose x-hat is a known function of every part of the record; records what it was given. */
function recordingModel(calls: Seen[]): CondDenoiser {
  return {
    // x-hat = z * (1 + label) + image + w: each part visibly enters
    denoiser: (z, _t, cond) => {
      calls.push({ labels: cond.labels!.toNumbers(), image: cond.image!.toNumbers(), w: cond.w!.toNumbers() });
      const n = z.shape[0];
      return z.mul(cond.labels!.to("float64").add(1).reshape([n, 1, 1, 1])).add(cond.image!).add(cond.w!.reshape([n, 1, 1, 1]));
    },
    nullCond: (cond) => ({ ...cond, labels: full([cond.labels!.shape[0]], 9, { dtype: "int64" }) }),
  };
}

test("guided: one call of 2n with the null branch keeping the image channels and w, combined as (1 + w) x_c - w x_null", () =>
  tidy(() => {
    const calls: Seen[] = [];
    const g = new Generator(0);
    const z = randn([2, 1, 2, 2], g, { dtype: "float64" });
    const cond: Cond = { labels: full([2], 1, { dtype: "int64" }), image: randn([2, 1, 2, 2], g, { dtype: "float64" }), w: full([2], 0.5, { dtype: "float64" }) };
    const w = 3;
    const x = guided(recordingModel(calls), w)(z, full([2], 0.4, { dtype: "float64" }), cond);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].labels, [1, 1, 9, 9]);
    assert.deepEqual(calls[0].image, [...cond.image!.toNumbers(), ...cond.image!.toNumbers()]);
    assert.deepEqual(calls[0].w, [0.5, 0.5, 0.5, 0.5]);
    // closed form: x_c = 2 z + image + 0.5, x_null = 10 z + image + 0.5
    const zs = z.toNumbers();
    const img = cond.image!.toNumbers();
    const expected = zs.map((v, i) => (1 + w) * (2 * v + img[i] + 0.5) - w * (10 * v + img[i] + 0.5));
    x.toNumbers().forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `element ${i}: ${v} vs ${expected[i]}`));
  }));

test("dropCond: replaces exactly the parts nullCond changes, with probability p, and keeps the rest", () =>
  tidy(() => {
    const model = recordingModel([]);
    const n = 20000;
    const g = new Generator(1);
    const cond: Cond = { labels: full([n], 2, { dtype: "int64" }), image: rand([n, 1, 1, 1], g), w: rand([n], g) };
    const dropped = dropCond(model, cond, 0.25, g);
    const labels = dropped.labels!.toNumbers();
    const fraction = labels.filter((c) => c === 9).length / n;
    assert.ok(Math.abs(fraction - 0.25) < 4 * Math.sqrt((0.25 * 0.75) / n), `dropped fraction ${fraction}`);
    assert.ok(labels.every((c) => c === 2 || c === 9));
    assert.equal(dropped.image, cond.image);
    assert.equal(dropped.w, cond.w);
    assert.deepEqual(dropCond(model, cond, 0, g).labels!.toNumbers().filter((c) => c === 9).length, 0);
    assert.deepEqual(dropCond(model, cond, 1, g).labels!.toNumbers().filter((c) => c !== 9).length, 0);
    assert.throws(() => dropCond(model, cond, 1.5, g), /p must be in \[0, 1\]/);
  }));

test("registry: an unknown kind names the known ones; denoiser kinds size themselves from the data; the exporter refuses a classifier", () =>
  tidy(() => {
    assert.throws(() => resolveModelMetadata({ kind: "vae", config: {} }), (e: Error) => e instanceof ConfigError && /unknown model kind "vae"; expected one of mlp-denoiser, unet, classifier/.test(e.message));
    assert.equal(denoiserMetadataForData({ exampleShape: [5], numClasses: 2 }, undefined, {}).kind, "mlp-denoiser");
    const image = denoiserMetadataForData({ exampleShape: [1, 8, 8], numClasses: 3 }, undefined, { baseChannels: 8, channelMults: [1, 2] });
    assert.equal(image.kind, "unet");
    assert.throws(() => denoiserMetadataForData({ exampleShape: [1, 8, 8], numClasses: 3 }, "classifier", {}), /not a denoiser kind/);
    const classifier = buildModel(new ParamStore({ seed: 0 }), resolveModelMetadata({ kind: "classifier", config: { channels: 1, size: 8, numClasses: 3 } }) as never);
    assert.throws(() => exportModelToOnnx(classifier as never, { source: "c", weights: "params" }), /a classifier is a feature network/);
    classifier.dispose();
  }));

test("trainLoop: afterBackward runs between backward and the step: zeroing the gradients there leaves the weights unchanged", async () => {
  const run = async (hook?: (params: Tensor[]) => void) => {
    const p = keep(zeros([3]).add(1));
    p.requiresGrad_(true);
    const optimizer = new AdamW([p], { lr: 0.1, weightDecay: 0 });
    let seen = 0;
    await trainLoop({
      name: "test",
      params: [p],
      optimizer,
      generator: new Generator(0),
      loss: () => p.square().sum(),
      afterBackward: hook
        ? (params) => {
            seen += 1;
            assert.ok(params[0].grad!.abs().sum().item() > 0, "the hook sees the gradients of backward");
            hook(params);
          }
        : undefined,
      steps: 3,
      startStep: 0,
      lrAt: () => 0.1,
      gradClip: 1,
      progressEvery: 10,
      checkpointEvery: 0,
      resumed: false,
    });
    const values = p.toNumbers();
    optimizer.dispose();
    p.dispose();
    return { values, seen };
  };
  const plain = await run();
  assert.ok(plain.values.every((v) => v < 1), "without the hook the weights move");
  const zeroed = await run((params) => params[0].grad!.zero_());
  assert.equal(zeroed.seen, 3);
  assert.deepEqual(zeroed.values, [1, 1, 1]);
});
