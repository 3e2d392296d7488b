// The portable samplers (plain TypeScript, no libtorch) against the libtorch samplers of
// src/diffusion/samplers: same initial noise, same exact mixture teacher (DESIGN.md section 5),
// same re-noise draws (the portable stochastic sampler takes its noise from libtorch's generator
// here), so the two must agree to float32 rounding. Plus the exact flow map of Gaussian data.
// The schedule itself is checked against its closed form and NumPy in schedule.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, liveTensors, randn, tensor, tidy } from "../../src/engine/index.js";
import { loadMixture, type GaussianMixture } from "../../src/diffusion/mixture.js";
import { sampleGuided } from "../../src/diffusion/sample.js";
import { type NoiseSource, type PortableDenoiser, alphaSigma, sampleDdim, samplePortable, timeGrid } from "../../src/portable/index.js";
import { assertClose } from "../helpers/assert-close.js";

/** The mixture's exact x-hat as a portable denoiser (the libtorch call is the "model"). */
function portableTeacher(mixture: GaussianMixture): PortableDenoiser {
  const dim = mixture.dim;
  return async (z, t, cond) =>
    tidy(() => {
      const n = t.length;
      const x = mixture.posteriorMean(tensor(z, { shape: [n, dim] }), tensor(t), tensor(BigInt64Array.from(cond.labels, (c) => BigInt(c))));
      return Float32Array.from(x.data() as Float32Array);
    });
}

/** libtorch's randn stream, in the order the libtorch stochastic sampler draws it. */
function torchNoise(seed: number, shape: number[]): NoiseSource {
  const generator = new Generator(seed);
  return { fill: (out) => out.set(tidy(() => randn(shape, generator).data() as Float32Array)) };
}

for (const { name, n } of [
  { name: "ring2d", n: 64 },
  { name: "gauss64d", n: 16 },
]) {
  for (const sampler of ["ddim", "stochastic"] as const) {
    for (const steps of sampler === "ddim" ? [1, 4, 16] : [1, 2, 4, 8]) {
      for (const [w, wInput] of [
        [0, false],
        [2, false],
        [2, true],
      ] as const) {
        test(`${sampler}, ${steps} steps, w ${w}${wInput ? " (w input)" : ""}, ${name}: portable equals libtorch`, async () => {
          const mixture = loadMixture(name, { dtype: "float32" });
          const before = liveTensors();
          const seed = 7;
          const { z, labels, expected } = tidy(() => {
            const generator = new Generator(123);
            const zT = randn([n, mixture.dim], generator);
            const labelsT = tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i % mixture.numClasses)));
            const x = sampleGuided(mixture, zT, { sampler, steps, w, guidance: wInput ? "input" : "teacher", cond: { labels: labelsT }, seed });
            return { z: Float32Array.from(zT.data() as Float32Array), labels: Int32Array.from(labelsT.toNumbers()), expected: Float32Array.from(x.data() as Float32Array) };
          });
          const actual = await samplePortable(
            portableTeacher(mixture),
            { exampleShape: [mixture.dim], numClasses: mixture.numClasses, wInput },
            { sampler, steps, w, labels, z, noise: torchNoise(seed, [n, mixture.dim]) },
          );
          assertClose(actual, expected, { atol: 1e-5, rtol: 1e-5, what: `${sampler} N=${steps}` });
          assert.equal(liveTensors(), before, "no tensor leaks");
          mixture.dispose();
        });
      }
    }
  }
}

test("portable DDIM on N(mu, s^2) data converges to the exact probability-flow map", async () => {
  const mu = 1.5;
  const s = 0.5;
  const gaussian: PortableDenoiser = async (z, t) =>
    Float32Array.from(z, (zi, i) => {
      const { alpha, sigma } = alphaSigma(t[i]);
      return mu + ((alpha * s * s) / (alpha * alpha * s * s + sigma * sigma)) * (zi - alpha * mu);
    });
  const z1 = new Float32Array([-2, -0.5, 0, 0.7, 2.5]);
  const { alpha, sigma } = alphaSigma(1);
  const exact = Array.from(z1, (z) => mu + (s * (z - alpha * mu)) / Math.sqrt(alpha * alpha * s * s + sigma * sigma));
  const error = async (steps: number) => {
    const x = await sampleDdim(gaussian, z1, timeGrid(steps), { cond: { labels: new Int32Array(5) } });
    return Math.max(...Array.from(x, (v, i) => Math.abs(v - exact[i])));
  };
  const [e16, e128, e512] = [await error(16), await error(128), await error(512)];
  assert.ok(e16 > e128 && e128 > e512 && e512 < 1e-2, `errors at 16/128/512 steps: ${e16} ${e128} ${e512}`);
});

test("portable samplers refuse what does not fit", async () => {
  const model: PortableDenoiser = async (z) => z;
  await assert.rejects(samplePortable(model, { exampleShape: [2], numClasses: 3, wInput: true }, { sampler: "ddim", steps: 2, w: 1, labels: [3] }), /class 3 is not one of the model's classes 0..2/);
  await assert.rejects(samplePortable(model, { exampleShape: [2], numClasses: 3, wInput: true }, { sampler: "ddim", steps: 2, w: 1, labels: [0], z: new Float32Array(3) }), /z has 3 numbers/);
  await assert.rejects(sampleDdim(model, new Float32Array(2), [1, 0.5, 0.7], { cond: { labels: new Int32Array(1) } }), /grid must decrease strictly/);
});
