// The cosine log-SNR schedule (DESIGN.md section 4) against two sources that are not its code:
// the closed form, written below in plain float64 JS from the formula, and values computed by
// NumPy (test/fixtures/schedule/make_fixtures.py). Checked: the scalar forms of src/portable and
// their re-export in src/diffusion, and the libtorch tensor forms (float64 and float32).
//   lambda(t) = -2 log tan(a t + b),  b = atan(exp(-lambdaMax / 2)),  a = atan(exp(-lambdaMin / 2)) - b
//   lambda in [-20, 20],  alpha^2 = sigmoid(lambda),  sigma^2 = sigmoid(-lambda)
import { test } from "node:test";
import assert from "node:assert/strict";
import { liveTensors, tensor, tidy } from "../../src/engine/index.js";
import * as portable from "../../src/portable/index.js";
import * as diffusion from "../../src/diffusion/schedule.js";
import { renoiseVariance as torchRenoiseVariance } from "../../src/diffusion/samplers/index.js";
import { assertClose, readFixture } from "../helpers/assert-close.js";

interface ScheduleReference {
  lambdaMin: number;
  lambdaMax: number;
  points: { t: number; logSnr: number; alpha: number; sigma: number }[];
  renoise: { a: number; b: number; variance: number }[];
}
const reference = readFixture<ScheduleReference>("schedule/schedule_reference.json");
const ts = reference.points.map((p) => p.t);

// ---- the closed form, from DESIGN.md section 4 -----------------------------------------------
const lambdaMin = -20;
const lambdaMax = 20;
const b = Math.atan(Math.exp(-lambdaMax / 2));
const a = Math.atan(Math.exp(-lambdaMin / 2)) - b;
const closedLogSnr = (t: number) => -2 * Math.log(Math.tan(a * t + b));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const closedAlpha = (t: number) => Math.sqrt(sigmoid(closedLogSnr(t)));
const closedSigma = (t: number) => Math.sqrt(sigmoid(-closedLogSnr(t)));

// Tolerance in float64: tan(a t + b) nears its pole as t -> 1 (a + b = pi/2 - 4.5e-5), so the last
// bit of a t + b moves lambda by ~1e-11 between libraries; 1e-9 leaves room and still catches any
// real change of the formula (e.g. lambda clipped at 19.99 instead of 20 is off by 1e-2).
const F64 = { atol: 1e-9, rtol: 1e-9 };

// Tolerance in float32 (the tensor forms on a float32 t): theta = a t + b is rounded to float32
// (relative 2^-24), and d lambda / d theta = -4 / sin(2 theta) ~ -2 / (pi/2 - theta) near the
// pole, so lambda carries ~2^-24 * 2 theta / (pi/2 - theta) of rounding: 1e-7 at t = 1/2, 4e-3 at
// t = 1. We allow 4 times that, plus 1e-5 for the rounding of tan, log and t itself.
function float32LogSnrTolerance(t: number): number {
  const theta = a * t + b;
  return 1e-5 + 4 * 2 ** -24 * ((2 * theta) / (Math.PI / 2 - theta));
}

test("the two references agree: the closed form (JS) and NumPy's values", () => {
  assert.deepEqual([reference.lambdaMin, reference.lambdaMax], [lambdaMin, lambdaMax]);
  assert.deepEqual(ts, [0, 1e-6, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-6, 1]);
  assertClose(ts.map(closedLogSnr), reference.points.map((p) => p.logSnr), { ...F64, what: "lambda" });
  assertClose(ts.map(closedAlpha), reference.points.map((p) => p.alpha), { ...F64, what: "alpha" });
  assertClose(ts.map(closedSigma), reference.points.map((p) => p.sigma), { ...F64, what: "sigma" });
});

