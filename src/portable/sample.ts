// One entry point over the portable samplers: pick a sampler by name, apply guidance (two
// predictions for models without a w input, the w input otherwise), draw the noise from a seed,
// walk the grid. The ONNX adapter, `fewstep sample --runtime onnx` and the web page call this.
import { sampleDdim } from "./ddim.js";
import type { PortableDenoiser } from "./denoiser.js";
import { guided, nullClass, withW } from "./guidance.js";
import { NormalRng, type NoiseSource } from "./random.js";
import { timeGrid } from "./schedule.js";
import { sampleStochastic } from "./stochastic.js";

export type PortableSamplerName = "ddim" | "stochastic";
export const PORTABLE_SAMPLERS: readonly PortableSamplerName[] = ["ddim", "stochastic"];

/** What a sampler must know about a model: the shape of one example and how guidance applies. */
export interface PortableModelInfo {
  exampleShape: readonly number[];
  numClasses: number;
  /** true: the model takes w (a distilled student); false: guidance combines two predictions. */
  wInput: boolean;
}

export interface PortableSampleRequest {
  sampler: PortableSamplerName;
  steps: number;
  /** Guidance weight (paper's convention; 0 = conditional). */
  w: number;
  /** Class of each sample, in [0, numClasses); n = labels.length. */
  labels: Int32Array | readonly number[];
  /** Seed of the initial noise (stream 0 of NormalRng) and of the added noise (stream 1). @default 0 */
  seed?: number;
  /** Initial noise z_1 [n, ...exampleShape] instead of drawing it from the seed. */
  z?: Float32Array;
  /** Noise the stochastic sampler adds instead of NormalRng(seed, 1). */
  noise?: NoiseSource;
  /** Clamp the final sample to [lo, hi]. @default none */
  clip?: [number, number];
}

/** Numbers in one example: the product of exampleShape. */
export function exampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Samples [n, ...exampleShape] (flattened) from `model` at weight w. */
export async function samplePortable(model: PortableDenoiser, info: PortableModelInfo, request: PortableSampleRequest): Promise<Float32Array> {
  const n = request.labels.length;
  const size = exampleSize(info.exampleShape);
  if (n < 1) throw new RangeError("sample: give at least one label");
  const labels = Int32Array.from(request.labels);
  const bad = labels.find((c) => !(c >= 0 && c < info.numClasses));
  if (bad !== undefined) throw new RangeError(`sample: class ${bad} is not one of the model's classes 0..${info.numClasses - 1}`);
  const seed = request.seed ?? 0;
  const z = request.z ?? new NormalRng(seed, 0).normals(n * size);
  if (z.length !== n * size) throw new RangeError(`sample: z has ${z.length} numbers but ${n} examples of [${info.exampleShape}] need ${n * size}`);
  const denoiser = info.wInput ? withW(model, request.w) : guided(model, request.w, nullClass(info.numClasses));
  const opts = { cond: { labels }, clip: request.clip, noise: request.noise ?? new NormalRng(seed, 1) };
  switch (request.sampler) {
    case "ddim":
      return sampleDdim(denoiser, z, timeGrid(request.steps), opts);
    case "stochastic":
      return sampleStochastic(denoiser, z, timeGrid(request.steps), opts);
    default:
      throw new RangeError(`unknown sampler '${String(request.sampler)}'; one of ${PORTABLE_SAMPLERS.join(", ")}`);
  }
}
