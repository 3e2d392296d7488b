// The teacher's objective: classifier-free guided diffusion training (Ho & Salimans 2022, alg. 1)
// in fewstep's continuous time (DESIGN.md section 4):
//   x, c ~ data,  t ~ U[0, 1],  eps ~ N(0, I),  z_t = alpha_t x + sigma_t eps,
//   c -> nullCond(c) with probability pUncond (any condition record: guidance.ts dropCond),
//   loss = mean_batch  weight(lambda_t) * ||x-hat(z_t, t, c) - x||^2 / D
// with weight = max(SNR, 1) by default ("truncated-snr", Salimans & Ho 2022, sec. 4).
// Draw order per batch, all from the data generator on its device: data, t, eps, dropout mask.
import { rand, randn, type Generator, type Tensor } from "../engine/index.js";
import type { DenoiserModel } from "../nn/model.js";
import { perExample, type ConditionedDataset } from "./dataset.js";
import { dropCond } from "./guidance.js";
import { denoiserOf } from "./parameterization.js";
import { alphaSigmaTensor, weightedXLoss, type LossWeighting } from "./schedule.js";

export interface TeacherLossOptions {
  model: DenoiserModel;
  dataset: ConditionedDataset;
  batchSize: number;
  /** Probability of replacing a condition by the model's null condition. */
  pUncond: number;
  weighting: LossWeighting;
}

/** The loss of one teacher batch (see the file header). */
export function teacherLoss(o: TeacherLossOptions, generator: Generator): Tensor {
  const { x, cond } = o.dataset.draw(o.batchSize, generator);
  const t = rand([o.batchSize], generator, { device: x.device });
  const eps = randn(x.shape, generator, { device: x.device });
  const { alpha, sigma } = alphaSigmaTensor(t);
  const z = x.mul(perExample(alpha, x)).add(eps.mul(perExample(sigma, x)));
  const xHat = denoiserOf(o.model).denoiser(z, t, dropCond(o.model, cond, o.pUncond, generator));
  return weightedXLoss(xHat, x, t, o.weighting);
}
