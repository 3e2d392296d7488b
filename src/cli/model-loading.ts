// Loading a trained checkpoint as something `fewstep sample` can walk: a Denoiser plus what the
// CLI must check (dimension, classes, null label, how guidance applies).
import type { Denoiser } from "../diffusion/denoiser.js";
import { loadMlpDenoiser } from "../io/load-mlp-denoiser.js";

export interface SamplingSource {
  denoiser: Denoiser;
  dim: number;
  numClasses: number;
  nullLabel: number;
  dtype: "float32" | "float64";
  /** "teacher": guidance combines two predictions; "input": the model takes w (stage-one students). */
  guidance: "teacher" | "input";
  dispose(): void;
}

/** A checkpoint written by fewstep (teacher or student) as a sampling source; EMA weights when present. */
export function loadModelForSampling(path: string, _request: { w: number; steps: number }): SamplingSource {
  const model = loadMlpDenoiser(path);
  const config = model.config;
  return {
    denoiser: model.denoiser,
    dim: config.dim,
    numClasses: config.numClasses,
    nullLabel: config.numClasses,
    dtype: "float32",
    guidance: config.wInput ? "input" : "teacher",
    dispose: () => model.dispose(),
  };
}
