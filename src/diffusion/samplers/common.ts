// What every sampler shares: options, grid checks and the final clip.
import { full, tidy, type Generator, type Tensor } from "../../engine/index.js";
import type { Cond, Denoiser } from "../denoiser.js";

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

export function validateGrid(grid: number[]): void {
  if (grid.length < 2) throw new RangeError(`a sampling grid needs at least 2 times, got ${grid.length}`);
  for (let i = 0; i < grid.length; i++) {
    const t = grid[i];
    if (!(t >= 0 && t <= 1)) throw new RangeError(`grid time ${t} at index ${i} is outside [0, 1]`);
    if (i > 0 && !(t < grid[i - 1])) throw new RangeError(`grid must decrease strictly: ${grid[i - 1]} then ${t} at index ${i}`);
  }
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

/** Consecutive (t, s) pairs of a decreasing grid. */
export function gridIntervals(grid: number[]): [number, number][] {
  validateGrid(grid);
  return grid.slice(0, -1).map((t, i) => [t, grid[i + 1]]);
}
