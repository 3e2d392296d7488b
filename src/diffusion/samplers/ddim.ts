// DDIM, deterministic (Song et al. 2021, eq. 12; Meng et al. 2023, eq. 2), in continuous time.
// Notation: alphaT, sigmaT = alpha_t, sigma_t; alphaS, sigmaS = alpha_s, sigma_s (s < t); xHat = x-hat(z_t).
//   z_s = alpha_s x-hat + sigma_s (z_t - alpha_t x-hat) / sigma_t
// The last step (s = 0) returns x-hat itself. ddimStep also serves the stage-two target.
import { full, tidy, where, type Tensor } from "../../engine/index.js";
import type { Denoiser } from "../denoiser.js";
import { alphaSigma, alphaSigmaTensor } from "../schedule.js";
import { type SampleOptions, gridIntervals, walk } from "./common.js";

/**
 * One DDIM jump from time t to time s < t, given x-hat at t. t and s are numbers (one time for the
 * batch) or per-example tensors [n] (stage two's targets); a jump to s = 0 gives x-hat itself.
 */
export function ddimStep(z: Tensor, xHat: Tensor, t: number | Tensor, s: number | Tensor): Tensor {
  if (typeof t === "number" && typeof s === "number") {
    if (s === 0) return xHat.clone();
    const { alpha: alphaT, sigma: sigmaT } = alphaSigma(t);
    const { alpha: alphaS, sigma: sigmaS } = alphaSigma(s);
    return tidy(() => {
      const epsHat = z.sub(xHat.mul(alphaT)).div(sigmaT);
      return xHat.mul(alphaS).add(epsHat.mul(sigmaS));
    });
  }
  return tidy(() => {
    const column = (v: number | Tensor) => (typeof v === "number" ? full([z.shape[0]], v, { dtype: z.dtype, device: z.device }) : v.to(z.dtype)).reshape([z.shape[0], ...z.shape.slice(1).map(() => 1)]);
    const [tc, sc] = [column(t), column(s)];
    const { alpha: alphaT, sigma: sigmaT } = alphaSigmaTensor(tc);
    const { alpha: alphaS, sigma: sigmaS } = alphaSigmaTensor(sc);
    const epsHat = z.sub(xHat.mul(alphaT)).div(sigmaT);
    return where(sc.eq(0), xHat, xHat.mul(alphaS).add(epsHat.mul(sigmaS)));
  });
}

/** Walks `grid` (decreasing times, e.g. timeGrid(N)) from noise z with deterministic DDIM: one model call per interval. */
export function sampleDdim(model: Denoiser, z: Tensor, grid: number[], opts: SampleOptions): Tensor {
  return walk(model, z, gridIntervals(grid), opts, (current, xHat, t, s) => ddimStep(current, xHat, t, s));
}
