// Samplers against closed forms: Gaussian data has a linear probability-flow map, a one-point
// data set makes every DDIM jump exact, and the stochastic sampler's noise has a known variance.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, cat, full, liveTensors, randint, randn, tensor, tidy } from "../../src/engine/index.js";
import type { Denoiser } from "../../src/diffusion/denoiser.js";
import { GaussianMixture, loadMixture } from "../../src/diffusion/mixture.js";
import { ddimStep, renoiseVariance, sampleDdim, sampleDdpm, sampleStochastic } from "../../src/diffusion/samplers/index.js";
import { alphaSigma, timeGrid } from "../../src/diffusion/schedule.js";
import { guided } from "../../src/diffusion/guidance.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { sampleGuided } from "../../src/diffusion/sample.js";
import { buildDenoiser, denoiserMetadataForData } from "../../src/nn/registry.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { assertClose } from "../helpers/assert-close.js";

const mu = 1.5;
const s = 0.5;
const gaussian = () => new GaussianMixture({ means: [[[mu]]], stds: [[s]], weights: [[1]] });

/** The exact probability-flow map of N(mu, s^2) data: z_1 -> mu + s (z_1 - alpha_1 mu) / sqrt(alpha_1^2 s^2 + sigma_1^2). */
function exactFlow(z1: number): number {
  const { alpha, sigma } = alphaSigma(1);
  return mu + (s * (z1 - alpha * mu)) / Math.sqrt(alpha * alpha * s * s + sigma * sigma);
}

/** x-hat of N(mu, s^2) data: mu + g (z - alpha mu), g = alpha s^2 / (alpha^2 s^2 + sigma^2). */
function gaussianXHat(z: number, t: number): number {
  const { alpha, sigma } = alphaSigma(t);
  const g = (alpha * s * s) / (alpha * alpha * s * s + sigma * sigma);
  return mu + g * (z - alpha * mu);
}

/** Scalar DDIM recursion, written out independently of the tensor sampler. */
function scalarDdim(z1: number, steps: number): number {
  let z = z1;
  for (let i = steps; i >= 1; i--) {
    const t = i / steps;
    const x = gaussianXHat(z, t);
    if (i === 1) return x;
    const { alpha: at, sigma: st } = alphaSigma(t);
    const { alpha: as, sigma: ss } = alphaSigma((i - 1) / steps);
    z = as * x + (ss * (z - at * x)) / st;
  }
  return z;
}

test("DDIM with the exact denoiser equals the scalar recursion and converges (first order) to the closed-form flow map", () =>
  tidy(() => {
    const g = gaussian();
    const z = randn([64, 1], new Generator(0), { dtype: "float64" });
    const z1 = z.toNumbers();
    const cond = { labels: full([64], 0, { dtype: "int64" }) };
    const errors = [1, 4, 16, 64, 256].map((n) => {
      const x = sampleDdim(g.denoiser, z, timeGrid(n), { cond }).toNumbers();
      assertClose(x, z1.map((v) => scalarDdim(v, n)), { atol: 1e-10, what: `DDIM-${n}` });
      return Math.max(...x.map((v, i) => Math.abs(v - exactFlow(z1[i]))));
    });
    for (let i = 1; i < errors.length; i++) assert.ok(errors[i] < 0.35 * errors[i - 1], `error did not fall like 1/N: ${errors}`);
    assert.ok(errors[4] < 0.01, `256-step error ${errors[4]}`);
    g.dispose();
  }));

