// Metrics for vector data (DESIGN.md section 5): the mean per-sample distance to a reference
// map (the exact teacher's 1024-step DDIM from the same noise and labels), and the sliced
// Wasserstein-1 distance between two sample sets (distribution distance without pairing).
import { Generator, randn, tidy, type Tensor } from "../engine/index.js";

/** mean_i ||a_i - b_i||_2 for paired samples a, b of shape [n, D]. */
export function meanDistance(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new RangeError(`meanDistance: shapes [${a.shape}] and [${b.shape}] differ`);
  return tidy(() => a.to("float64").sub(b.to("float64")).norm(2, 1).mean().item());
}

/** W1 between two 1-D empirical distributions with equal counts: mean |sorted a - sorted b|. */
function wasserstein1d(a: Float64Array, b: Float64Array): number {
  a.sort();
  b.sort();
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i] - b[i]);
  return total / a.length;
}

/**
 * Sliced Wasserstein-1: the mean over random unit directions u of W1(u.a, u.b), for sample sets
 * a [n, D] and b [n, D] (equal n). Directions come from a seeded generator, so it is reproducible.
 * @default projections 256, seed 0
 */
export function slicedWasserstein(a: Tensor, b: Tensor, opts: { projections?: number; seed?: number } = {}): number {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new RangeError(`slicedWasserstein: needs equal shapes [n, D], got [${a.shape}] and [${b.shape}]`);
  }
  const projections = opts.projections ?? 256;
  const [pa, pb] = tidy(() => {
    const u = randn([a.shape[1], projections], new Generator(opts.seed ?? 0), { dtype: "float64" });
    const unit = u.div(u.norm(2, 0, true));
    // [projections, n] so each projection's values are contiguous
    return [a.to("float64").matmul(unit).transpose(0, 1).contiguous().data() as Float64Array, b.to("float64").matmul(unit).transpose(0, 1).contiguous().data() as Float64Array];
  });
  const n = a.shape[0];
  let total = 0;
  for (let p = 0; p < projections; p++) total += wasserstein1d(pa.subarray(p * n, (p + 1) * n), pb.subarray(p * n, (p + 1) * n));
  return total / projections;
}
