// Runs an exported ONNX model in onnxruntime-node and the same model's libtorch forward on the same
// random inputs, and returns the largest absolute difference of x-hat: the export's parity check.
import * as ort from "onnxruntime-node";
import { Generator, noGrad, rand, randn, tensor, tidy, type Tensor } from "../../src/engine/index.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import type { DenoiserModel } from "../../src/nn/model.js";

/** Random inputs for a batch of n: z ~ N(0, 1); t in (0, 1) with both ends and values near them; classes including the null class; w in [0, 4]. */
export function parityInputs(model: DenoiserModel, n: number, seed: number): { z: Float32Array; t: Float32Array; labels: number[]; w: Float32Array } {
  const g = new Generator(seed);
  return tidy(() => {
    const z = randn([n, ...model.exampleShape], g).data() as Float32Array;
    const ends = [1e-4, 0.9999, 0, 1, 0.02, 0.98];
    const t = (rand([n], g).data() as Float32Array).map((v, i) => (i % 2 === 0 ? ends[(i / 2 + seed) % ends.length] : v));
    const numClasses = model.config.numClasses;
    const labels = Array.from({ length: n }, (_, i) => (i === 0 ? numClasses : (i * 7 + seed) % (numClasses + 1)));
    const w = (rand([n], g).data() as Float32Array).map((v) => 4 * v);
    return { z: Float32Array.from(z), t: Float32Array.from(t), labels, w: Float32Array.from(w) };
  });
}

/** Adds N(0, scale^2) noise to every parameter (those `only` picks), so zero-initialised layers (the w path, output convs) take part in the check. */
export function perturbWeights(model: { named(): Map<string, Tensor> }, seed: number, scale = 0.05, only: (name: string) => boolean = () => true): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const [name, p] of model.named()) {
      if (!only(name)) continue;
      const noise = randn(p.shape, g).mul(scale);
      p.add_(noise);
      noise.dispose();
    }
  });
}

/** The libtorch x-hat for the inputs, as float32. */
export function torchXHat(model: DenoiserModel, inputs: ReturnType<typeof parityInputs>): Float32Array {
  const n = inputs.t.length;
  return tidy(() => {
    const z = tensor(inputs.z, { shape: [n, ...model.exampleShape] });
    const t = tensor(inputs.t);
    const labels = tensor(BigInt64Array.from(inputs.labels, BigInt));
    const w = model.config.wInput ? tensor(inputs.w) : undefined;
    return Float32Array.from(noGrad(() => denoiserOf(model).denoiser(z, t, { labels, w })).data() as Float32Array);
  });
}

/** The ONNX x-hat for the inputs, from a session on the exported bytes. */
export async function onnxXHat(session: ort.InferenceSession, model: DenoiserModel, inputs: ReturnType<typeof parityInputs>): Promise<Float32Array> {
  const n = inputs.t.length;
  const feeds: Record<string, ort.Tensor> = {
    z: new ort.Tensor("float32", inputs.z, [n, ...model.exampleShape]),
    t: new ort.Tensor("float32", inputs.t, [n]),
    class: new ort.Tensor("int64", BigInt64Array.from(inputs.labels, BigInt), [n]),
  };
  if (model.config.wInput) feeds.w = new ort.Tensor("float32", inputs.w, [n]);
  const out = await session.run(feeds);
  return out.x_hat.data as Float32Array;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Opens an ONNX session on exported bytes (one intra-op thread: the machine's cores are shared). */
export function openSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
}

export type { Tensor };
