// Basic layers over src/engine/functional.ts, initialised as PyTorch initialises them
// (kaiming_uniform with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias).
import { conv2d, groupNorm, linear, noGrad, ones, rand, zeros, type Generator, type Tensor } from "../engine/index.js";
import type { ParamStore } from "./param-store.js";

/** U(-bound, bound) */
export function uniform(shape: number[], bound: number, generator: Generator): Tensor {
  const u = rand(shape, generator);
  const out = u.mul(2 * bound).sub(bound);
  u.dispose();
  return out;
}

/** y = x W^T + b, weight [out, in] named `weight`, bias `bias`. */
export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(store: ParamStore, inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = store.param("weight", (g) => uniform([outFeatures, inFeatures], bound, g));
    this.bias = opts.bias === false ? null : store.param("bias", (g) => uniform([outFeatures], bound, g));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** 2-D convolution, weight [out, in, k, k]. @default stride 1, padding 0 */
export class Conv2d {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  constructor(store: ParamStore, inChannels: number, outChannels: number, kernel: number, opts: { stride?: number; padding?: number; bias?: boolean } = {}) {
    const bound = 1 / Math.sqrt(inChannels * kernel * kernel);
    this.weight = store.param("weight", (g) => uniform([outChannels, inChannels, kernel, kernel], bound, g));
    this.bias = opts.bias === false ? null : store.param("bias", (g) => uniform([outChannels], bound, g));
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** GroupNorm with affine weight (ones) and bias (zeros). @default eps 1e-5 */
export class GroupNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(store: ParamStore, readonly groups: number, channels: number, readonly eps = 1e-5) {
    this.weight = store.param("weight", () => ones([channels]));
    this.bias = store.param("bias", () => zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}

/** Linear -> SiLU -> Linear, named like torch.nn.Sequential (`.0`, `.2`). */
export class EmbedMlp {
  readonly first: Linear;
  readonly last: Linear;
  constructor(store: ParamStore, inFeatures: number, hidden: number, opts: { zeroLast?: boolean } = {}) {
    this.first = new Linear(store.sub(0), inFeatures, hidden);
    this.last = new Linear(store.sub(2), hidden, hidden);
    if (opts.zeroLast) {
      // Only the last layer is zero: the first stays random, so the w features reach the
      // hidden layer and the last layer's weights get a non-zero gradient from step one
      // (an all-zero path would only ever learn a constant bias).
      noGrad(() => {
        this.last.weight.zero_();
        this.last.bias!.zero_();
      });
    }
  }
  forward(features: Tensor): Tensor {
    return this.last.forward(this.first.forward(features).silu());
  }
}

const FREQ_MIN = 0.25; // a quarter cycle over [0, 1]: the lowest features are monotone in u
const FREQ_MAX = 32;

/**
 * The denoisers' Fourier frequencies 2 pi f_k, f_k log-spaced from 0.25 to 32 cycles (`count` of
 * them), in double precision; MlpDenoiser, UNet and the ONNX exporter all take them from here.
 */
export function fourierFrequencies(count: number): number[] {
  const ratio = count === 1 ? 1 : Math.pow(FREQ_MAX / FREQ_MIN, 1 / (count - 1));
  return Array.from({ length: count }, (_, k) => 2 * Math.PI * FREQ_MIN * ratio ** k);
}
