// Classifier-free guidance (Ho & Salimans 2022) in the paper's convention (Meng et al. 2023, eq. 1):
//   x-hat^w(z, c) = (1 + w) x-hat(z, c) - w x-hat(z, null),  w >= 0;  w = 0 is the conditional model.
// A "guidance scale" s of other tools is 1 + w. x-hat is never clipped before combining.
import { cat, full, rand, tensor, tidy, where, type Generator, type Tensor } from "../engine/index.js";
import type { Cond, Denoiser } from "./denoiser.js";

/** w as a column that broadcasts over an example's dims: number, or a per-example tensor [n]. */
function wColumn(w: number | Tensor, like: Tensor): number | Tensor {
  if (typeof w === "number") return w;
  return w.to(like.dtype).reshape([w.shape[0], ...like.shape.slice(1).map(() => 1)]);
}

/**
 * The guided denoiser of `model` at guidance weight w (a number, or one per example [n]).
 * Both predictions come from one batched call of 2n examples: conditional, then null labels.
 * @param nullLabel the label that means "no class" (the number of classes, by fewstep's convention)
 */
export function guided(model: Denoiser, w: number | Tensor, nullLabel: number): Denoiser {
  if (typeof w === "number" && !(w >= 0)) throw new RangeError(`guidance weight w must be >= 0, got ${w}`);
  return (z: Tensor, t: Tensor, cond: Cond): Tensor =>
    tidy(() => {
      if (typeof w === "number" && w === 0) return model(z, t, cond);
      const n = z.shape[0];
      const nullLabels = full([n], nullLabel, { dtype: "int64", device: z.device });
      const both = model(cat([z, z]), cat([t, t]), { labels: cat([cond.labels, nullLabels]) });
      const [xCond, xUncond] = both.split(n, 0);
      const wc = wColumn(w, z);
      return xCond.mul(typeof wc === "number" ? 1 + wc : wc.add(1)).sub(xUncond.mul(wc));
    });
}

/**
 * Condition dropout for teacher training: each label becomes `nullLabel` with probability p,
 * so one network learns both the conditional and the unconditional model.
 */
export function dropLabels(labels: Tensor, p: number, nullLabel: number, generator: Generator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`condition dropout p must be in [0, 1], got ${p}`);
  return tidy(() => {
    const drop = rand([labels.shape[0]], generator).lt(p);
    return where(drop, tensor([nullLabel], { dtype: "int64" }), labels);
  });
}
