// Loading a trained checkpoint as something `fewstep sample` can walk: a Denoiser plus what the
// CLI must check (dimension, classes, null label, how guidance applies).
import { FewstepError } from "../engine/errors.js";
import type { Denoiser } from "../diffusion/denoiser.js";

export interface SamplingSource {
  denoiser: Denoiser;
  dim: number;
  numClasses: number;
  nullLabel: number;
  dtype: "float32" | "float64";
  guidance: "teacher" | "input";
  dispose(): void;
}

export function loadModelForSampling(path: string, _request: { w: number; steps: number }): SamplingSource {
  throw new FewstepError(`--model ${path}: loading trained checkpoints is not wired yet`);
}
