// The portable layer's denoiser and what its samplers share: the same shape as
// src/diffusion/denoiser.ts and samplers/common.ts, over Float32Array batches and async (a model
// call is an ONNX Runtime run). No engine import: this folder must bundle for the browser.
import type { NoiseSource } from "./random.js";

/**
 * The condition of a batch of n examples: class labels [n] (the model's null label, numClasses,
 * means "no class") and, for models that take it, the guidance weight w per example [n].
 */
export interface PortableCond {
  labels: Int32Array;
  w?: Float32Array;
}

/** z: [n, ...exampleShape] flattened, t: [n] -> x-hat with z's layout. */
export type PortableDenoiser = (z: Float32Array, t: Float32Array, cond: PortableCond) => Promise<Float32Array>;

/**
 * Called after each model call with the new state z_s at time s (z is the sampler's own array: copy
 * to keep). Returning an array (of z's length) replaces z_s: inpainting re-imposes the known region.
 */
export type PortableStepCallback = (info: { index: number; t: number; s: number; z: Float32Array; xHat: Float32Array }) => Float32Array | void;

export interface PortableSampleOptions {
  /** Labels (and w for models that take it) of the batch; n = labels.length. */
  cond: PortableCond;
  /** Clamp the final sample to [lo, hi] (e.g. [-1, 1] for images); never intermediate x-hats. @default none */
  clip?: [number, number];
  /** Noise the stochastic sampler adds, e.g. new NormalRng(seed, 1); required by it. */
  noise?: NoiseSource;
  onStep?: PortableStepCallback;
}

/** Consecutive (t, s) pairs of a decreasing grid in [0, 1]. */
export function gridIntervals(grid: number[]): [number, number][] {
  if (grid.length < 2) throw new RangeError(`a sampling grid needs at least 2 times, got ${grid.length}`);
  for (let i = 0; i < grid.length; i++) {
    const t = grid[i];
    if (!(t >= 0 && t <= 1)) throw new RangeError(`grid time ${t} at index ${i} is outside [0, 1]`);
    if (i > 0 && !(t < grid[i - 1])) throw new RangeError(`grid must decrease strictly: ${grid[i - 1]} then ${t} at index ${i}`);
  }
  return grid.slice(0, -1).map((t, i) => [t, grid[i + 1]]);
}

/**
 * The loop every portable sampler shares: for each (t, s), x-hat = model(z_t, t) and
 * z_s = update(z_t, x-hat, t, s, index); then the final clip. z is not modified.
 */
export async function walk(
  model: PortableDenoiser,
  z: Float32Array,
  intervals: [number, number][],
  opts: PortableSampleOptions,
  update: (z: Float32Array, xHat: Float32Array, t: number, s: number, index: number) => Float32Array,
): Promise<Float32Array> {
  const n = opts.cond.labels.length;
  if (n === 0 || z.length % n !== 0) throw new RangeError(`z has ${z.length} numbers, not a whole number of examples for ${n} labels`);
  if (opts.cond.w && opts.cond.w.length !== n) throw new RangeError(`cond.w has ${opts.cond.w.length} entries but labels has ${n}`);
  let current = z;
  for (const [index, [t, s]] of intervals.entries()) {
    const xHat = await model(current, new Float32Array(n).fill(t), opts.cond);
    if (xHat.length !== current.length) throw new RangeError(`the model returned ${xHat.length} numbers for z of ${current.length}`);
    current = update(current, xHat, t, s, index);
    const replaced = opts.onStep?.({ index, t, s, z: current, xHat });
    if (replaced) {
      if (replaced.length !== current.length) throw new RangeError(`onStep returned ${replaced.length} numbers for z of ${current.length}`);
      current = replaced;
    }
  }
  if (current === z) current = z.slice();
  if (opts.clip) {
    const [lo, hi] = opts.clip;
    for (let i = 0; i < current.length; i++) current[i] = Math.min(hi, Math.max(lo, current[i]));
  }
  return current;
}
