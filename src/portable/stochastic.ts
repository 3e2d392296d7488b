// The stochastic N-step sampler of Meng et al. 2023, section 3.3, on a given grid (the paper's
// t_i = i / N is timeGrid(N)), over Float32Array batches: the portable twin of
// src/diffusion/samplers/stochastic.ts. Each model call at grid time t_i makes a deterministic DDIM
// jump of two grid steps, to b = t_{i+2}, then re-noises one step back to a = t_{i+1}:
//   z_a = (alpha_a / alpha_b) z_b + sqrt((1 - exp(lambda_a - lambda_b)) sigma_a^2) eps
// The last call (a = 0) is a deterministic DDIM step to 0. One model call per interval.
// eps comes from opts.noise, one fill of n * D numbers per re-noised step, in step order.
import { ddimStep } from "./ddim.js";
import { type PortableDenoiser, type PortableSampleOptions, gridIntervals, walk } from "./denoiser.js";
import { alphaSigma } from "./schedule.js";

/** Variance of z_a given z_b for a > b (a noisier): (1 - exp(lambda_a - lambda_b)) sigma_a^2. */
export function renoiseVariance(a: number, b: number): number {
  const sa = alphaSigma(a);
  const sb = alphaSigma(b);
  return -Math.expm1(sa.logSnr - sb.logSnr) * sa.sigma ** 2;
}

/** Walks `grid` (decreasing, ending at 0, e.g. timeGrid(N)) from z with the paper's stochastic sampler. */
export async function sampleStochastic(model: PortableDenoiser, z: Float32Array, grid: number[], opts: PortableSampleOptions): Promise<Float32Array> {
  const noise = opts.noise;
  if (!noise) throw new RangeError("stochastic sampling draws noise: pass opts.noise (e.g. new NormalRng(seed, 1))");
  const intervals = gridIntervals(grid);
  if (grid[grid.length - 1] !== 0) throw new RangeError(`the stochastic sampler's grid must end at 0, got ${grid[grid.length - 1]}`);
  return walk(model, z, intervals, opts, (current, xHat, t, a, index) => {
    if (a === 0) return ddimStep(current, xHat, t, 0); // last step: deterministic
    const b = grid[index + 2]; // two grid steps below t
    const zB = ddimStep(current, xHat, t, b);
    const ratio = alphaSigma(a).alpha / alphaSigma(b).alpha;
    const std = Math.sqrt(renoiseVariance(a, b));
    const eps = new Float32Array(zB.length);
    noise.fill(eps);
    for (let i = 0; i < zB.length; i++) zB[i] = ratio * zB[i] + std * eps[i];
    return zB;
  });
}
