// The PatchGAN side of the autoencoder's loss against PyTorch (test/fixtures/nn/make_discriminator_fixture.py:
// taming's NLayerDiscriminator with BatchNorm in train mode, hinge_d_loss, and LDM's
// calculate_adaptive_weight with torch.autograd.grad, on the f2 autoencoder of the
// autoencoder fixture): names, patch logits, the generator term, the adaptive weight and the
// hinge loss. Then a GAN run through the CLI resumes exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tidy } from "../../src/engine/index.js";
import { loadAutoencoder } from "../../src/io/load-autoencoder.js";
import { saveNpy } from "../../src/io/npy.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { fromHost } from "../../src/io/tensor-bridge.js";
import { AutoencoderKL } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { PatchDiscriminator } from "../../src/nn/patch-discriminator.js";
import { adaptiveWeight, hingeLoss } from "../../src/latent/autoencoder-loss.js";
import { halvesImages } from "../helpers/tiny-images.js";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/nn/autoencoder");

test("PatchGAN terms equal PyTorch's: patch logits (batch-statistics BatchNorm), generator term, adaptive weight, hinge", () => {
  const gan = loadSafetensors(join(DIR, "gan.safetensors")).tensors;
  const f2 = loadSafetensors(join(DIR, "f2.safetensors")).tensors;
  const config = (JSON.parse(readFileSync(join(DIR, "f2.json"), "utf8")) as { config: Record<string, unknown> }).config;
  const ae = new AutoencoderKL(new ParamStore(), config);
  const store = new ParamStore();
  const disc = new PatchDiscriminator(store.sub("discriminator"), { channels: 1, width: 8, layers: 1 });
  try {
    tidy(() => {
      ae.store.load(new Map(Object.entries(f2).filter(([k]) => !k.startsWith("fixture.")).map(([k, v]) => [k, fromHost(v)])));
      const discWeights = Object.entries(gan).filter(([k]) => k.startsWith("discriminator."));
      assert.deepEqual([...disc.named().keys()].sort(), discWeights.map(([k]) => k).sort());
      store.load(new Map(discWeights.map(([k, v]) => [k, fromHost(v)])));
      const get = (k: string) => fromHost(gan[`fixture.${k}`]);
      const x = get("x");
      const p = ae.encode(x);
      const rec = ae.decode(p.mean.add(p.logvar.mul(0.5).exp().mul(get("eps"))));
      const recLoss = x.sub(rec).abs().sum().div(4);
      const logitsReal = disc.forward(x);
      assert.deepEqual(logitsReal.shape, [4, 1, 2, 2]);
      assert.ok(logitsReal.sub(get("logits_real")).abs().max().item() < 1e-5);
      const g = disc.forward(rec).mean().neg();
      const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.abs(b), `${what}: ${a} vs ${b}`);
      near(recLoss.item(), get("rec_loss").item(), 1e-5, "rec");
      near(g.item(), get("g_loss").item(), 1e-4, "g");
      const last = ae.named().get("decoder.conv_out.weight")!;
      for (const q of ae.parameters()) q.requiresGrad_(true);
      const params = [...ae.parameters(), ...disc.parameters()];
      near(adaptiveWeight(recLoss, g, last, params), get("d_weight").item(), 1e-4, "adaptive weight");
      // it leaves no gradient behind
      assert.ok(params.every((q) => q.grad === null));
      near(hingeLoss(logitsReal, disc.forward(rec.detach())).item(), get("hinge").item(), 1e-5, "hinge");
    });
  } finally {
    disc.dispose();
    ae.dispose();
  }
});

test("train-autoencoder --disc-start: the discriminator's run resumes exactly and its tensors stay out of the autoencoder", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-gan-"));
  try {
    const images = halvesImages(32, 5, 16);
    const imagesNpy = join(dir, "i.npy");
    const labelsNpy = join(dir, "l.npy");
    saveNpy(imagesNpy, { dtype: "uint8", shape: [32, 1, 16, 16], data: images.images });
    saveNpy(labelsNpy, { dtype: "int32", shape: [32], data: new Uint8Array(images.labels.buffer) });
    const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [bin, "train-autoencoder", "--data", `npy:${imagesNpy},${labelsNpy}`, "--widths", "8,8", "--groups", "4", "--latent-channels", "2", "--batch-size", "4", "--scale-images", "8", "--grid-every", "0",
        "--disc-start", "1", "--disc-width", "8", "--disc-layers", "1", ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
      assert.equal(r.status, 0, r.stderr);
    };
    run("--steps", "4", "--out-dir", join(dir, "a"));
    run("--steps", "2", "--out-dir", join(dir, "b"));
    run("--steps", "4", "--out-dir", join(dir, "b"), "--resume");
    const file = loadSafetensors(join(dir, "a", "autoencoder.safetensors"));
    assert.ok(Object.keys(file.tensors).some((k) => k.startsWith("discriminator.main.")), "the discriminator is saved for resume");
    assert.ok(Object.keys(file.tensors).some((k) => k.startsWith("optim.disc.")), "and its optimizer state");
    const [a, b] = [loadAutoencoder(join(dir, "a", "autoencoder.safetensors")), loadAutoencoder(join(dir, "b", "autoencoder.safetensors"))];
    assert.equal(a.sha256, b.sha256);
    a.model.dispose();
    b.model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
