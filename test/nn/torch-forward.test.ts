// The whole forward of the MLP denoiser and the U-Net against PyTorch on shared weights
// (test/fixtures/nn/make_forward_fixtures.py: the U-Net of bench/unet/peer_torch.py and an MLP
// written op for op in PyTorch): an independent implementation of each network, run on random
// weights in which every layer that fewstep starts at zero is live, at t = 0, 1e-4, 0.3, 0.9999, 1
// and random t, every label including the null one, and w in [0, 4].
// Checked: x-hat (denoiserOf(model), src/diffusion/parameterization.ts) and the raw network output
// (forwardRaw at the noise level u = noiseLevel(t): v-hat or x-hat).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { liveTensors, tidy, type Tensor } from "../../src/engine/index.js";
import { toTypedArray } from "../../src/io/host-array.js";
import { loadNpy } from "../../src/io/npy.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { fromHost } from "../../src/io/tensor-bridge.js";
import { denoiserOf, noiseLevel } from "../../src/diffusion/parameterization.js";
import type { DenoiserModel } from "../../src/nn/model.js";
import { buildDenoiser, type ModelMetadata } from "../../src/nn/registry.js";
import { ParamStore } from "../../src/nn/param-store.js";

// ---- how fewstep builds and runs a model: the one place to adapt when src/nn moves ----------------

interface Inputs {
  z: Tensor;
  t: Tensor;
  labels: Tensor;
  /** Given only to models with a w input. */
  w?: Tensor;
}

/** A model of `kind` with `config`; its initial weights are replaced by the fixture's. */
function buildFromFixture(kind: string, config: Record<string, unknown>): DenoiserModel {
  // The JSON's kind and config are unchecked here; the model's config resolution rejects bad ones.
  return buildDenoiser(new ParamStore({ seed: 0 }), { kind, config } as unknown as ModelMetadata);
}

/** x-hat(z_t, t, cond). */
function forwardXHat(model: DenoiserModel, x: Inputs): Tensor {
  return denoiserOf(model).denoiser(x.z, x.t, { labels: x.labels, w: x.w });
}

/** The raw network output at the noise level of t. */
function forwardRawOutput(model: DenoiserModel, x: Inputs): Tensor {
  return model.forwardRaw(x.z, noiseLevel(x.t), { labels: x.labels, w: x.w });
}

// ---- the fixture --------------------------------------------------------------------------------

// Compiled to dist/test/nn/, three levels below the repository root.
const DIR = fileURLToPath(new URL("../../../test/fixtures/nn/forward/", import.meta.url));

interface Case {
  name: string;
  kind: string;
  config: Record<string, unknown> & { wInput: boolean };
  /** Safetensors files whose union is every parameter (students: the base and the w path). */
  weights: string[];
  inputs: string;
  xhat: string;
  raw: string;
  maxAbsXhat: number;
  maxAbsRaw: number;
}
const fixture = JSON.parse(readFileSync(join(DIR, "cases.json"), "utf8")) as { torch: string; cases: Case[] };

/** Tensors of one safetensors file by name; float16 (the stored weights, exact in float32) as float32. */
function readTensors(file: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, h] of Object.entries(loadSafetensors(join(DIR, file)).tensors)) {
    const t = fromHost(h);
    out.set(name, t.dtype === "float16" ? t.to("float32") : t);
  }
  return out;
}

function readWeights(files: string[]): Map<string, Tensor> {
  const all = new Map<string, Tensor>();
  for (const file of files) {
    for (const [name, t] of readTensors(file)) {
      assert.ok(!all.has(name), `${name} is in two weight files`);
      all.set(name, t);
    }
  }
  return all;
}

function readNpy(file: string): { shape: number[]; values: Float32Array } {
  const h = loadNpy(join(DIR, file));
  assert.equal(h.dtype, "float32", `${file}: dtype`);
  return { shape: h.shape, values: toTypedArray(h as typeof h & { dtype: "float32" }) };
}

/** Largest |a - b| and where it is (flat index). */
function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { diff: number; at: number } {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let at = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= diff)) {
      diff = d; // NaN lands here too and fails the comparison below
      at = i;
    }
  }
  return { diff, at };
}

// Both sides compute in float32 from the same float32 weights and inputs; a difference beyond
// rounding (~1e-7 of the scale per op, over a few dozen ops) means different math.
const REL_TOL = 1e-4;

function compare(ctx: { diagnostic(msg: string): void }, what: string, out: Tensor, file: string, scale: number, t: Float32Array): void {
  const ref = readNpy(file);
  assert.deepEqual(out.shape, ref.shape, `${what}: shape`);
  const { diff, at } = maxAbsDiff(out.toNumbers(), ref.values);
  const tol = REL_TOL * scale;
  const row = Math.floor(at / (ref.values.length / ref.shape[0]));
  ctx.diagnostic(`${what}: max |fewstep - PyTorch| = ${diff.toExponential(3)} (${(diff / scale).toExponential(3)} of max |ref| ${scale.toFixed(4)}; tolerance ${tol.toExponential(3)}), at example ${row} (t = ${t[row]})`);
  assert.ok(diff <= tol, `${what}: max abs difference ${diff} at flat index ${at} (example ${row}, t = ${t[row]}) exceeds ${tol}`);
}

for (const c of fixture.cases) {
  test(`${c.name}: forward matches PyTorch ${fixture.torch} on shared weights`, (ctx) => {
    const live = liveTensors();
    tidy(() => {
      const model = buildFromFixture(c.kind, c.config);
      model.training = false; // eval: dropout off, as the PyTorch module in eval()
      const { initialisedWPath } = model.loadWeights(readWeights(c.weights));
      assert.deepEqual(initialisedWPath, [], "every parameter, the w path included, comes from the fixture");

      const x = readTensors(c.inputs);
      const inputs: Inputs = { z: x.get("z")!, t: x.get("t")!, labels: x.get("labels")!, w: c.config.wInput ? x.get("w")! : undefined };
      const t = Float32Array.from(inputs.t.toNumbers());
      compare(ctx, "x-hat", forwardXHat(model, inputs), c.xhat, c.maxAbsXhat, t);
      compare(ctx, "raw output", forwardRawOutput(model, inputs), c.raw, c.maxAbsRaw, t);
      model.dispose();
    });
    assert.equal(liveTensors(), live, "no tensor outlives the test");
  });
}

test("the fixture covers both networks, both predictions, teachers and students", () => {
  const seen = new Set(fixture.cases.map((c) => `${c.kind}/${c.config.prediction}/${c.config.wInput}`));
  for (const kind of ["mlp-denoiser", "unet"]) for (const p of ["v", "x"]) assert.ok(seen.has(`${kind}/${p}/true`), `${kind} ${p} student`);
  for (const kind of ["mlp-denoiser", "unet"]) assert.ok(seen.has(`${kind}/v/false`), `${kind} v teacher`);
  assert.ok(fixture.cases.some((c) => c.kind === "unet" && c.config.channels === 3), "a 3-channel U-Net");
});
