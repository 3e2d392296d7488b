// Stage one of guided distillation (Meng et al. 2023, section 3.1, eq. 6): a student
// x-hat_eta(z_t, c, w) learns the guided teacher (1 + w) x-hat(z_t, c) - w x-hat(z_t, null) in one
// call, for every w in [wMin, wMax]:
//   x ~ data, t ~ U[0, 1], w ~ U[wMin, wMax] per example, z_t = alpha_t x + sigma_t eps,
//   loss = E[ max(SNR_t, 1) ||x-hat_eta(z_t, c, w) - x-hat^w_teacher(z_t, c)||^2 / D ]
// The student starts from the teacher's weights with a zero-initialised w path (so it starts as
// the conditional teacher); with the exact mixture teacher it starts from scratch.
// The single-w baseline fixes w (the paper's comparison).
import { noGrad, rand, randn, where, type Generator, type Tensor } from "../engine/index.js";
import type { Cond, CondDenoiser } from "../diffusion/denoiser.js";
import { perExample, type ConditionedDataset } from "../diffusion/dataset.js";
import { guided } from "../diffusion/guidance.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { alphaSigmaTensor, weightedXLoss, type LossWeighting } from "../diffusion/schedule.js";
import type { DenoiserModel } from "../nn/model.js";
import type { WRange } from "./metadata.js";

export type { WRange };

/**
 * Draws w ~ U[wMin, wMax] per example (a constant when wMin = wMax), on the generator's device.
 * With `edgeFraction` > 0, that fraction of the examples gets exactly wMin or wMax (half each):
 * a uniform draw sees the ends of the range from one side only, and the ends (w = 0, the
 * conditional model) are where students were measured worst (docs/RESULTS.md).
 */
export function sampleW(n: number, range: WRange, generator: Generator, edgeFraction = 0): Tensor {
  const w = rand([n], generator).mul(range.wMax - range.wMin).add(range.wMin);
  if (!(edgeFraction > 0) || range.wMax === range.wMin) return w;
  const u = rand([n], generator);
  return where(u.lt(edgeFraction / 2), range.wMin, where(u.gt(1 - edgeFraction / 2), range.wMax, w));
}

export interface StageOneLossOptions {
  /** The guided teacher's conditional denoiser (its nullCond gives the null branch). */
  teacher: CondDenoiser;
  /** Precision the teacher runs in (the exact mixture: float64). */
  teacherDType: "float32" | "float64";
  student: DenoiserModel;
  dataset: ConditionedDataset;
  range: WRange;
  batchSize: number;
  /** @default "truncated-snr" */
  weighting?: LossWeighting;
  /** Fraction of examples at exactly wMin or wMax (sampleW). @default 0 */
  wEdgeFraction?: number;
}

/**
 * A training batch both stages start from: x and its condition from the data, times from drawT,
 * noise, w ~ U[wMin, wMax], and z_t = alpha_t x + sigma_t eps, all on the data generator's device.
 * Draw order is fixed (data, t, eps, w), so a seed gives the same batches on every run.
 */
export function noisedBatch(dataset: ConditionedDataset, batchSize: number, range: WRange, generator: Generator, drawT: () => Tensor, edgeFraction = 0): { cond: Cond; t: Tensor; w: Tensor; z: Tensor } {
  const { x, cond } = dataset.draw(batchSize, generator);
  const xs = x.to("float32");
  const t = drawT();
  const eps = randn(xs.shape, generator);
  const w = sampleW(batchSize, range, generator, edgeFraction);
  const { alpha, sigma } = alphaSigmaTensor(t);
  const z = xs.mul(perExample(alpha, xs)).add(eps.mul(perExample(sigma, xs)));
  return { cond, t, w, z };
}

/** The loss of one stage-one batch (see the file header). */
export function stageOneLoss(o: StageOneLossOptions, generator: Generator): Tensor {
  const { cond, t, w, z } = noisedBatch(o.dataset, o.batchSize, o.range, generator, () => rand([o.batchSize], generator), o.wEdgeFraction);
  const dt = o.teacherDType;
  // the target: the guided teacher at the same z_t, with the example's own w (no gradient)
  const target = noGrad(() => guided(o.teacher, w.to(dt))(z.to(dt), t.to(dt), cond).to("float32"));
  return weightedXLoss(denoiserOf(o.student).denoiser(z, t, { ...cond, w }), target, t, o.weighting);
}
