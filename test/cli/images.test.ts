// The CLI on image models through bin/fewstep.js: `sample` writes [n, C, H, W] .npy or a PNG grid
// (refused for vector models), and `weights` writes a shippable file that loads to the same model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Generator, full, noGrad, randint, randn, tidy } from "../../src/engine/index.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { loadCheckpoint, disposeCheckpoint, saveCheckpoint } from "../../src/io/checkpoint.js";
import { loadModel } from "../../src/io/load-model.js";
import { loadNpy } from "../../src/io/npy.js";
import { loadPng } from "../../src/io/png.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-cli-img-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const fewstep = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });

// A small U-Net "teacher" with random non-zero weights and a different EMA, saved like trainTeacher does.
const ckpt = join(dir, "teacher.safetensors");
tidy(() =>
  noGrad(() => {
    const net = new UNet(new ParamStore({ seed: 0 }), { channels: 1, size: 8, numClasses: 3, baseChannels: 8, channelMults: [1, 2], attentionResolutions: [4] });
    const g = new Generator(1);
    for (const p of net.parameters()) p.add_(randn(p.shape, g).mul(0.05));
    const ema = new Map([...net.named()].map(([name, p]) => [name, p.add(randn(p.shape, g).mul(0.05))]));
    saveCheckpoint(ckpt, { params: net.named(), ema, metadata: { model: net.metadata(), stage: "teacher", step: 1 } });
    net.dispose();
  }),
);

test("sample: an image model writes [n, 1, 8, 8] .npy, and a PNG grid of n images in --columns", () => {
  const npy = join(dir, "x.npy");
  let run = fewstep("sample", "--model", ckpt, "--n", "5", "--steps", "2", "--w", "1", "--out", npy);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(loadNpy(npy).shape, [5, 1, 8, 8]);
  const png = join(dir, "g.png");
  run = fewstep("sample", "--model", ckpt, "--n", "5", "--steps", "2", "--columns", "2", "--out", png);
  assert.equal(run.status, 0, run.stderr);
  const img = loadPng(png);
  // 3 rows x 2 columns of 16x16 cells (scale 2) with 2-px gaps, margins 6 and a title line
  assert.equal(img.width, 6 + 2 * 16 + 2 + 6);
  assert.equal(img.height, 6 + 7 + 6 + 3 * 16 + 2 * 2 + 6);
});

test("sample: a PNG grid of a vector model is refused with the fix", () => {
  const run = fewstep("sample", "--mixture", "ring2d", "--n", "4", "--steps", "2", "--out", join(dir, "v.png"));
  assert.equal(run.status, 1);
  assert.match(run.stderr, /a PNG grid needs an image model.*write a \.npy/);
});

test("weights: the shipped file holds the EMA weights only and loads to the same model", () => {
  const out = join(dir, "shipped.safetensors");
  const run = fewstep("weights", "--in", ckpt, "--out", out);
  assert.equal(run.status, 0, run.stderr);
  const shipped = loadCheckpoint(out);
  assert.equal(shipped.ema, undefined);
  assert.equal(shipped.optimizer, undefined);
  assert.deepEqual((shipped.metadata.weightsFrom as { weights: string }).weights, "ema");
  disposeCheckpoint(shipped);
  tidy(() => {
    const a = loadModel(ckpt);
    const b = loadModel(out);
    const g = new Generator(2);
    const z = randn([2, 1, 8, 8], g);
    const labels = randint(0, 4, [2], g);
    assert.deepEqual(denoiserOf(b).denoiser(z, full([2], 0.4), { labels }).toNumbers(), denoiserOf(a).denoiser(z, full([2], 0.4), { labels }).toNumbers());
    a.dispose();
    b.dispose();
  });
});
