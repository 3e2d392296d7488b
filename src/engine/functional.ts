// Layer functions with PyTorch's signatures (torch.nn.functional), over explicit weights.
// Modules in src/nn hold the weights and call these.
import { native } from "./native.js";
import { fromHandle, type Tensor } from "./tensor.js";
import { rand } from "./creation.js";
import type { Generator } from "./random.js";
import { ShapeError } from "./errors.js";

type Pair = number | [number, number];
const pair = (v: Pair): number[] => (typeof v === "number" ? [v, v] : [v[0], v[1]]);

/** x W^T + b */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return fromHandle(native.linear(x.handle, weight.handle, bias?.handle ?? null));
}

/** Options of conv2d. @default stride 1, padding 0, dilation 1, groups 1 */
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** 2-D convolution of NCHW input x with weight [out, in/groups, kH, kW]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return fromHandle(
    native.conv2d(x.handle, weight.handle, bias?.handle ?? null, pair(opts.stride ?? 1), pair(opts.padding ?? 0), pair(opts.dilation ?? 1), opts.groups ?? 1),
  );
}

/** Transposed 2-D convolution, weight [in, out/groups, kH, kW]. @default outputPadding 0 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions & { outputPadding?: Pair } = {}): Tensor {
  return fromHandle(
    native.convTranspose2d(
      x.handle,
      weight.handle,
      bias?.handle ?? null,
      pair(opts.stride ?? 1),
      pair(opts.padding ?? 0),
      pair(opts.outputPadding ?? 0),
      opts.groups ?? 1,
      pair(opts.dilation ?? 1),
    ),
  );
}

/** Nearest-neighbour resize of NCHW x to `size`, or by an integer `scaleFactor`. */
export function interpolateNearest(x: Tensor, target: { size?: [number, number]; scaleFactor?: number }): Tensor {
  const [, , h, w] = x.shape;
  const size = target.size ?? (target.scaleFactor ? [h * target.scaleFactor, w * target.scaleFactor] : undefined);
  if (!size) throw new ShapeError("interpolateNearest: give size or scaleFactor");
  return fromHandle(native.upsampleNearest2d(x.handle, size));
}

/** Average pooling. @default stride = kernel, padding 0 */
export function avgPool2d(x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return fromHandle(native.avgPool2d(x.handle, pair(kernel), pair(stride ?? kernel), pair(padding)));
}

/** GroupNorm over channels of NC... input. @default eps 1e-5 */
export function groupNorm(x: Tensor, groups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return fromHandle(native.groupNorm(x.handle, groups, weight?.handle ?? null, bias?.handle ?? null, eps));
}

/** LayerNorm over the trailing `normalizedShape` dims. @default eps 1e-5 */
export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return fromHandle(native.layerNorm(x.handle, normalizedShape, weight?.handle ?? null, bias?.handle ?? null, eps));
}

/** Rows of `weight` picked by int64 `indices`. */
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return fromHandle(native.embedding(weight.handle, indices.handle));
}

/** int64 one-hot encoding with `numClasses` columns. */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  return fromHandle(native.oneHot(indices.handle, numClasses));
}

/**
 * Inverted dropout: zeroes each entry with probability p and scales the rest by 1/(1-p).
 * The mask comes from `generator`, so training is reproducible. Identity when not training.
 */
export function dropout(x: Tensor, p: number, generator: Generator, training = true): Tensor {
  if (p < 0 || p >= 1) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x.mul(1);
  const u = rand(x.shape, generator, { dtype: x.dtype, device: x.device });
  const mask = u.ge(p);
  const out = x.mul(mask).mul(1 / (1 - p));
  u.dispose();
  mask.dispose();
  return out;
}
