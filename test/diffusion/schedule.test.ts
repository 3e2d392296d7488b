// Schedule and parameterizations against their definitions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tensor, tidy } from "../../src/engine/index.js";
import { alphaSigma, alphaSigmaTensor, epsFromX, logSnr, logSnrTensor, lossWeight, timeGrid, vFromXEps, xFromEps, xFromV } from "../../src/diffusion/schedule.js";
import { MAX_SAMPLING_STEPS } from "../../src/portable/schedule.js";
import { assertClose } from "../helpers/assert-close.js";

test("cosine log-SNR runs from +20 at t=0 to -20 at t=1, decreasing; alpha^2 + sigma^2 = 1", () => {
  assertClose([logSnr(0), logSnr(1)], [20, -20], { atol: 1e-9 });
  // the unclipped cosine schedule alpha = cos(pi t / 2) has lambda(1/2) = 0: ours is symmetric too
  assertClose([logSnr(0.5)], [0], { atol: 1e-9 });
  let previous = Infinity;
  for (let i = 0; i <= 100; i++) {
    const { alpha, sigma, logSnr: l } = alphaSigma(i / 100);
    assert.ok(l < previous);
    previous = l;
    assertClose([alpha ** 2 + sigma ** 2], [1], { atol: 1e-12 });
    assertClose([Math.log(alpha ** 2 / sigma ** 2)], [l], { atol: 1e-9, rtol: 1e-9 });
  }
  // away from the clipped ends it is the cosine schedule: alpha ~ cos(pi t / 2)
  assertClose([alphaSigma(0.3).alpha], [Math.cos((Math.PI * 0.3) / 2)], { atol: 1e-4 });
});

test("tensor versions equal the number versions", () =>
  tidy(() => {
    const ts = [0, 0.1, 0.37, 0.5, 0.9, 1];
    const t = tensor(new Float64Array(ts));
    assertClose(logSnrTensor(t).toNumbers(), ts.map(logSnr), { atol: 1e-9 });
    const { alpha, sigma } = alphaSigmaTensor(t);
    assertClose(alpha.toNumbers(), ts.map((v) => alphaSigma(v).alpha), { rtol: 1e-12 });
    assertClose(sigma.toNumbers(), ts.map((v) => alphaSigma(v).sigma), { rtol: 1e-12 });
  }));

test("x, eps and v conversions round-trip", () =>
  tidy(() => {
    const { alpha, sigma } = alphaSigma(0.4);
    const x = tensor(new Float64Array([0.3, -1.2, 2]));
    const eps = tensor(new Float64Array([1.1, 0.4, -0.7]));
    const z = x.mul(alpha).add(eps.mul(sigma));
    assertClose(xFromEps(z, eps, alpha, sigma).toNumbers(), x.toNumbers(), { atol: 1e-12 });
    assertClose(epsFromX(z, x, alpha, sigma).toNumbers(), eps.toNumbers(), { atol: 1e-12 });
    const v = vFromXEps(x, eps, alpha, sigma);
    assertClose(xFromV(z, v, alpha, sigma).toNumbers(), x.toNumbers(), { atol: 1e-12 });
  }));

test("loss weights: max(SNR, 1), SNR + 1, constant", () =>
  tidy(() => {
    const l = tensor(new Float64Array([-3, 0, 2]));
    assertClose(lossWeight(l).toNumbers(), [1, 1, Math.exp(2)], { rtol: 1e-12 });
    assertClose(lossWeight(l, "snr+1").toNumbers(), [Math.exp(-3) + 1, 2, Math.exp(2) + 1], { rtol: 1e-12 });
    assert.deepEqual(lossWeight(l, "constant").toNumbers(), [1, 1, 1]);
  }));

test("timeGrid(N) is i/N from 1 down to 0", () => {
  assert.deepEqual(timeGrid(4), [1, 0.75, 0.5, 0.25, 0]);
  assert.throws(() => timeGrid(0), /steps must be an integer from 1 to/);
});

test("timeGrid refuses more than MAX_SAMPLING_STEPS before allocating a grid", () => {
  assert.equal(timeGrid(MAX_SAMPLING_STEPS).length, MAX_SAMPLING_STEPS + 1);
  assert.throws(() => timeGrid(1e9), /steps must be an integer from 1 to 1000000, got 1000000000/);
});
