// Loading a trained checkpoint as something `fewstep sample` can walk: a Denoiser plus what the
// CLI must check (dimension, classes, null label, how guidance applies). A distilled student
// refuses a w outside its range, and a stage-two student a step count it was not distilled for.
import { FewstepError } from "../engine/errors.js";
import type { Denoiser } from "../diffusion/denoiser.js";
import { distillMetadata } from "../distill/pipeline.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { modelFromCheckpoint } from "../io/load-model.js";

export interface SamplingSource {
  denoiser: Denoiser;
  /** Shape of one example: [D] (vectors) or [C, H, W] (images). */
  exampleShape: number[];
  numClasses: number;
  nullLabel: number;
  dtype: "float32" | "float64";
  /** "teacher": guidance combines two predictions; "input": the model takes w (distilled students). */
  guidance: "teacher" | "input";
  dispose(): void;
}

/** A fewstep checkpoint (teacher or student) as a sampling source; EMA weights when present. */
export function loadModelForSampling(path: string, request: { w: number | number[]; steps: number | number[] }): SamplingSource {
  const checkpoint = loadCheckpoint(path);
  let model;
  try {
    const distill = distillMetadata(checkpoint.metadata);
    if (distill) {
      const ws = Array.isArray(request.w) ? request.w : [request.w];
      const bad = ws.find((w) => w < distill.wMin - 1e-9 || w > distill.wMax + 1e-9);
      if (bad !== undefined) {
        throw new FewstepError(`--w ${bad}: ${path} was distilled for w in [${distill.wMin}, ${distill.wMax}]; pick a w in that range or distill with a wider range`);
      }
      const steps = Array.isArray(request.steps) ? request.steps : [request.steps];
      const wrong = steps.find((n) => distill.steps !== null && n !== distill.steps);
      if (wrong !== undefined) {
        throw new FewstepError(`--steps ${wrong}: ${path} was distilled for ${distill.steps} steps; use --steps ${distill.steps}, or the student-N${wrong} checkpoint of the same run`);
      }
    }
    model = modelFromCheckpoint(path, checkpoint);
  } finally {
    disposeCheckpoint(checkpoint);
  }
  const config = model.config;
  return {
    denoiser: model.denoiser,
    exampleShape: model.exampleShape,
    numClasses: config.numClasses,
    nullLabel: config.numClasses,
    dtype: "float32",
    guidance: config.wInput ? "input" : "teacher",
    dispose: () => model.dispose(),
  };
}
