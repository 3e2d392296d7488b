// Stage one of guided distillation (Meng et al. 2023, section 3.1, eq. 6): a student
// x-hat_eta(z_t, c, w) learns the guided teacher (1 + w) x-hat(z_t, c) - w x-hat(z_t, null) in one
// call, for every w in [wMin, wMax]:
//   x ~ data, t ~ U[0, 1], w ~ U[wMin, wMax] per example, z_t = alpha_t x + sigma_t eps,
//   loss = E[ max(SNR_t, 1) ||x-hat_eta(z_t, c, w) - x-hat^w_teacher(z_t, c)||^2 / D ]
// The student starts from the teacher's weights with a zero-initialised w path (so it starts as
// the conditional teacher); with the exact mixture teacher it starts from scratch.
// The single-w baseline fixes w (the paper's comparison).
import { noGrad, rand, randn, type Generator, type Tensor } from "../engine/index.js";
import type { Denoiser } from "../diffusion/denoiser.js";
import { perExample, type LabeledDataset } from "../diffusion/dataset.js";
import { guided } from "../diffusion/guidance.js";
import { alphaSigmaTensor, weightedXLoss, type LossWeighting } from "../diffusion/schedule.js";
import type { DenoiserModel } from "../nn/model.js";

/** The guidance weights of a student: a range [wMin, wMax], or one fixed w (single-w baseline). */
export interface WRange {
  wMin: number;
  wMax: number;
}

/** Draws w ~ U[wMin, wMax] per example (a constant when wMin = wMax). */
export function sampleW(n: number, range: WRange, generator: Generator): Tensor {
  return rand([n], generator).mul(range.wMax - range.wMin).add(range.wMin);
}

export interface StageOneLossOptions {
  teacher: Denoiser;
  /** Precision the teacher runs in (the exact mixture: float64). */
  teacherDType: "float32" | "float64";
  nullLabel: number;
  student: DenoiserModel;
  dataset: LabeledDataset;
  range: WRange;
  batchSize: number;
  /** @default "truncated-snr" */
  weighting?: LossWeighting;
}

/**
 * A training batch both stages start from: x and labels from the data, times from drawT, noise,
 * w ~ U[wMin, wMax], and z_t = alpha_t x + sigma_t eps. Draw order is fixed (data, t, eps, w),
 * so a seed gives the same batches on every run.
 */
export function noisedBatch(dataset: LabeledDataset, batchSize: number, range: WRange, generator: Generator, drawT: () => Tensor) {
  const { x, labels } = dataset.sample(batchSize, generator);
  const xs = x.to("float32");
  const t = drawT();
  const eps = randn(xs.shape, generator);
  const w = sampleW(batchSize, range, generator);
  const { alpha, sigma } = alphaSigmaTensor(t);
  const z = xs.mul(perExample(alpha, xs)).add(eps.mul(perExample(sigma, xs)));
  return { labels, t, w, z };
}

/** The loss of one stage-one batch (see the file header). */
export function stageOneLoss(o: StageOneLossOptions, generator: Generator): Tensor {
  const { labels, t, w, z } = noisedBatch(o.dataset, o.batchSize, o.range, generator, () => rand([o.batchSize], generator));
  const dt = o.teacherDType;
  // the target: the guided teacher at the same z_t, with the example's own w (no gradient)
  const target = noGrad(() => guided(o.teacher, w.to(dt), o.nullLabel)(z.to(dt), t.to(dt), { labels }).to("float32"));
  return weightedXLoss(o.student.forward(z, t, { labels, w }), target, t, o.weighting);
}
