// The exact mixture teacher against closed forms and against numerical integration in plain JS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, Generator, full, tensor, tidy } from "../../src/engine/index.js";
import type { Cond } from "../../src/diffusion/denoiser.js";
import { dropCond, guided } from "../../src/diffusion/guidance.js";
import { GaussianMixture, loadMixture, validateMixtureSpec } from "../../src/diffusion/mixture.js";
import { alphaSigma } from "../../src/diffusion/schedule.js";
import { assertClose } from "../helpers/assert-close.js";

test("a single Gaussian's posterior mean: mu + alpha s^2 / (alpha^2 s^2 + sigma^2) (z - alpha mu)", () =>
  tidy(() => {
    const mu = [1.5, -0.5, 2];
    const s = 0.7;
    const g = new GaussianMixture({ means: [[mu]], stds: [[s]], weights: [[1]] });
    const z = tensor(new Float64Array([0.2, 1, -1, 3, 0, 0.5]), { shape: [2, 3] });
    for (const tv of [0.05, 0.5, 0.95]) {
      const { alpha, sigma } = alphaSigma(tv);
      const gain = (alpha * s * s) / (alpha * alpha * s * s + sigma * sigma);
      const expected = z.toNumbers().map((v, i) => mu[i % 3] + gain * (v - alpha * mu[i % 3]));
      const t = full([2], tv, { dtype: "float64" });
      for (const label of [0, 1]) {
        // label 1 is the null label: with one class the unconditional model is the same Gaussian
        assertClose(g.posteriorMean(z, t, full([2], label, { dtype: "int64" })).toNumbers(), expected, { rtol: 1e-10, atol: 1e-12 });
      }
    }
    g.dispose();
  }));

// 1-D, two classes of two components each: E[x | z] by quadrature of p(x) N(z; alpha x, sigma^2).
const spec1d = { means: [[[-2], [0.5]], [[1], [3]]], stds: [[0.4, 0.8], [0.3, 0.6]], weights: [[0.7, 0.3], [1, 3]] };
function quadratureMean(z: number, t: number, classes: number[]): number {
  const { alpha, sigma } = alphaSigma(t);
  let num = 0;
  let den = 0;
  for (let x = -8; x <= 8; x += 1e-4) {
    let px = 0;
    for (const c of classes) {
      const total = spec1d.weights[c].reduce((a, b) => a + b, 0);
      spec1d.means[c].forEach(([m], k) => {
        const sd = spec1d.stds[c][k];
        px += ((spec1d.weights[c][k] / total) * Math.exp(-((x - m) ** 2) / (2 * sd * sd))) / sd;
      });
    }
    const lik = Math.exp(-((z - alpha * x) ** 2) / (2 * sigma * sigma));
    num += x * px * lik;
    den += px * lik;
  }
  return num / den;
}

test("conditional, unconditional and guided x-hat match numerical integration", () =>
  tidy(() => {
    const g = new GaussianMixture(spec1d);
    for (const [zv, tv] of [[0.3, 0.3], [-1.5, 0.6], [2.2, 0.8]]) {
      const z = tensor(new Float64Array([zv]), { shape: [1, 1] });
      const t = full([1], tv, { dtype: "float64" });
      const cond0 = g.posteriorMean(z, t, tensor([0], { dtype: "int64" })).item();
      const uncond = g.posteriorMean(z, t, tensor([2], { dtype: "int64" })).item();
      assertClose([cond0], [quadratureMean(zv, tv, [0])], { atol: 1e-6 });
      assertClose([uncond], [quadratureMean(zv, tv, [0, 1])], { atol: 1e-6 });
      // guidance, the paper's convention: (1 + w) x(z, c) - w x(z, null)
      const w = 2.5;
      const guidedValue = guided(g, w)(z, t, { labels: tensor([0], { dtype: "int64" }) }).item();
      assertClose([guidedValue], [(1 + w) * cond0 - w * uncond], { atol: 1e-12 });
    }
    g.dispose();
  }));

test("guided() with w = 0 is the conditional model, and per-example w broadcasts", () =>
  tidy(() => {
    const g = loadMixture("ring2d");
    const z = tensor(new Float64Array([0.5, 0.1, -1, 0.3]), { shape: [2, 2] });
    const t = full([2], 0.5, { dtype: "float64" });
    const labels = tensor([0, 2], { dtype: "int64" });
    const cond = g.posteriorMean(z, t, labels);
    assertClose(guided(g, 0)(z, t, { labels }).toNumbers(), cond.toNumbers(), { atol: 0 });
    const uncond = g.posteriorMean(z, t, full([2], g.nullLabel, { dtype: "int64" }));
    const perExample = guided(g, tensor(new Float64Array([1, 4])))(z, t, { labels }).toNumbers();
    const c = cond.toNumbers();
    const u = uncond.toNumbers();
    const expected = c.map((v, i) => (1 + [1, 4][i >> 1]) * v - [1, 4][i >> 1] * u[i]);
    assertClose(perExample, expected, { atol: 1e-12 });
    assert.throws(() => guided(g, -1), /w must be >= 0/);
    g.dispose();
  }));