test("one-point data: every DDIM jump is exact, so 1 step lands on the point", () =>
  tidy(() => {
    const point = tensor(new Float64Array([0.7, -1.3]), { shape: [1, 2] });
    const onePoint: Denoiser = (z) => point.expand([z.shape[0], 2]).clone(); // x-hat = the point, for every z, t
    const z = randn([5, 2], new Generator(1), { dtype: "float64" });
    const cond = { labels: full([5], 0, { dtype: "int64" }) };
    const expected = point.expand([5, 2]).toNumbers();
    for (const n of [1, 3]) assertClose(sampleDdim(onePoint, z, timeGrid(n), { cond }).toNumbers(), expected, { atol: 1e-12 });
    // an intermediate jump is exact too: from z_t = alpha_t x + sigma_t eps it gives z_s with the same eps
    const [t, sTime] = [0.8, 0.3];
    const at = alphaSigma(t);
    const as = alphaSigma(sTime);
    const x = point.expand([5, 2]);
    const zt = x.mul(at.alpha).add(z.mul(at.sigma));
    assertClose(ddimStep(zt, x, t, sTime).toNumbers(), x.mul(as.alpha).add(z.mul(as.sigma)).toNumbers(), { atol: 1e-12 });
  }));

test("DDIM on the built-in 2-D mixture approaches its 1024-step map as steps grow", () =>
  tidy(() => {
    const g = loadMixture("ring2d");
    const generator = new Generator(2);
    const z = randn([200, 2], generator, { dtype: "float64" });
    const cond = { labels: g.sample(200, generator).labels };
    const reference = sampleDdim(g.denoiser, z, timeGrid(1024), { cond });
    const errors = [1, 4, 16, 64, 256].map((n) => sampleDdim(g.denoiser, z, timeGrid(n), { cond }).sub(reference).norm(2, 1).mean().item());
    for (let i = 1; i < errors.length; i++) assert.ok(errors[i] < errors[i - 1], `error did not fall: ${errors}`);
    assert.ok(errors[4] < 0.01, `256-step error ${errors[4]}`);
    g.dispose();
  }));

test("onStep may replace z_s: the walk continues from the replacement, and the last one is the sample", () =>
  tidy(() => {
    const g = loadMixture("ring2d");
    const generator = new Generator(3);
    const n = 16;
    const steps = 6;
    const z = randn([n, 2], generator, { dtype: "float64" });
    const cond = { labels: g.sample(n, generator).labels };
    const value = (index: number) => 0.25 * index - 0.6; // the first coordinate each step sets
    let lastXHat: number[] = [];
    const hooked = sampleDdim(g.denoiser, z, timeGrid(steps), {
      cond,
      onStep: ({ index, z: zS, xHat }) => {
        lastXHat = xHat.toNumbers();
        return cat([full([n, 1], value(index), { dtype: zS.dtype }), zS.narrow(1, 1, 1)], 1);
      },
    }).toNumbers();
    const plain = sampleDdim(g.denoiser, z, timeGrid(steps), { cond }).toNumbers();
    for (let i = 0; i < n; i++) {
      assert.equal(hooked[2 * i], value(steps - 1), `example ${i}: the last replacement's coordinate`);
      assert.equal(hooked[2 * i + 1], lastXHat[2 * i + 1], `example ${i}: the last step to 0 gives x-hat in the other coordinate`);
    }
    assert.ok(
      plain.some((v, i) => i % 2 === 1 && Math.abs(v - hooked[i]) > 1e-3),
      "the replacements must change where the walk goes (each step starts from the replaced state)",
    );
    g.dispose();
  }));

test("a grid that starts below 1: DDIM on timeGrid(8).slice(4) from the state at t = 0.5 is the last 4 steps of the full walk", () =>
  tidy(() => {
    const g = loadMixture("ring2d");
    const generator = new Generator(4);
    const n = 32;
    const z = randn([n, 2], generator, { dtype: "float64" });
    const cond = { labels: g.sample(n, generator).labels };
    const fullStates: number[][] = [];
    const fullSample = sampleDdim(g.denoiser, z, timeGrid(8), {
      cond,
      onStep: ({ z: zS }) => {
        fullStates.push(zS.toNumbers());
      },
    }).toNumbers();
    const grid = timeGrid(8).slice(4);
    assert.deepEqual(grid, [0.5, 0.375, 0.25, 0.125, 0]);
    const atHalf = tensor(new Float64Array(fullStates[3]), { shape: [n, 2] }); // z_s after the step to s = 0.5
    const partialStates: number[][] = [];
    const intervals: [number, number][] = [];
    const partialSample = sampleDdim(g.denoiser, atHalf, grid, {
      cond,
      onStep: ({ t, s, z: zS }) => {
        intervals.push([t, s]);
        partialStates.push(zS.toNumbers());
      },
    }).toNumbers();
    assert.deepEqual(intervals, [
      [0.5, 0.375],
      [0.375, 0.25],
      [0.25, 0.125],
      [0.125, 0],
    ]);
    partialStates.forEach((state, i) => assertClose(state, fullStates[4 + i], { atol: 1e-12, rtol: 0, what: `state at s = ${grid[i + 1]}` }));
    assertClose(partialSample, fullSample, { atol: 1e-12, rtol: 0, what: "sample" });
    g.dispose();
  }));

