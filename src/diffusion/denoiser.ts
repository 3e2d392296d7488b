// The one interface every sampler walks: a denoiser maps (z_t, t, condition) to x-hat.
// Teachers, guided teachers (guidance.ts) and students are all Denoisers, so they share samplers.
import type { Tensor } from "../engine/index.js";
import type { Cond } from "../nn/condition.js";

export type { Cond };

/** z: [n, ...], t: [n] (float, in [0, 1]) -> x-hat with z's shape. */
export type Denoiser = (z: Tensor, t: Tensor, cond: Cond) => Tensor;

/**
 * A conditional denoiser: x-hat, and the condition that means "no prompt" for each example, which
 * the model defines (the null class, the empty text) while keeping the parts that are not the
 * prompt (w, an inpainting mask). Classifier-free guidance needs both (guidance.ts).
 */
export interface CondDenoiser {
  readonly denoiser: Denoiser;
  nullCond(cond: Cond): Cond;
}
