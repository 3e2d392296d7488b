// Ancestral sampling (DDPM, Ho et al. 2020) in continuous time (Kingma et al. 2021, eq. 3-4 posterior).
// From t to s < t, with alpha_{t|s} = alpha_t / alpha_s and sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2:
//   q(z_s | z_t, x) = N( alpha_{t|s} sigma_s^2 / sigma_t^2 z_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x,
//                        sigma_{t|s}^2 sigma_s^2 / sigma_t^2 ),   sigma_{t|s}^2 / sigma_t^2 = 1 - exp(lambda_t - lambda_s)
// x-hat replaces x; the last step (s = 0) returns x-hat.
import { full, randn, tidy, type Tensor } from "../../engine/index.js";
import type { Denoiser } from "../denoiser.js";
import { alphaSigma } from "../schedule.js";
import { type SampleOptions, finishSample, requireGenerator, validateGrid } from "./common.js";

export function sampleDdpm(model: Denoiser, z: Tensor, grid: number[], opts: SampleOptions): Tensor {
  validateGrid(grid);
  const generator = requireGenerator(opts, "ddpm");
  const n = z.shape[0];
  let current = z.clone();
  for (let i = 0; i < grid.length - 1; i++) {
    const [t, s] = [grid[i], grid[i + 1]];
    const next = tidy(() => {
      const xHat = model(current, full([n], t, { dtype: z.dtype, device: z.device }), opts.cond);
      if (s === 0) return xHat;
      const at = alphaSigma(t);
      const as = alphaSigma(s);
      const ratio = -Math.expm1(at.logSnr - as.logSnr); // sigma_{t|s}^2 / sigma_t^2, accurate for close t, s
      const alphaTS = at.alpha / as.alpha;
      const mean = current.mul((alphaTS * as.sigma ** 2) / at.sigma ** 2).add(xHat.mul(as.alpha * ratio));
      const std = Math.sqrt(ratio) * as.sigma;
      return mean.add(randn(z.shape, generator, { dtype: z.dtype, device: z.device }).mul(std));
    });
    current.dispose();
    current = next;
    opts.onStep?.({ index: i, t, s, z: current });
  }
  return finishSample(current, opts);
}