test("stochastic sampler: each re-noise adds variance (1 - exp(lambda_a - lambda_b)) sigma_a^2", () =>
  tidy(() => {
    const n = 40000;
    const steps = 4;
    const zero: Denoiser = (z) => z.mul(0); // x-hat = 0: the DDIM jump gives 0 and all spread is the re-noise
    const z = full([n, 1], 0, { dtype: "float64" });
    const states: number[][] = [];
    sampleStochastic(zero, z, timeGrid(steps), {
      cond: { labels: full([n], 0, { dtype: "int64" }) },
      generator: new Generator(5),
      onStep: ({ z: state }) => {
        states.push([state.mean().item(), state.var().item()]);
      },
    });
    // after the first call: jump 1 -> 0.5 (gives 0), re-noise to 0.75
    const [a, b] = [0.75, 0.5];
    const { alpha: aa, sigma: sa } = alphaSigma(a);
    const { alpha: ab, sigma: sb } = alphaSigma(b);
    const direct = sa * sa - (aa / ab) ** 2 * sb * sb; // sigma_{a|b}^2 from the forward process
    assertClose([renoiseVariance(a, b)], [direct], { rtol: 1e-10 });
    assertClose([states[0][1]], [direct], { rtol: 0.03 });
    assertClose([states[0][0]], [0], { atol: 0.02 });
    assert.equal(states.length, steps);
    assert.equal(states[steps - 1][1], 0); // the last step is deterministic
  }));

/** Mean and std of the stochastic sampler's output for N(mu, s^2) data from z_1 ~ N(0, 1): every step is linear. */
function scalarStochasticMoments(steps: number): [number, number] {
  let [mean, variance] = [0, 1];
  for (let i = steps; i >= 1; i--) {
    const t = i / steps;
    const { alpha: at, sigma: st } = alphaSigma(t);
    const g = (at * s * s) / (at * at * s * s + st * st);
    // x-hat = g z + mu (1 - g alpha_t); a DDIM jump to b is z_b = alpha_b x-hat + sigma_b (z - alpha_t x-hat) / sigma_t
    const jump = (b: number): [number, number] => {
      if (b === 0) return [g, mu * (1 - g * at)];
      const { alpha: ab, sigma: sb } = alphaSigma(b);
      return [ab * g + (sb * (1 - at * g)) / st, ab * mu * (1 - g * at) - (sb * at * mu * (1 - g * at)) / st];
    };
    if (i === 1) {
      const [p, q] = jump(0);
      return [p * mean + q, Math.abs(p) * Math.sqrt(variance)];
    }
    const [b, a] = [(i - 2) / steps, (i - 1) / steps];
    const [p, q] = jump(b);
    const r = alphaSigma(a).alpha / alphaSigma(b).alpha;
    mean = r * (p * mean + q);
    variance = r * r * p * p * variance + renoiseVariance(a, b);
  }
  return [mean, Math.sqrt(variance)];
}

