// The autoencoder's objective and trainer (src/latent): the loss terms against their definitions
// computed another way (float64 sums over host arrays from the same posterior draw), the scaling
// factor against a one-batch two-pass std of the same posterior samples, training lowering the
// reconstruction error, and the one-line error when the KL term turns NaN.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, tidy, type Tensor } from "../../src/engine/index.js";
import { ImageTensorDataset, TensorDataset } from "../../src/diffusion/image-dataset.js";
import { AutoencoderKL, samplePosterior } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { autoencoderLoss } from "../../src/latent/autoencoder-loss.js";
import { estimateScalingFactor, trainAutoencoder } from "../../src/latent/train-autoencoder.js";
import { halvesImages } from "../helpers/tiny-images.js";

const tinyConfig = { in_channels: 1, sample_size: 8, block_out_channels: [8, 8], norm_num_groups: 4, latent_channels: 2 };

const values = (t: Tensor) => Array.from(tidy(() => t.to("float64").data() as Float64Array));

test("autoencoderLoss: summed L1 (+ L2) and the KL term with LDM's reductions, from the same posterior draw", () => {
  const model = new AutoencoderKL(new ParamStore({ seed: 3 }), tinyConfig);
  const data = new ImageTensorDataset(halvesImages(6, 1, 8));
  try {
    tidy(() => {
      const { x } = data.sample(6, new Generator(0));
      const g = new Generator(5);
      const state = g.getState();
      const out = autoencoderLoss(model, x, g, { klWeight: 0.01, l2Weight: 0.5 });
      // the same draw again, by hand
      g.setState(state);
      const p = model.encode(x);
      const z = samplePosterior(p, g);
      const rec = values(model.decode(z));
      const xs = values(x);
      const n = 6;
      const l1 = xs.reduce((s, v, i) => s + Math.abs(v - rec[i]), 0) / n;
      const l2 = xs.reduce((s, v, i) => s + (v - rec[i]) ** 2, 0) / n;
      const [mean, logvar] = [values(p.mean), values(p.logvar)];
      const kl = mean.reduce((s, m, i) => s + 0.5 * (m * m + Math.exp(logvar[i]) - 1 - logvar[i]), 0) / n;
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      assert.ok(rel(out.rec.item(), l1 + 0.5 * l2) < 1e-5, `rec ${out.rec.item()} vs ${l1 + 0.5 * l2}`);
      assert.ok(rel(out.kl.item(), kl) < 1e-5, `kl ${out.kl.item()} vs ${kl}`);
      assert.ok(rel(out.loss.item(), l1 + 0.5 * l2 + 0.01 * kl) < 1e-5);
    });
  } finally {
    data.dispose();
    model.dispose();
  }
});

test("estimateScalingFactor: 1 / std of the posterior samples, as a one-batch two-pass std of the same draws gives it", () => {
  const model = new AutoencoderKL(new ParamStore({ seed: 4 }), tinyConfig);
  const data = new ImageTensorDataset(halvesImages(40, 2, 8));
  try {
    const est = estimateScalingFactor(model, data, 40, 11, 16); // three batches of 16, 16, 8
    const samples = tidy(() => {
      const pick = new Generator(11);
      const noise = new Generator(12);
      // the estimator draws its images and noise batch by batch; the same generators, the same order
      const parts = [16, 16, 8].map((k) => values(samplePosterior(model.encode(data.sample(k, pick).x), noise)));
      return parts.flat();
    });
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    const std = Math.sqrt(samples.reduce((a, v) => a + (v - mean) ** 2, 0) / (samples.length - 1));
    assert.ok(Math.abs(est.std - std) / std < 1e-9, `std ${est.std} vs ${std}`);
    assert.equal(est.scalingFactor, 1 / est.std);
    assert.equal(est.images, 40);
  } finally {
    data.dispose();
    model.dispose();
  }
});

test("trainAutoencoder: training lowers the reconstruction error; a NaN in the KL term is one error naming the fix", async () => {
  const data = new ImageTensorDataset(halvesImages(32, 3, 8));
  const reports: { rec: number; kl: number }[] = [];
  const result = await trainAutoencoder({ dataset: data, model: { block_out_channels: [8, 8], norm_num_groups: 4, latent_channels: 2 }, steps: 60, batchSize: 16, lr: 2e-3, warmupSteps: 5, progressEvery: 10, scaleImages: 32, onProgress: (p) => reports.push(p) });
  try {
    assert.equal(reports.length, 6);
    assert.ok(reports[5].rec < 0.6 * reports[0].rec, `rec ${reports[0].rec} -> ${reports[5].rec}`);
    assert.ok(reports.every((r) => Number.isFinite(r.kl) && r.kl > 0));
    assert.ok(result.scalingFactor > 0 && Number.isFinite(result.scalingFactor));
  } finally {
    result.dispose();
    data.dispose();
  }
  // NaN pixels: the posterior (and so the KL term) is NaN from the first step
  const source = new ImageTensorDataset(halvesImages(8, 4, 8));
  const nan = tidy(() => ({ x: source.all().x.mul(Number.NaN), labels: source.all().labels.clone() }));
  source.dispose();
  const broken = new TensorDataset(nan.x, nan.labels, { numClasses: 2, source: "nan" });
  await assert.rejects(
    trainAutoencoder({ dataset: broken, model: { block_out_channels: [8, 8], norm_num_groups: 4, latent_channels: 2 }, steps: 2, batchSize: 4, progressEvery: 1, onProgress: null }),
    /the KL term became NaN .*; lower the lr \(now 0\.0005\) and start again/,
  );
  broken.dispose();
});
