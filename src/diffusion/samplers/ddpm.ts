// Ancestral sampling (DDPM, Ho et al. 2020) in continuous time (Kingma et al. 2021, eq. 3-4 posterior).
// From t to s < t, with alpha_{t|s} = alpha_t / alpha_s and sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2:
//   q(z_s | z_t, x) = N( alpha_{t|s} sigma_s^2 / sigma_t^2 z_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x,
//                        sigma_{t|s}^2 sigma_s^2 / sigma_t^2 ),   sigma_{t|s}^2 / sigma_t^2 = 1 - exp(lambda_t - lambda_s)
// x-hat replaces x; the last step (s = 0) returns x-hat.
import { randn, type Tensor } from "../../engine/index.js";
import type { Denoiser } from "../denoiser.js";
import { alphaSigma } from "../schedule.js";
import { type SampleOptions, gridIntervals, requireGenerator, walk } from "./common.js";

export function sampleDdpm(model: Denoiser, z: Tensor, grid: number[], opts: SampleOptions): Tensor {
  const generator = requireGenerator(opts, "ddpm");
  return walk(model, z, gridIntervals(grid), opts, (current, xHat, t, s) => {
    if (s === 0) return xHat.clone();
    const at = alphaSigma(t);
    const as = alphaSigma(s);
    const ratio = -Math.expm1(at.logSnr - as.logSnr); // sigma_{t|s}^2 / sigma_t^2, accurate for close t, s
    const alphaTS = at.alpha / as.alpha;
    const mean = current.mul((alphaTS * as.sigma ** 2) / at.sigma ** 2).add(xHat.mul(as.alpha * ratio));
    const std = Math.sqrt(ratio) * as.sigma;
    return mean.add(randn(z.shape, generator, { dtype: z.dtype, device: z.device }).mul(std));
  });
}
