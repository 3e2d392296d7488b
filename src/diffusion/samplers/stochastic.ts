// The stochastic N-step sampler of Meng et al. 2023, section 3.3, on a given grid (the paper's
// t_i = i / N is timeGrid(N)). Each model call at grid time t_i makes a deterministic DDIM jump of
// two grid steps, to b = t_{i+2}, then re-noises one step back to a = t_{i+1} with q(z_a | z_b):
//   z_a = (alpha_a / alpha_b) z_b + sqrt((1 - exp(lambda_a - lambda_b)) sigma_a^2) eps
// The last call (a = 0) is a deterministic DDIM step to 0. One model call per interval.
import { randn, type Tensor } from "../../engine/index.js";
import type { Denoiser } from "../denoiser.js";
import { alphaSigma } from "../schedule.js";
import { renoiseVariance } from "../../portable/stochastic.js";
import { ddimStep } from "./ddim.js";
import { type SampleOptions, gridIntervals, requireGenerator, walk } from "./common.js";

// Variance of z_a given z_b, (1 - exp(lambda_a - lambda_b)) sigma_a^2: one scalar definition.
export { renoiseVariance };

/** Walks `grid` (decreasing, ending at 0, e.g. timeGrid(N)) from z with the paper's stochastic sampler. */
export function sampleStochastic(model: Denoiser, z: Tensor, grid: number[], opts: SampleOptions): Tensor {
  const generator = requireGenerator(opts, "stochastic");
  const intervals = gridIntervals(grid);
  if (grid[grid.length - 1] !== 0) throw new RangeError(`the stochastic sampler's grid must end at 0, got ${grid[grid.length - 1]}`);
  return walk(model, z, intervals, opts, (current, xHat, t, a, index) => {
    if (a === 0) return ddimStep(current, xHat, t, 0); // last step: deterministic
    const b = grid[index + 2]; // two grid steps below t
    const zB = ddimStep(current, xHat, t, b);
    const ratio = alphaSigma(a).alpha / alphaSigma(b).alpha;
    const std = Math.sqrt(renoiseVariance(a, b));
    return zB.mul(ratio).add(randn(z.shape, generator, { dtype: z.dtype, device: z.device }).mul(std));
  });
}
