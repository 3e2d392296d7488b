// The autoencoder (src/nn/autoencoder.ts) against diffusers' AutoencoderKL computed by PyTorch
// (test/fixtures/nn/make_autoencoder_fixture.py: a module tree with diffusers' names, checked there
// output for output against diffusers' own classes): parameter names and shapes, the posterior
// (mean, clamped log-variance), the KL term, decoding of the mean and of a posterior sample; the
// diffusers-folder loader, including the deprecated attention names; and the content hash.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { liveTensors, tidy, type Tensor } from "../../src/engine/index.js";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { autoencoderHash, loadAutoencoder } from "../../src/io/load-autoencoder.js";
import { loadSafetensors, saveSafetensors } from "../../src/io/safetensors.js";
import { fromHost } from "../../src/io/tensor-bridge.js";
import type { HostArray } from "../../src/io/host-array.js";
import { AutoencoderKL, klToStandardNormal, resolveAutoencoderConfig } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/nn/autoencoder");

interface Fixture {
  config: Record<string, unknown>;
  parameters: [string, number[]][];
  weights: Map<string, HostArray>;
  outputs: Map<string, HostArray>;
}

function readFixture(name: string): Fixture {
  const meta = JSON.parse(readFileSync(join(DIR, `${name}.json`), "utf8")) as { config: Record<string, unknown>; parameters: [string, number[]][]; weights: string };
  const file = loadSafetensors(join(DIR, meta.weights));
  const weights = new Map<string, HostArray>();
  const outputs = new Map<string, HostArray>();
  for (const [k, v] of Object.entries(file.tensors)) (k.startsWith("fixture.") ? outputs : weights).set(k, v);
  return { config: meta.config, parameters: meta.parameters, weights, outputs };
}

function build(f: Fixture): AutoencoderKL {
  const model = new AutoencoderKL(new ParamStore({ seed: 0 }), f.config);
  tidy(() => model.store.load(new Map([...f.weights].map(([k, v]) => [k, fromHost(v)]))));
  return model;
}

function maxAbsDiff(a: Tensor, b: HostArray): number {
  return tidy(() => a.sub(fromHost(b)).abs().max().item());
}

function maxRelDiff(a: Tensor, b: HostArray): number {
  return tidy(() => {
    const ref = fromHost(b);
    return a.sub(ref).abs().div(ref.abs().add(1e-6)).max().item();
  });
}

for (const name of ["f2", "f4"]) {
  test(`autoencoder ${name}: diffusers' parameter names and shapes, in a resolvable diffusers config`, () => {
    const f = readFixture(name);
    const model = new AutoencoderKL(new ParamStore(), f.config);
    try {
      const ours = [...model.named()].map(([k, t]) => `${k} [${t.shape}]`).sort();
      const theirs = f.parameters.map(([k, s]) => `${k} [${s}]`).sort();
      assert.deepEqual(ours, theirs);
      assert.equal(model.downFactor, 2 ** ((f.config.block_out_channels as number[]).length - 1));
    } finally {
      model.dispose();
    }
  });

  test(`autoencoder ${name}: encode, KL and decode equal PyTorch's on shared weights`, () => {
    const f = readFixture(name);
    const before = liveTensors();
    const model = build(f);
    tidy(() => {
      const out = (k: string) => f.outputs.get(`fixture.${k}`)!;
      const x = fromHost(out("x"));
      const p = model.encode(x);
      assert.ok(maxAbsDiff(p.mean, out("mean")) < 1e-5, `mean differs by ${maxAbsDiff(p.mean, out("mean"))}`);
      assert.ok(maxAbsDiff(p.logvar, out("logvar")) < 1e-5, `logvar differs by ${maxAbsDiff(p.logvar, out("logvar"))}`);
      assert.ok(maxAbsDiff(klToStandardNormal(p), out("kl")) < 1e-4, "kl differs");
      const decoded = model.decode(p.mean);
      assert.ok(maxAbsDiff(decoded, out("decoded")) < 1e-5, `decoded differs by ${maxAbsDiff(decoded, out("decoded"))}`);
      // the reparameterised sample, with PyTorch's eps
      const z = p.mean.add(p.logvar.mul(0.5).exp().mul(fromHost(out("eps"))));
      assert.ok(maxAbsDiff(z, out("sample")) < 1e-5);
      assert.ok(maxAbsDiff(model.decode(fromHost(out("sample"))), out("decoded_sample")) < 1e-5);
      // the decoded range is not trivial (every layer mattered)
      assert.ok(tidy(() => decoded.std().item()) > 0.05);
    });
    model.dispose();
    assert.equal(liveTensors(), before);
  });
}

