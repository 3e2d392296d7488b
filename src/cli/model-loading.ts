// Loading a trained checkpoint as something `fewstep sample` can walk: a Denoiser plus what the
// CLI must check (dimension, classes, null label, how guidance applies). A distilled student
// refuses a w outside its range, and a stage-two student a step count it was not distilled for.
import type { CondDenoiser } from "../diffusion/denoiser.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { checkDistilledFor, distillMetadata } from "../distill/metadata.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { modelFromCheckpoint } from "../io/load-model.js";
import { latentSpaceFor } from "../latent/latent-space.js";

export interface SamplingSource {
  model: CondDenoiser;
  /** Shape of one example: [D] (vectors) or [C, H, W] (images). */
  exampleShape: number[];
  numClasses: number;
  dtype: "float32" | "float64";
  /** "teacher": guidance combines two predictions; "input": the model takes w (distilled students). */
  guidance: "teacher" | "input";
  /** A latent model's way back to images (its samples are latents of exampleShape); absent for pixel models. */
  latent?: import("../latent/latent-space.js").LatentSpace;
  dispose(): void;
}

/**
 * A fewstep checkpoint (teacher or student) as a sampling source; EMA weights when present. A
 * latent model comes with its latent space (its recorded autoencoder, or `autoencoderPath`, checked by hash).
 */
export function loadModelForSampling(path: string, request: { w: number | number[]; steps: number | number[]; autoencoderPath?: string }): SamplingSource {
  const checkpoint = loadCheckpoint(path);
  let model;
  let latent;
  try {
    checkDistilledFor(distillMetadata(checkpoint.metadata), path, request, true);
    model = modelFromCheckpoint(path, checkpoint);
    try {
      latent = latentSpaceFor(checkpoint.metadata, path, { autoencoderPath: request.autoencoderPath }) ?? undefined;
    } catch (err) {
      model.dispose();
      throw err;
    }
  } finally {
    disposeCheckpoint(checkpoint);
  }
  const config = model.config;
  return {
    model: denoiserOf(model),
    exampleShape: model.exampleShape,
    numClasses: config.numClasses,
    dtype: "float32",
    guidance: config.wInput ? "input" : "teacher",
    ...(latent ? { latent } : {}),
    dispose: () => {
      latent?.dispose();
      model.dispose();
    },
  };
}
