// Stage two (Meng et al. 2023, section 3.1; progressive distillation, Salimans & Ho 2022, alg. 2):
// a student with N steps learns to match two DDIM steps of its teacher (2N steps), at the same w.
// Times on the student's grid: t = i/N (i = 1..N), t' = t - 1/(2N), t'' = t - 1/N.
//   z_t' = DDIM(z_t -> t', x-hat_T(z_t, c, w)),  z_t'' = DDIM(z_t' -> t'', x-hat_T(z_t', c, w))
//   x~ = (z_t'' - (sigma_t''/sigma_t) z_t) / (alpha_t'' - (sigma_t''/sigma_t) alpha_t)
// so that one DDIM step of the student from t lands on z_t''. When t'' = 0 the target is z_t''
// itself, the teacher's x-hat at t'. The teacher is w-conditioned (a stage-one or earlier stage-two
// student): guidance is never applied a second time. The student starts from the teacher's
// weights with a fresh optimizer each halving (distill/loop.ts).
import { noGrad, randint, tidy, where, type Generator, type Tensor } from "../engine/index.js";
import type { Cond, Denoiser } from "../diffusion/denoiser.js";
import type { ConditionedDataset } from "../diffusion/dataset.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { ddimStep } from "../diffusion/samplers/ddim.js";
import { alphaSigmaTensor, weightedXLoss, type LossWeighting } from "../diffusion/schedule.js";
import type { DenoiserModel } from "../nn/model.js";
import { noisedBatch, type WRange } from "./stage-one.js";

/** The stage-two target x~ for a student of `steps` steps at per-example times t [n] (on its grid). */
export function stageTwoTarget(teacher: Denoiser, z: Tensor, t: Tensor, steps: number, cond: Cond): Tensor {
  return tidy(() =>
    noGrad(() => {
      const t1 = t.sub(0.5 / steps);
      const t2 = t.sub(1 / steps).clamp(0, null); // exact 0 on the last step despite rounding
      const z1 = ddimStep(z, teacher(z, t, cond), t, t1);
      const z2 = ddimStep(z1, teacher(z1, t1, cond), t1, t2);
      const column = (v: Tensor) => v.reshape([v.shape[0], ...z.shape.slice(1).map(() => 1)]);
      const { alpha: alphaT, sigma: sigmaT } = alphaSigmaTensor(column(t));
      const { alpha: alpha2, sigma: sigma2 } = alphaSigmaTensor(column(t2));
      const ratio = sigma2.div(sigmaT);
      const xTilde = z2.sub(ratio.mul(z)).div(alpha2.sub(ratio.mul(alphaT)));
      return where(column(t2).eq(0), z2, xTilde);
    }),
  );
}

export interface StageTwoLossOptions {
  teacher: Denoiser;
  student: DenoiserModel;
  /** The student's number of steps N (the teacher has 2N). */
  steps: number;
  dataset: ConditionedDataset;
  range: WRange;
  batchSize: number;
  /** @default "truncated-snr" */
  weighting?: LossWeighting;
  /** Fraction of examples at exactly wMin or wMax (stage-one.ts sampleW). @default 0 */
  wEdgeFraction?: number;
}

/** The loss of one stage-two batch: x ~ data, i ~ U{1..N}, t = i/N, w ~ U[wMin, wMax]. */
export function stageTwoLoss(o: StageTwoLossOptions, generator: Generator): Tensor {
  const drawT = () => randint(1, o.steps + 1, [o.batchSize], generator).to("float32").div(o.steps);
  const batch = noisedBatch(o.dataset, o.batchSize, o.range, generator, drawT, o.wEdgeFraction);
  const { t, z } = batch;
  const cond = { ...batch.cond, w: batch.w };
  return weightedXLoss(denoiserOf(o.student).denoiser(z, t, cond), stageTwoTarget(o.teacher, z, t, o.steps, cond), t, o.weighting);
}