test("autoencoder: the log-variance is clamped to [-30, 20] as latent diffusion clamps it", () => {
  const f = readFixture("clamp");
  const model = build(f);
  try {
    tidy(() => {
      const out = (k: string) => f.outputs.get(`fixture.${k}`)!;
      const p = model.encode(fromHost(out("x")));
      assert.ok(maxAbsDiff(p.logvar, out("logvar")) < 1e-5);
      assert.equal(p.logvar.max().item(), 20);
      assert.equal(p.logvar.min().item(), -30);
      assert.ok(maxRelDiff(klToStandardNormal(p), out("kl")) < 1e-5);
    });
  } finally {
    model.dispose();
  }
});

test("autoencoder: a diffusers folder loads by name (also with the deprecated attention names) and hashes like its fewstep copy", () => {
  const f = readFixture("f2");
  const dir = mkdtempSync(join(tmpdir(), "fewstep-ae-"));
  try {
    const folder = join(dir, "vae");
    mkdirSync(folder);
    writeFileSync(join(folder, "config.json"), JSON.stringify(f.config));
    saveSafetensors(join(folder, "diffusion_pytorch_model.safetensors"), Object.fromEntries(f.weights));
    // diffusers before 0.14: query/key/value/proj_attn, stored as 1x1 convs
    const old = join(dir, "old");
    mkdirSync(old);
    writeFileSync(join(old, "config.json"), JSON.stringify(f.config));
    const renamed: Record<string, HostArray> = {};
    for (const [k, v] of f.weights) {
      const m = k.match(/^(.*\.attentions\.0\.)(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/);
      if (!m) renamed[k] = v;
      else {
        const oldName = { to_q: "query", to_k: "key", to_v: "value", "to_out.0": "proj_attn" }[m[2]]!;
        renamed[`${m[1]}${oldName}.${m[3]}`] = m[3] === "weight" ? { ...v, shape: [...v.shape, 1, 1] } : v;
      }
    }
    saveSafetensors(join(old, "diffusion_pytorch_model.safetensors"), renamed);

    const a = loadAutoencoder(folder);
    const b = loadAutoencoder(old);
    const ref = build(f);
    try {
      tidy(() => {
        const x = fromHost(f.outputs.get("fixture.x")!);
        const want = ref.decode(ref.encode(x).mean);
        for (const m of [a.model, b.model]) assert.equal(tidy(() => m.decode(m.encode(x).mean).sub(want).abs().max().item()), 0);
      });
      assert.equal(a.sha256, b.sha256);
      assert.equal(a.sha256, autoencoderHash(ref));
      // a fewstep checkpoint of the same weights hashes alike; another scaling factor does not
      const ckpt = join(dir, "ae.safetensors");
      saveCheckpoint(ckpt, { params: ref.named(), metadata: { model: ref.metadata() } });
      const c = loadAutoencoder(ckpt);
      assert.equal(c.sha256, a.sha256);
      c.model.dispose();
      saveCheckpoint(ckpt, { params: ref.named(), metadata: { model: { ...ref.metadata(), config: { ...ref.config, scaling_factor: 0.5 } } } });
      const d = loadAutoencoder(ckpt);
      assert.notEqual(d.sha256, a.sha256);
      d.model.dispose();
    } finally {
      a.model.dispose();
      b.model.dispose();
      ref.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("autoencoder: bad configs, images the down factor does not divide, latents of the wrong width", () => {
  assert.throws(() => resolveAutoencoderConfig({ in_channels: 1, sample_size: 8, block_out_channels: [12, 24], norm_num_groups: 8 }), /divide by norm_num_groups 8/);
  assert.throws(() => resolveAutoencoderConfig({ in_channels: 1, sample_size: 8, act_fn: "relu" }), /act_fn "relu" is not supported/);
  assert.throws(() => resolveAutoencoderConfig({ in_channels: 1, sample_size: 8, down_block_types: ["AttnDownEncoderBlock2D"] }), /DownEncoderBlock2D/);
  assert.throws(() => resolveAutoencoderConfig({ in_channels: 1, sample_size: 8, latents_mean: [0, 0, 0, 0] }), /latents_mean is not supported/);
  assert.throws(() => resolveAutoencoderConfig({ in_channels: 1, sample_size: 8, widths: [8] }), /unknown field 'widths'/);
  const model = new AutoencoderKL(new ParamStore(), { in_channels: 1, sample_size: 32, block_out_channels: [8, 8, 8, 8] });
  try {
    assert.throws(() => model.latentShape([1, 28, 28]), /image size 28x28 does not divide by the autoencoder's down factor 8.*--size 32/);
    assert.deepEqual(model.latentShape([1, 32, 32]), [4, 4, 4]);
    tidy(() => {
      assert.throws(() => model.decode(fromHost({ dtype: "float32", shape: [1, 3, 8, 8], data: new Uint8Array(3 * 64 * 4) })), /the decoder takes latents \[n, 4, h, w\], got \[1,3,8,8\]/);
    });
  } finally {
    model.dispose();
  }
});
