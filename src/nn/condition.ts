// What a conditional network is conditioned on: one record per batch, its parts defined by the
// model (DESIGN.md section 10). Every part is per example (first dim n), so guidance can batch a
// conditional and a null record (catCond) and split the result, whatever the record holds.
import { cat, ShapeError, type Tensor } from "../engine/index.js";

/**
 * The condition of a batch of n examples. Which parts a model reads is the model's (a class model
 * reads `labels`; a text model `context`, `contextMask`, `pooled`; a mask-conditioned U-Net `image`).
 * The model's `nullCond` says what "no prompt" is for each; parts that are not the prompt (`w`,
 * `image`) stay as they are in the null branch of guidance.
 */
export interface Cond {
  /** int64 class labels [n]; the model's null label (numClasses) means "no class". */
  labels?: Tensor;
  /** Text context [n, L, d] (cross-attention keys and values). */
  context?: Tensor;
  /** [n, L]: 1 for a real token, 0 for padding. */
  contextMask?: Tensor;
  /** A pooled text vector [n, d] (added to the time embedding). */
  pooled?: Tensor;
  /** Extra input channels [n, k, H, W] concatenated to z (an inpainting mask and the masked image). */
  image?: Tensor;
  /** The guidance weight per example [n] (distilled students). */
  w?: Tensor;
}

export const COND_PARTS = ["labels", "context", "contextMask", "pooled", "image", "w"] as const satisfies readonly (keyof Cond)[];

/** Every part of `a` and `b` concatenated along the batch dim; both must hold the same parts. */
export function catCond(a: Cond, b: Cond): Cond {
  const out: Cond = {};
  for (const part of COND_PARTS) {
    const x = a[part];
    const y = b[part];
    if (!x && !y) continue;
    if (!x || !y) throw new ShapeError(`catCond: cond.${part} is in one record but not the other`);
    out[part] = cat([x, y]);
  }
  return out;
}
