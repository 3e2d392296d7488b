// Classifier-free guidance (Ho & Salimans 2022) in the paper's convention (Meng et al. 2023, eq. 1),
// the portable twin of src/diffusion/guidance.ts, for exported models that do not take w:
//   x-hat^w(z, c) = (1 + w) x-hat(z, c) - w x-hat(z, null),  w >= 0;  w = 0 is the conditional model.
// A "guidance scale" s of other tools is 1 + w. x-hat is never clipped before combining.
import type { PortableCond, PortableDenoiser } from "./denoiser.js";

/** The null condition of a class-conditional model: every label becomes numClasses (w kept). */
export function nullClass(numClasses: number): (cond: PortableCond) => PortableCond {
  return (cond) => ({ ...cond, labels: new Int32Array(cond.labels.length).fill(numClasses) });
}

/**
 * The guided denoiser of `model` at weight w. Both predictions come from one batched call of 2n
 * examples: the condition, then the model's null condition `nullCond` (nullClass(K) for fewstep's
 * class models), every part of the record concatenated.
 */
export function guided(model: PortableDenoiser, w: number, nullCond: (cond: PortableCond) => PortableCond): PortableDenoiser {
  if (!(w >= 0)) throw new RangeError(`guidance weight w must be >= 0, got ${w}`);
  return async (z: Float32Array, t: Float32Array, cond: PortableCond): Promise<Float32Array> => {
    if (w === 0) return model(z, t, cond);
    const n = cond.labels.length;
    const zz = new Float32Array(2 * z.length);
    zz.set(z);
    zz.set(z, z.length);
    const tt = new Float32Array(2 * n);
    tt.set(t);
    tt.set(t, n);
    const both = await model(zz, tt, catCond(cond, nullCond(cond)));
    const out = new Float32Array(z.length);
    for (let i = 0; i < z.length; i++) out[i] = (1 + w) * both[i] - w * both[z.length + i];
    return out;
  };
}

function catCond(a: PortableCond, b: PortableCond): PortableCond {
  const join = <T extends Int32Array | Float32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  if (!a.w !== !b.w) throw new RangeError("guided: cond.w is in one branch but not the other");
  const labels = join(a.labels, b.labels, (k) => new Int32Array(k));
  return a.w && b.w ? { labels, w: join(a.w, b.w, (k) => new Float32Array(k)) } : { labels };
}

/** A model that takes w as an input, fed the batch's w (every example the same). */
export function withW(model: PortableDenoiser, w: number): PortableDenoiser {
  if (!(w >= 0)) throw new RangeError(`guidance weight w must be >= 0, got ${w}`);
  return (z, t, cond) => model(z, t, { labels: cond.labels, w: cond.w ?? new Float32Array(cond.labels.length).fill(w) });
}
