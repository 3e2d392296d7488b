// One entry point over the samplers: pick a sampler by name, apply guidance, walk the grid.
// The CLI and the evaluation code call this; the samplers themselves stay one per file.
import { Generator, full, noGrad, type Tensor } from "../engine/index.js";
import type { Cond, CondDenoiser } from "./denoiser.js";
import { guided } from "./guidance.js";
import { sampleDdim, sampleDdpm, sampleStochastic, type StepCallback } from "./samplers/index.js";
import { timeGrid } from "./schedule.js";

export type SamplerName = "ddim" | "stochastic" | "ddpm";
export const SAMPLERS: readonly SamplerName[] = ["ddim", "stochastic", "ddpm"];

export interface GuidedSampleOptions {
  sampler: SamplerName;
  /** Model calls on the grid timeGrid(steps). */
  steps: number;
  /** A grid to walk instead of timeGrid(steps), e.g. one that starts at t_edit < 1. @default timeGrid(steps) */
  grid?: number[];
  /** Guidance weight (paper's convention; 0 = conditional). */
  w: number;
  /** How guidance is applied: "teacher" combines two predictions (2 calls per step); "input"
   *  passes w to a stage-one student as cond.w (1 call per step). @default "teacher" */
  guidance?: "teacher" | "input";
  /** The batch's condition (class labels, or a text record), without w. */
  cond: Cond;
  /** Seed of the noise that stochastic samplers add. @default 0 */
  seed?: number;
  clip?: [number, number];
  onStep?: StepCallback;
}

/**
 * Samples from noise z [n, ...] with the named sampler at guidance weight w. Runs under noGrad:
 * a sample is never differentiated, and with gradients on, every step's activations stay alive
 * in the autograd graph until the sample is freed (a teacher's DDIM-16 at n = 16 peaked at
 * 2.6 GB instead of 0.5 GB, growing with the step count).
 */
export function sampleGuided(model: CondDenoiser, z: Tensor, opts: GuidedSampleOptions): Tensor {
  return noGrad(() => runSampler(model, z, opts));
}

function runSampler(model: CondDenoiser, z: Tensor, opts: GuidedSampleOptions): Tensor {
  const mode = opts.guidance ?? "teacher";
  const denoiser = mode === "teacher" ? guided(model, opts.w) : model.denoiser;
  const cond: Cond = { ...opts.cond };
  let wTensor: Tensor | undefined;
  if (mode === "input") {
    wTensor = full([z.shape[0]], opts.w, { dtype: z.dtype, device: z.device });
    cond.w = wTensor;
  }
  const grid = opts.grid ?? timeGrid(opts.steps);
  const common = { cond, clip: opts.clip, generator: new Generator(opts.seed ?? 0), onStep: opts.onStep };
  try {
    switch (opts.sampler) {
      case "ddim":
        return sampleDdim(denoiser, z, grid, common);
      case "ddpm":
        return sampleDdpm(denoiser, z, grid, common);
      case "stochastic":
        return sampleStochastic(denoiser, z, grid, common);
      default:
        throw new RangeError(`unknown sampler '${String(opts.sampler)}'; one of ${SAMPLERS.join(", ")}`);
    }
  } finally {
    wTensor?.dispose();
  }
}
