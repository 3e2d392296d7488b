// The one interface every sampler walks: a denoiser maps (z_t, t, condition) to x-hat.
// Teachers, guided teachers (guidance.ts) and students are all Denoisers, so they share samplers.
import type { Tensor } from "../engine/index.js";

/**
 * The condition of a batch: int64 class labels [n] (the value `nullLabel` of the model means
 * "no class", used for the unconditional prediction) and, for students of stage one, the
 * guidance weight w per example [n].
 */
export interface Cond {
  labels: Tensor;
  w?: Tensor;
}

/** z: [n, ...], t: [n] (float, in [0, 1]) -> x-hat with z's shape. */
export type Denoiser = (z: Tensor, t: Tensor, cond: Cond) => Tensor;
