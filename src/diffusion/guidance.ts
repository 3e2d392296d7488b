// Classifier-free guidance (Ho & Salimans 2022) in the paper's convention (Meng et al. 2023, eq. 1):
//   x-hat^w(z, c) = (1 + w) x-hat(z, c) - w x-hat(z, null),  w >= 0;  w = 0 is the conditional model.
// A "guidance scale" s of other tools is 1 + w. x-hat is never clipped before combining.
// "null" is the model's own null condition (nullCond): the null class or the empty prompt, with the
// parts that are not the prompt (w, an inpainting mask and masked image) kept in both branches.
import { cat, rand, tidy, where, type Generator, type Tensor } from "../engine/index.js";
import { catCond, COND_PARTS, type Cond } from "../nn/condition.js";
import type { CondDenoiser, Denoiser } from "./denoiser.js";

/** w as a column that broadcasts over an example's dims: number, or a per-example tensor [n]. */
function wColumn(w: number | Tensor, like: Tensor): number | Tensor {
  if (typeof w === "number") return w;
  return w.to(like.dtype).reshape([w.shape[0], ...like.shape.slice(1).map(() => 1)]);
}

/**
 * The guided denoiser of `model` at guidance weight w (a number, or one per example [n]).
 * Both predictions come from one batched call of 2n examples: the condition, then its null.
 */
export function guided(model: CondDenoiser, w: number | Tensor): Denoiser {
  if (typeof w === "number" && !(w >= 0)) throw new RangeError(`guidance weight w must be >= 0, got ${w}`);
  return (z: Tensor, t: Tensor, cond: Cond): Tensor =>
    tidy(() => {
      if (typeof w === "number" && w === 0) return model.denoiser(z, t, cond);
      const n = z.shape[0];
      const both = model.denoiser(cat([z, z]), cat([t, t]), catCond(cond, model.nullCond(cond)));
      const [xCond, xUncond] = both.split(n, 0);
      const wc = wColumn(w, z);
      return xCond.mul(typeof wc === "number" ? 1 + wc : wc.add(1)).sub(xUncond.mul(wc));
    });
}

/**
 * Condition dropout for teacher training: each example's condition becomes the model's null
 * condition with probability p (one mask [n] drawn from `generator` on its device), so one network
 * learns both the conditional and the unconditional model. Any condition record: every part that
 * nullCond changes is replaced where the mask is set; the others are kept.
 */
export function dropCond(model: Pick<CondDenoiser, "nullCond">, cond: Cond, p: number, generator: Generator): Cond {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`condition dropout p must be in [0, 1], got ${p}`);
  const first = COND_PARTS.map((part) => cond[part]).find((x) => x !== undefined);
  if (!first) throw new RangeError("dropCond: the condition is empty");
  const n = first.shape[0];
  const drop = rand([n], generator, { device: first.device }).lt(p);
  const nullCond = model.nullCond(cond);
  const out: Cond = { ...cond };
  for (const part of COND_PARTS) {
    const given = cond[part];
    const replacement = nullCond[part];
    if (!given || !replacement || replacement === given) continue;
    const mask = drop.reshape([n, ...given.shape.slice(1).map(() => 1)]);
    out[part] = where(mask, replacement, given);
  }
  return out;
}