for (const [where, schedule] of [
  ["src/portable", portable],
  ["src/diffusion (re-export)", diffusion],
] as const) {
  test(`${where} logSnr and alphaSigma: the closed form and NumPy's values to 1e-9`, () => {
    const got = ts.map((t) => schedule.alphaSigma(t));
    for (const [what, expected] of [
      ["closed form", ts.map((t) => ({ logSnr: closedLogSnr(t), alpha: closedAlpha(t), sigma: closedSigma(t) }))],
      ["NumPy", reference.points],
    ] as const) {
      assertClose(ts.map((t) => schedule.logSnr(t)), expected.map((p) => p.logSnr), { ...F64, what: `lambda vs ${what}` });
      assertClose(got.map((p) => p.logSnr), expected.map((p) => p.logSnr), { ...F64, what: `alphaSigma().logSnr vs ${what}` });
      assertClose(got.map((p) => p.alpha), expected.map((p) => p.alpha), { ...F64, what: `alpha vs ${what}` });
      assertClose(got.map((p) => p.sigma), expected.map((p) => p.sigma), { ...F64, what: `sigma vs ${what}` });
    }
  });

  test(`${where} ends: lambda(0) = 20, lambda(1) = -20; alpha^2 + sigma^2 = 1`, () => {
    assertClose([schedule.logSnr(0), schedule.logSnr(1)], [lambdaMax, lambdaMin], { atol: 1e-9, rtol: 0 });
    assert.deepEqual([schedule.LAMBDA_MIN, schedule.LAMBDA_MAX], [lambdaMin, lambdaMax]);
    for (const t of ts) {
      const { alpha, sigma } = schedule.alphaSigma(t);
      assertClose([alpha ** 2 + sigma ** 2], [1], { atol: 1e-12, rtol: 0, what: `alpha^2 + sigma^2 at t = ${t}` });
    }
  });
}

for (const dtype of ["float64", "float32"] as const) {
  test(`logSnrTensor and alphaSigmaTensor (${dtype}): NumPy's values, the ends, alpha^2 + sigma^2 = 1`, () => {
    const before = liveTensors();
    const { logSnr, alpha, sigma } = tidy(() => {
      const t = tensor(ts, { dtype });
      const lambda = diffusion.logSnrTensor(t);
      const pair = diffusion.alphaSigmaTensor(t);
      assert.deepEqual([lambda.dtype, pair.alpha.dtype, pair.sigma.dtype], [dtype, dtype, dtype]);
      return { logSnr: lambda.toNumbers(), alpha: pair.alpha.toNumbers(), sigma: pair.sigma.toNumbers() };
    });
    assert.equal(liveTensors(), before, "no tensor leaks");
    reference.points.forEach((p, i) => {
      // float32: the lambda tolerance above; alpha and sigma move by at most half of it, relatively
      // (d log alpha / d lambda = sigma^2 / 2, d log sigma / d lambda = -alpha^2 / 2)
      const lambdaTol = dtype === "float64" ? F64 : { atol: float32LogSnrTolerance(p.t), rtol: 0 };
      const pairTol = dtype === "float64" ? F64 : { atol: 0, rtol: float32LogSnrTolerance(p.t) / 2 + 1e-6 };
      assertClose([logSnr[i]], [p.logSnr], { ...lambdaTol, what: `lambda(${p.t})` });
      assertClose([alpha[i]], [p.alpha], { ...pairTol, what: `alpha(${p.t})` });
      assertClose([sigma[i]], [p.sigma], { ...pairTol, what: `sigma(${p.t})` });
      assertClose([alpha[i] ** 2 + sigma[i] ** 2], [1], { atol: dtype === "float64" ? 1e-12 : 1e-6, rtol: 0, what: `alpha^2 + sigma^2 at t = ${p.t}` });
    });
    const [first, last] = [0, ts.length - 1];
    assertClose([logSnr[first], logSnr[last]], [lambdaMax, lambdaMin], { atol: dtype === "float64" ? 1e-9 : float32LogSnrTolerance(1), rtol: 0, what: "lambda(0), lambda(1)" });
  });
}

test("timeGrid(N) is i/N from 1 down to 0; renoiseVariance is NumPy's (1 - exp(lambda_a - lambda_b)) sigma_a^2", () => {
  for (const timeGrid of [portable.timeGrid, diffusion.timeGrid]) {
    assert.deepEqual(timeGrid(8), [1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0]);
  }
  for (const renoiseVariance of [portable.renoiseVariance, torchRenoiseVariance]) {
    for (const r of reference.renoise) assertClose([renoiseVariance(r.a, r.b)], [r.variance], { ...F64, what: `renoiseVariance(${r.a}, ${r.b})` });
  }
});