test("data samples have the mixture's class means and spreads", () =>
  tidy(() => {
    const g = new GaussianMixture(spec1d);
    const { x } = g.sample(40000, new Generator(3), { labels: full([40000], 1, { dtype: "int64" }) });
    // class 1: weights 1/4, 3/4 at means 1 and 3, stds 0.3, 0.6
    const mean = 0.25 * 1 + 0.75 * 3;
    const variance = 0.25 * (0.09 + 1) + 0.75 * (0.36 + 9) - mean * mean;
    assertClose([x.mean().item()], [mean], { atol: 0.02 });
    assertClose([x.var().item()], [variance], { rtol: 0.03 });
    g.dispose();
  }));

test("condition dropout replaces about p of the labels by the null label", () =>
  tidy(() => {
    const labels = full([20000], 1, { dtype: "int64" });
    // a model whose null condition is the label 5 (numClasses 5)
    const model = { nullCond: (cond: Cond): Cond => ({ ...cond, labels: full([cond.labels!.shape[0]], 5, { dtype: "int64" }) }) };
    const dropped = dropCond(model, { labels }, 0.1, new Generator(0)).labels!;
    const fraction = dropped.eq(5).to("float64").mean().item();
    assertClose([fraction], [0.1], { atol: 0.01 });
    assert.deepEqual([...new Set(dropped.toNumbers())].sort(), [1, 5]);
  }));

test("bad specs name the field", () => {
  assert.throws(() => validateMixtureSpec({ means: [[[0, 0]]], stds: [[-1]], weights: [[1]] }), /stds\[0\]\[0\] must be a positive number/);
  assert.throws(() => validateMixtureSpec({ means: [[[0, 0], [1]]], stds: [[1, 1]], weights: [[1, 1]] }), /means\[0\]\[1\] has 1 dimensions, expected 2/);
  assert.throws(() => validateMixtureSpec({ means: [[[0]]], stds: [[1]] }), ConfigError);
  // JSON.parse reads 1e309 as Infinity: no usable std or weight (found by test/io/fuzz.test.ts).
  const inf = JSON.parse("1e309") as number;
  assert.throws(() => validateMixtureSpec({ means: [[[0, 0]]], stds: [[inf]], weights: [[1]] }), /stds\[0\]\[0\] must be a positive number, got Infinity/);
  assert.throws(() => validateMixtureSpec({ means: [[[0, 0]]], stds: [[1]], weights: [[inf]] }), /weights\[0\]\[0\] must be a non-negative number, got Infinity/);
  assert.throws(() => validateMixtureSpec({ means: [[[0], [1]]], stds: [[1, 1]], weights: [[1e308, 1e308]] }), /weights\[0\] sum to more than the largest float64/);
  // A spec file that is not JSON: V8 quotes the text around the error, line break included; the
  // message stays one line (found by test/io/fuzz.test.ts).
  const dir = mkdtempSync(join(tmpdir(), "fewstep-mixture-"));
  try {
    const file = join(dir, "spec.json");
    writeFileSync(file, '{"means":\n x}');
    assert.throws(() => loadMixture(file), (err: unknown) =>
      err instanceof ConfigError && /^[^\n]*spec\.json: not valid JSON \(Unexpected token 'x', "\{"means":\\n x\}" is not valid JSON\)$/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => loadMixture("/nonexistent/spec.json"), /cannot read mixture spec \/nonexistent\/spec\.json/);
});

test("an unknown built-in name lists the built-ins instead of a raw ENOENT; a path still reads the file", () => {
  const message = "unknown mixture 'ring3d': built-ins are ring2d, gauss64d, or give a JSON spec file";
  assert.throws(() => loadMixture("ring3d"), (e: Error) => e.message === message);
  assert.throws(() => loadMixture("toString"), /unknown mixture 'toString': built-ins are ring2d, gauss64d/);
  assert.throws(() => loadMixture("missing.json"), /cannot read mixture spec missing\.json: ENOENT/);
  assert.throws(() => loadMixture("specs/missing"), /cannot read mixture spec specs\/missing: ENOENT/);
});

test("a mixture of very many components builds without overflowing the call stack", () =>
  tidy(() => {
    // 4 classes x 50,000 components: the old `logW.push(...row)` spread 200,000 arguments per row
    const classes = 4;
    const perClass = 50_000;
    const spec = {
      means: Array.from({ length: classes }, (_, c) => Array.from({ length: perClass }, (_, k) => [c + k / perClass])),
      stds: Array.from({ length: classes }, () => new Array<number>(perClass).fill(0.1)),
      weights: Array.from({ length: classes }, () => new Array<number>(perClass).fill(1)),
    };
    const g = new GaussianMixture(spec);
    assert.equal(g.numClasses, classes);
    const z = tensor(new Float64Array([0.5, 2.5]), { shape: [2, 1] });
    const x = g.posteriorMean(z, full([2], 0.5, { dtype: "float64" }), tensor([0, 4], { dtype: "int64" })).toNumbers();
    assert.ok(x.every(Number.isFinite), String(x));
    assert.ok(x[0] >= 0 && x[0] <= 1, `class 0 lies in [0, 1], got ${x[0]}`);
    g.dispose();
  }));

test("a mixture of 10^6 one-component classes is refused by the size of its (C + 1) x M table, not a raw RangeError", () => {
  const classes = 1_000_000;
  const spec = { means: Array.from({ length: classes }, () => [[0]]), stds: Array.from({ length: classes }, () => [1]), weights: Array.from({ length: classes }, () => [1]) };
  assert.throws(
    () => new GaussianMixture(spec),
    (e: unknown) => e instanceof ConfigError && /1000000 classes and 1000000 components .* weight table of 1000001000000 entries.*use fewer classes or components/.test((e as Error).message),
  );
});