test("stochastic sampler: sample moments match the exact linear recursion; ancestral gives the marginal", () =>
  tidy(() => {
    const g = gaussian();
    const n = 20000;
    const z = randn([n, 1], new Generator(7), { dtype: "float64" });
    const cond = { labels: full([n], 0, { dtype: "int64" }) };
    for (const steps of [4, 64]) {
      const x = sampleStochastic(g.denoiser, z, timeGrid(steps), { cond, generator: new Generator(8) });
      const [mean, std] = scalarStochasticMoments(steps);
      assertClose([x.mean().item()], [mean], { atol: 0.02, what: `stochastic-${steps} mean` });
      assertClose([x.std().item()], [std], { rtol: 0.03, what: `stochastic-${steps} std` });
    }
    // with more steps the stochastic sampler's spread approaches the data's (first order in 1/N)
    assert.ok(Math.abs(scalarStochasticMoments(1024)[1] - s) < 0.3 * Math.abs(scalarStochasticMoments(256)[1] - s));
    const x = sampleDdpm(g.denoiser, z, timeGrid(256), { cond, generator: new Generator(9) });
    assertClose([x.mean().item()], [mu], { atol: 0.02, what: "ddpm mean" });
    assertClose([x.std().item()], [s], { rtol: 0.03, what: "ddpm std" });
    g.dispose();
  }));

test("samplers free their temporaries, clip only the final sample, and check their inputs", () => {
  const g = gaussian();
  const before = liveTensors();
  tidy(() => {
    const z = randn([8, 1], new Generator(0), { dtype: "float64" }).mul(10);
    const cond = { labels: full([8], 0, { dtype: "int64" }) };
    const x = sampleDdim(g.denoiser, z, timeGrid(8), { cond, clip: [1.4, 1.6] });
    assert.ok(x.toNumbers().every((v) => v >= 1.4 && v <= 1.6));
    assert.throws(() => sampleDdim(g.denoiser, z, [1, 0.5, 0.7], { cond }), /grid must decrease strictly/);
    assert.throws(() => sampleStochastic(g.denoiser, z, timeGrid(4), { cond }), /pass opts.generator/);
  });
  assert.equal(liveTensors(), before);
  g.dispose();
});

test("ddimStep with per-example times equals the scalar form, and s = 0 gives x-hat", () =>
  tidy(() => {
    const g = new Generator(4);
    const z = randn([3, 2], g, { dtype: "float64" });
    const xHat = randn([3, 2], g, { dtype: "float64" });
    const ts = [0.9, 0.5, 0.25];
    const ss = [0.7, 0.25, 0];
    const batched = ddimStep(z, xHat, tensor(new Float64Array(ts)), tensor(new Float64Array(ss))).toNumbers();
    const rows = ts.map((t, i) => ddimStep(z.narrow(0, i, 1), xHat.narrow(0, i, 1), t, ss[i]).toNumbers()).flat();
    assertClose(batched, rows, { atol: 1e-12 });
    assert.deepEqual(batched.slice(4), xHat.narrow(0, 2, 1).toNumbers());
  }));

test("sampleGuided keeps no autograd graph: with trainable weights the sample needs no grad and equals sampleDdim's", () => {
  const data = loadMixture("ring2d", { dtype: "float32" });
  const model = buildDenoiser(new ParamStore({ seed: 0 }), denoiserMetadataForData(data, "mlp-denoiser", { hidden: 32, depth: 2 }));
  const before = liveTensors();
  tidy(() => {
    const g = new Generator(1);
    const z = randn([16, 2], g);
    const labels = randint(0, data.numClasses, [16], g);
    const x = sampleGuided(denoiserOf(model), z, { sampler: "ddim", steps: 4, w: 2, cond: { labels } });
    const withGrad = sampleDdim(guided(denoiserOf(model), 2), z, timeGrid(4), { cond: { labels } });
    assert.equal(x.requiresGrad, false);
    assert.equal(withGrad.requiresGrad, true); // the graph sampleGuided no longer builds
    assert.equal(x.sub(withGrad).abs().max().item(), 0);
  });
  assert.equal(liveTensors(), before);
  model.dispose();
  data.dispose();
});
