// The closed form behind test/fixtures/onnx/gauss-vec*.onnx (see make_fixtures.py), restated in
// TypeScript: x-hat of N(mu_c, s^2 I) data, guided with cond.w when given.
import { type PortableDenoiser, alphaSigma } from "../../src/portable/index.js";

/** make_fixtures.py's VEC_MEANS: class 0, class 1, null. */
export const VEC_MEANS = [
  [1.0, -0.5, 0.25],
  [-1.0, 0.75, 0.5],
  [0.0, 0.125, -0.25],
];
export const VEC_S = 0.5;

export const gaussianVecDenoiser: PortableDenoiser = async (z, t, cond) => {
  const d = 3;
  const xhat = (c: number, i: number, j: number) => {
    const { alpha, sigma } = alphaSigma(t[i]);
    const g = (alpha * VEC_S * VEC_S) / (alpha * alpha * VEC_S * VEC_S + sigma * sigma);
    return VEC_MEANS[c][j] + g * (z[i * d + j] - alpha * VEC_MEANS[c][j]);
  };
  return Float32Array.from(z, (_, k) => {
    const [i, j] = [Math.floor(k / d), k % d];
    const x = xhat(cond.labels[i], i, j);
    const w = cond.w?.[i];
    return w === undefined ? x : (1 + w) * x - w * xhat(2, i, j);
  });
};
