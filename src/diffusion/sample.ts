// One entry point over the samplers: pick a sampler by name, apply guidance, walk the grid.
// The CLI and the evaluation code call this; the samplers themselves stay one per file.
import { Generator, type Tensor } from "../engine/index.js";
import type { Cond, Denoiser } from "./denoiser.js";
import { guided } from "./guidance.js";
import { sampleDdim, sampleDdpm, sampleStochastic } from "./samplers/index.js";
import { timeGrid } from "./schedule.js";

export type SamplerName = "ddim" | "stochastic" | "ddpm";
export const SAMPLERS: readonly SamplerName[] = ["ddim", "stochastic", "ddpm"];

export interface GuidedSampleOptions {
  sampler: SamplerName;
  steps: number;
  /** Guidance weight (paper's convention; 0 = conditional). */
  w: number;
  /** How guidance is applied: "teacher" combines two predictions (2 calls per step); "input"
   *  passes w to a stage-one student as cond.w (1 call per step). @default "teacher" */
  guidance?: "teacher" | "input";
  nullLabel: number;
  labels: Tensor;
  /** Seed of the noise that stochastic samplers add. @default 0 */
  seed?: number;
  clip?: [number, number];
}

/** Samples from noise z [n, ...] with the named sampler at guidance weight w. */
export function sampleGuided(model: Denoiser, z: Tensor, opts: GuidedSampleOptions): Tensor {
  const mode = opts.guidance ?? "teacher";
  const denoiser = mode === "teacher" ? guided(model, opts.w, opts.nullLabel) : model;
  const cond: Cond = { labels: opts.labels };
  let wTensor: Tensor | undefined;
  if (mode === "input") {
    wTensor = opts.labels.to(z.dtype).mul(0).add(opts.w);
    cond.w = wTensor;
  }
  const common = { cond, clip: opts.clip, generator: new Generator(opts.seed ?? 0) };
  try {
    switch (opts.sampler) {
      case "ddim":
        return sampleDdim(denoiser, z, timeGrid(opts.steps), common);
      case "ddpm":
        return sampleDdpm(denoiser, z, timeGrid(opts.steps), common);
      case "stochastic":
        return sampleStochastic(denoiser, z, opts.steps, common);
      default:
        throw new RangeError(`unknown sampler '${String(opts.sampler)}'; one of ${SAMPLERS.join(", ")}`);
    }
  } finally {
    wTensor?.dispose();
  }
}
