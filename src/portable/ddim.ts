// DDIM, deterministic (Song et al. 2021, eq. 12; Meng et al. 2023, eq. 2), in continuous time,
// over Float32Array batches: the portable twin of src/diffusion/samplers/ddim.ts.
// Notation: alphaT, sigmaT = alpha_t, sigma_t; alphaS, sigmaS = alpha_s, sigma_s (s < t); xHat = x-hat(z_t).
//   z_s = alpha_s x-hat + sigma_s (z_t - alpha_t x-hat) / sigma_t
// The last step (s = 0) returns x-hat itself. Coefficients in float64, results stored in float32.
import { type PortableDenoiser, type PortableSampleOptions, gridIntervals, walk } from "./denoiser.js";
import { alphaSigma } from "./schedule.js";

/** One DDIM jump from time t to time s < t, given x-hat at t; a jump to s = 0 gives x-hat itself. */
export function ddimStep(z: Float32Array, xHat: Float32Array, t: number, s: number): Float32Array {
  if (s === 0) return xHat.slice();
  const { alpha: alphaT, sigma: sigmaT } = alphaSigma(t);
  const { alpha: alphaS, sigma: sigmaS } = alphaSigma(s);
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) {
    const epsHat = (z[i] - alphaT * xHat[i]) / sigmaT;
    out[i] = alphaS * xHat[i] + sigmaS * epsHat;
  }
  return out;
}

/** Walks `grid` (decreasing times, e.g. timeGrid(N)) from noise z with deterministic DDIM: one model call per interval. */
export async function sampleDdim(model: PortableDenoiser, z: Float32Array, grid: number[], opts: PortableSampleOptions): Promise<Float32Array> {
  return walk(model, z, gridIntervals(grid), opts, (current, xHat, t, s) => ddimStep(current, xHat, t, s));
}
