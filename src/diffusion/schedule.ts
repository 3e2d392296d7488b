// Continuous-time cosine log-SNR schedule (Nichol & Dhariwal 2021; Salimans & Ho 2022, eq. in
// appendix), clipped to [lambdaMin, lambdaMax] = [-20, 20], as fewstep uses everywhere
// (DESIGN.md section 4). t in [0, 1]: t = 0 is data, t = 1 is noise.
//   lambda(t) = -2 log tan(a t + b),  b = atan(exp(-lambdaMax / 2)),  a = atan(exp(-lambdaMin / 2)) - b
//   alpha^2 = sigmoid(lambda),  sigma^2 = sigmoid(-lambda),  z_t = alpha_t x + sigma_t eps
import { onesLike, type Tensor } from "../engine/index.js";
import { COSINE_A as A, COSINE_B as B } from "../portable/schedule.js";

// The scalar forms live in the portable layer (plain TypeScript, also bundled for the browser).
export { LAMBDA_MAX, LAMBDA_MIN, alphaSigma, logSnr, timeGrid } from "../portable/schedule.js";

/** lambda(t) elementwise for a tensor of times. */
export function logSnrTensor(t: Tensor): Tensor {
  return t.mul(A).add(B).tan().log().mul(-2);
}

/** alpha_t and sigma_t elementwise for a tensor of times (same shape and dtype as t). */
export function alphaSigmaTensor(t: Tensor): { alpha: Tensor; sigma: Tensor } {
  const lambda = logSnrTensor(t);
  const alpha = lambda.sigmoid().sqrt();
  const sigma = lambda.neg().sigmoid().sqrt();
  lambda.dispose();
  return { alpha, sigma };
}

// ---- parameterizations: x (data), eps (noise), v = alpha eps - sigma x -------------------------

/** x-hat from an eps prediction: x = (z - sigma eps) / alpha. */
export function xFromEps(z: Tensor, eps: Tensor, alpha: Tensor | number, sigma: Tensor | number): Tensor {
  return z.sub(eps.mul(sigma)).div(alpha);
}
/** eps-hat from an x prediction: eps = (z - alpha x) / sigma. */
export function epsFromX(z: Tensor, x: Tensor, alpha: Tensor | number, sigma: Tensor | number): Tensor {
  return z.sub(x.mul(alpha)).div(sigma);
}
/** x-hat from a v prediction: x = alpha z - sigma v. */
export function xFromV(z: Tensor, v: Tensor, alpha: Tensor | number, sigma: Tensor | number): Tensor {
  return z.mul(alpha).sub(v.mul(sigma));
}
/** v from x and eps: v = alpha eps - sigma x. */
export function vFromXEps(x: Tensor, eps: Tensor, alpha: Tensor | number, sigma: Tensor | number): Tensor {
  return eps.mul(alpha).sub(x.mul(sigma));
}

// ---- loss weights in x-space -------------------------------------------------------------------

/**
 * Weight of the x-space squared error at log-SNR lambda:
 * "truncated-snr" max(SNR, 1) (default: stable for distillation), "snr+1" (the v-loss), "constant".
 */
export type LossWeighting = "truncated-snr" | "snr+1" | "constant";
export const LOSS_WEIGHTINGS: readonly LossWeighting[] = ["truncated-snr", "snr+1", "constant"];

export function lossWeight(logSnrValue: Tensor, weighting: LossWeighting = "truncated-snr"): Tensor {
  switch (weighting) {
    case "truncated-snr":
      return logSnrValue.exp().clamp(1, null);
    case "snr+1":
      return logSnrValue.exp().add(1);
    case "constant":
      return onesLike(logSnrValue);
  }
}

/** mean over the batch of lossWeight(lambda_t) ||prediction - target||^2 / D (x-space; D = numbers per example). */
export function weightedXLoss(prediction: Tensor, target: Tensor, t: Tensor, weighting?: LossWeighting): Tensor {
  return prediction.sub(target).square().reshape([prediction.shape[0], -1]).mean(1).mul(lossWeight(logSnrTensor(t), weighting)).mean();
}
