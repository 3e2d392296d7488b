// What every sampler shares: options, grid checks and the final clip.
import { full, tidy, type Generator, type Tensor } from "../../engine/index.js";
import type { Cond, Denoiser } from "../denoiser.js";

// The grid check and its (t, s) pairs are the portable layer's (plain TypeScript).
export { gridIntervals } from "../../portable/denoiser.js";

/** Called after each model call with the new state at time s. */
export type StepCallback = (info: { index: number; t: number; s: number; z: Tensor }) => void;

export interface SampleOptions {
  /** Labels (and w for stage-one students) of the batch. */
  cond: Cond;
  /** Clamp the final sample to [lo, hi] (e.g. [-1, 1] for images); never intermediate x-hats. @default none */
  clip?: [number, number];
  /** Noise source of stochastic samplers; required by ddpm and stochastic. */
  generator?: Generator;
  onStep?: StepCallback;
}

/** Applies the optional final clip; takes ownership of z. */
export function finishSample(z: Tensor, opts: SampleOptions): Tensor {
  if (!opts.clip) return z;
  const clipped = z.clamp(opts.clip[0], opts.clip[1]);
  z.dispose();
  return clipped;
}

export function requireGenerator(opts: SampleOptions, sampler: string): Generator {
  if (!opts.generator) throw new RangeError(`${sampler} sampling draws noise: pass opts.generator`);
  return opts.generator;
}

/**
 * The loop every sampler shares: for each (t, s) in `intervals`, x-hat = model(z_t, t) and
 * z_s = update(z_t, x-hat, t, s, index), each step in its own scope; then the final clip.
 */
export function walk(
  model: Denoiser,
  z: Tensor,
  intervals: [number, number][],
  opts: SampleOptions,
  update: (z: Tensor, xHat: Tensor, t: number, s: number, index: number) => Tensor,
): Tensor {
  const n = z.shape[0];
  let current = z.clone();
  intervals.forEach(([t, s], index) => {
    const next = tidy(() => update(current, model(current, full([n], t, { dtype: z.dtype, device: z.device }), opts.cond), t, s, index));
    current.dispose();
    current = next;
    opts.onStep?.({ index, t, s, z: current });
  });
  return finishSample(current, opts);
}

