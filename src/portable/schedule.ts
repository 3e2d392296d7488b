// The cosine log-SNR schedule in plain TypeScript (DESIGN.md section 4): the one definition of its
// scalar formulas, used by the portable samplers (which must not import the engine) and by
// src/diffusion/schedule.ts, which adds the tensor forms.
// t in [0, 1]: t = 0 is data, t = 1 is noise.
//   lambda(t) = -2 log tan(a t + b),  b = atan(exp(-lambdaMax / 2)),  a = atan(exp(-lambdaMin / 2)) - b
//   alpha^2 = sigmoid(lambda),  sigma^2 = sigmoid(-lambda),  z_t = alpha_t x + sigma_t eps

export const LAMBDA_MIN = -20;
export const LAMBDA_MAX = 20;
/** b and a of lambda(t) = -2 log tan(a t + b). */
export const COSINE_B = Math.atan(Math.exp(-LAMBDA_MAX / 2));
export const COSINE_A = Math.atan(Math.exp(-LAMBDA_MIN / 2)) - COSINE_B;

/** log-SNR lambda(t) for t in [0, 1]. */
export function logSnr(t: number): number {
  return -2 * Math.log(Math.tan(COSINE_A * t + COSINE_B));
}

/** alpha_t, sigma_t and lambda(t), computed from lambda so both stay accurate at the ends. */
export function alphaSigma(t: number): { alpha: number; sigma: number; logSnr: number } {
  const lambda = logSnr(t);
  return { alpha: Math.sqrt(sigmoid(lambda)), sigma: Math.sqrt(sigmoid(-lambda)), logSnr: lambda };
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * The most sampling steps fewstep takes: far beyond any sampler's use (DDIM-1024 is the reference)
 * and a grid of 8 MB, where 10^9 steps would exhaust the JavaScript heap before the first call.
 */
export const MAX_SAMPLING_STEPS = 1_000_000;

/** The sampling grid t_i = i / N, from t = 1 down to t = 0 (N + 1 points). */
export function timeGrid(steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_SAMPLING_STEPS) throw new RangeError(`steps must be an integer from 1 to ${MAX_SAMPLING_STEPS}, got ${steps}`);
  return Array.from({ length: steps + 1 }, (_, i) => (steps - i) / steps);
}
