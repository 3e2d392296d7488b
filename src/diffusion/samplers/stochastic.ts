// The stochastic N-step sampler of Meng et al. 2023, section 3.3, on the grid t_i = i / N.
// Each model call at time t makes a deterministic DDIM jump of twice the step, to b = t - 2/N,
// then re-noises one step back to a = t - 1/N with the forward process q(z_a | z_b):
//   z_a = (alpha_a / alpha_b) z_b + sqrt((1 - exp(lambda_a - lambda_b)) sigma_a^2) eps
// The last call (t = 1/N) is a deterministic DDIM step to 0. N model calls in all.
import { randn, type Tensor } from "../../engine/index.js";
import type { Denoiser } from "../denoiser.js";
import { alphaSigma, timeGrid } from "../schedule.js";
import { renoiseVariance } from "../../portable/stochastic.js";
import { ddimStep } from "./ddim.js";
import { type SampleOptions, gridIntervals, requireGenerator, walk } from "./common.js";

// Variance of z_a given z_b, (1 - exp(lambda_a - lambda_b)) sigma_a^2: one scalar definition.
export { renoiseVariance };

export function sampleStochastic(model: Denoiser, z: Tensor, steps: number, opts: SampleOptions): Tensor {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const generator = requireGenerator(opts, "stochastic");
  // each call at t = i/N ends at a = (i - 1)/N, the grid of timeGrid(N)
  return walk(model, z, gridIntervals(timeGrid(steps)), opts, (current, xHat, t, a, index) => {
    if (a === 0) return ddimStep(current, xHat, t, 0); // last step: deterministic
    const b = (steps - index - 2) / steps; // two grid steps below t
    const zB = ddimStep(current, xHat, t, b);
    const ratio = alphaSigma(a).alpha / alphaSigma(b).alpha;
    const std = Math.sqrt(renoiseVariance(a, b));
    return zB.mul(ratio).add(randn(z.shape, generator, { dtype: z.dtype, device: z.device }).mul(std));
  });
}
