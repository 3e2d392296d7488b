// What every sampler shares: options, grid checks and the final clip.
import { full, tidy, type Generator, type Tensor } from "../../engine/index.js";
import type { Cond, Denoiser } from "../denoiser.js";

// The grid check and its (t, s) pairs are the portable layer's (plain TypeScript).
export { gridIntervals } from "../../portable/denoiser.js";

/**
 * Called after each model call with the new state z_s at time s (and the step's x-hat). Returning a
 * tensor replaces z_s (inpainting re-imposes the known region, noised to s); it runs in the step's
 * scope, so its temporaries are freed and only the returned tensor survives.
 */
export type StepCallback = (info: { index: number; t: number; s: number; z: Tensor; xHat: Tensor }) => Tensor | void;

export interface SampleOptions {
  /** The batch's condition (labels or text, w for students, image channels). */
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
 * z_s = update(z_t, x-hat, t, s, index), then the step hook (which may replace z_s), each step in
 * its own scope; then the final clip. The grid may start below 1 (SDEdit starts at t_edit from an
 * input noised to it).
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
    const next = tidy(() => {
      const xHat = model(current, full([n], t, { dtype: z.dtype, device: z.device }), opts.cond);
      const zS = update(current, xHat, t, s, index);
      return opts.onStep?.({ index, t, s, z: zS, xHat }) ?? zS;
    });
    current.dispose();
    current = next;
  });
  return finishSample(current, opts);
}

