// The stochastic N-step sampler of Meng et al. 2023, section 3.3, on the grid t_i = i / N, over
// Float32Array batches: the portable twin of src/diffusion/samplers/stochastic.ts.
// Each model call at time t makes a deterministic DDIM jump of twice the step, to b = t - 2/N,
// then re-noises one step back to a = t - 1/N with the forward process q(z_a | z_b):
//   z_a = (alpha_a / alpha_b) z_b + sqrt((1 - exp(lambda_a - lambda_b)) sigma_a^2) eps
// The last call (t = 1/N) is a deterministic DDIM step to 0. N model calls in all.
// eps comes from opts.noise, one fill of n * D numbers per re-noised step, in step order.
import { ddimStep } from "./ddim.js";
import { type PortableDenoiser, type PortableSampleOptions, gridIntervals, walk } from "./denoiser.js";
import { alphaSigma, timeGrid } from "./schedule.js";

/** Variance of z_a given z_b for a > b (a noisier): (1 - exp(lambda_a - lambda_b)) sigma_a^2. */
export function renoiseVariance(a: number, b: number): number {
  const sa = alphaSigma(a);
  const sb = alphaSigma(b);
  return -Math.expm1(sa.logSnr - sb.logSnr) * sa.sigma ** 2;
}

export async function sampleStochastic(model: PortableDenoiser, z: Float32Array, steps: number, opts: PortableSampleOptions): Promise<Float32Array> {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const noise = opts.noise;
  if (!noise) throw new RangeError("stochastic sampling draws noise: pass opts.noise (e.g. new NormalRng(seed, 1))");
  // each call at t = i/N ends at a = (i - 1)/N, the grid of timeGrid(N)
  return walk(model, z, gridIntervals(timeGrid(steps)), opts, (current, xHat, t, a, index) => {
    if (a === 0) return ddimStep(current, xHat, t, 0); // last step: deterministic
    const b = (steps - index - 2) / steps; // two grid steps below t
    const zB = ddimStep(current, xHat, t, b);
    const ratio = alphaSigma(a).alpha / alphaSigma(b).alpha;
    const std = Math.sqrt(renoiseVariance(a, b));
    const eps = new Float32Array(zB.length);
    noise.fill(eps);
    for (let i = 0; i < zB.length; i++) zB[i] = ratio * zB[i] + std * eps[i];
    return zB;
  });
}
