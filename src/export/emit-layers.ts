// ONNX emitters for the layers of src/nn/layers.ts and the shared condition path of both denoisers
// (log-SNR of t, Fourier features, class embedding, the w path, the v -> x-hat conversion). Each
// emitter writes the same operations, in the same order and float32 precision, as the libtorch
// forward it mirrors, so the exported graph agrees with it to float32 rounding.
import type { Tensor } from "../engine/index.js";
import { LAMBDA_MAX, LAMBDA_MIN } from "../diffusion/schedule.js";
import { fourierFrequencies } from "../nn/layers.js";
import type { Prediction } from "../nn/model.js";
import type { GraphBuilder } from "./graph-builder.js";

/**
 * A model's parameters under a name prefix, read as float32 host arrays. Remembers which names
 * were read, so the exporter can check that the graph uses every parameter of the model.
 */
export class WeightSource {
  private constructor(
    private readonly named: Map<string, Tensor>,
    private readonly prefix: string,
    private readonly used: Set<string>,
  ) {}

  static of(named: Map<string, Tensor>, prefix = ""): WeightSource {
    return new WeightSource(named, prefix, new Set());
  }

  /** The source for names under `part` (dotted path, PyTorch style). */
  sub(part: string | number): WeightSource {
    return new WeightSource(this.named, this.path(String(part)), this.used);
  }

  has(name: string): boolean {
    return this.named.has(this.path(name));
  }

  /** The parameter `name` under this prefix: its full name, shape and float32 values. */
  get(name: string): { name: string; shape: number[]; values: Float32Array } {
    const full = this.path(name);
    const tensor = this.named.get(full);
    if (!tensor) throw new Error(`ONNX export: the model has no parameter ${full}`);
    if (tensor.dtype !== "float32") throw new Error(`ONNX export: parameter ${full} is ${tensor.dtype}; the export writes float32 only`);
    this.used.add(full);
    return { name: full, shape: tensor.shape, values: Float32Array.from(tensor.data() as Float32Array) };
  }

  /** Parameter names the graph never read (should be none). */
  unused(): string[] {
    return [...this.named.keys()].filter((k) => k.startsWith(this.prefix) && !this.used.has(k));
  }

  private path(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }
}

/** Adds parameter `name` of `ws` as an initializer, optionally with other dims (same values). */
export function param(g: GraphBuilder, ws: WeightSource, name: string, dims?: number[]): string {
  const p = ws.get(name);
  return g.initializer(p.name, p.values, dims ?? p.shape, { parameter: true });
}

/** silu(x) = x sigmoid(x) (opset 17 has no SiLU op). */
export function silu(g: GraphBuilder, x: string): string {
  return g.op("Mul", [x, g.op("Sigmoid", [x])]);
}

/** Linear: y = x W^T + b for x [n, in] (Gemm with transB, W stored [out, in] as in PyTorch). */
export function linear(g: GraphBuilder, ws: WeightSource, x: string): string {
  const inputs = [x, param(g, ws, "weight")];
  if (ws.has("bias")) inputs.push(param(g, ws, "bias"));
  return g.op("Gemm", inputs, { transB: { i: 1 } }, "linear");
}

/**
 * Linear over the last axis of x [..., in] of any rank (torch's linear: x W^T + b), as MatMul with
 * the transposed weight and Add; Gemm takes only 2-D inputs.
 */
export function linearLastAxis(g: GraphBuilder, ws: WeightSource, x: string): string {
  const y = g.op("MatMul", [x, g.op("Transpose", [param(g, ws, "weight")], { perm: { ints: [1, 0] } })], {}, "linear");
  return ws.has("bias") ? g.op("Add", [y, param(g, ws, "bias")]) : y;
}

/** EmbedMlp: Linear (`.0`) -> SiLU -> Linear (`.2`). */
export function embedMlp(g: GraphBuilder, ws: WeightSource, x: string): string {
  return linear(g, ws.sub(2), silu(g, linear(g, ws.sub(0), x)));
}

/** LayerNorm over the last dim, affine (torch.nn.LayerNorm, eps 1e-5). */
export function layerNorm(g: GraphBuilder, ws: WeightSource, x: string, eps = 1e-5): string {
  return g.op("LayerNormalization", [x, param(g, ws, "weight"), param(g, ws, "bias")], { axis: { i: -1 }, epsilon: { f: eps } }, "layer_norm");
}

/**
 * GroupNorm of x [n, C, H, W] with `groups` groups and affine weight/bias [C] (eps 1e-5).
 * Opset 17 has no GroupNormalization: x is viewed as [n, groups, C/groups * H * W], normalised per
 * row by InstanceNormalization (scale 1, bias 0: the same mean and biased variance over the group),
 * viewed back, then scaled and shifted per channel.
 */
export function groupNorm(g: GraphBuilder, ws: WeightSource, x: string, groups: number, channels: number, eps = 1e-5): string {
  const grouped = g.op("Reshape", [x, g.constInt64([0, groups, -1])]);
  const normed = g.op("InstanceNormalization", [grouped, g.constFloat(new Array(groups).fill(1)), g.constFloat(new Array(groups).fill(0))], { epsilon: { f: eps } }, "group_norm");
  const back = g.op("Reshape", [normed, g.op("Shape", [x])]);
  return g.op("Add", [g.op("Mul", [back, param(g, ws, "weight", [channels, 1, 1])]), param(g, ws, "bias", [channels, 1, 1])]);
}

/** Conv2d with square kernel (taken from the weight), stride and zero padding, as layers.ts Conv2d. */
export function conv2d(g: GraphBuilder, ws: WeightSource, x: string, opts: { stride?: number; padding?: number } = {}): string {
  const weight = ws.get("weight");
  const k = weight.shape[2];
  const s = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const inputs = [x, g.initializer(weight.name, weight.values, weight.shape, { parameter: true })];
  if (ws.has("bias")) inputs.push(param(g, ws, "bias"));
  return g.op("Conv", inputs, { kernel_shape: { ints: [k, k] }, strides: { ints: [s, s] }, pads: { ints: [p, p, p, p] }, dilations: { ints: [1, 1] }, group: { i: 1 } }, "conv");
}

/**
 * Nearest 2x upsampling as torch's upsample_nearest2d: output pixel i reads input floor(i / 2),
 * which is Resize "nearest" with asymmetric coordinates and floor rounding.
 */
export function upsample2x(g: GraphBuilder, x: string): string {
  return g.op("Resize", [x, "", g.constFloat([1, 1, 2, 2])], { mode: { s: "nearest" }, coordinate_transformation_mode: { s: "asymmetric" }, nearest_mode: { s: "floor" } }, "upsample");
}

/** Rows of the class embedding [numClasses + 1, E] picked by int64 labels [n] (label numClasses: null). */
export function classEmbedding(g: GraphBuilder, ws: WeightSource, labels: string): string {
  return g.op("Gather", [param(g, ws, "weight"), labels], { axis: { i: 0 } }, "class_embed");
}

/** The cosine log-SNR lambda(t) = -2 log tan(a t + b) of schedule.ts logSnrTensor, elementwise on t [n]. */
export function logSnr(g: GraphBuilder, t: string): string {
  // same constants as schedule.ts (not exported there: they are the schedule's private detail)
  const b = Math.atan(Math.exp(-LAMBDA_MAX / 2));
  const a = Math.atan(Math.exp(-LAMBDA_MIN / 2)) - b;
  const angle = g.op("Add", [g.op("Mul", [t, g.constFloat(a)]), g.constFloat(b)]);
  return g.op("Mul", [g.op("Log", [g.op("Tan", [angle])]), g.constFloat(-2)], {}, "log_snr");
}

/** lambda mapped to [0, 1]: (lambda - LAMBDA_MIN) / (LAMBDA_MAX - LAMBDA_MIN), the denoisers' time feature input. */
export function logSnrUnit(g: GraphBuilder, lambda: string): string {
  return g.op("Div", [g.op("Sub", [lambda, g.constFloat(LAMBDA_MIN)]), g.constFloat(LAMBDA_MAX - LAMBDA_MIN)]);
}

/**
 * alpha = sqrt(sigmoid(lambda)), sigma = sqrt(sigmoid(-lambda)) (schedule.ts alphaSigmaTensor), with
 * sigmoid(x) written out as 1 / (1 + exp(-x)), libtorch's formula. onnxruntime's Sigmoid kernel is
 * a fast approximation whose relative error in the tails is large (measured: sigmoid(-17) as
 * 1.2e-7 instead of 4.1e-8, sigmoid(-18) as 0), and alpha near t = 1 and sigma near t = 0 are
 * square roots of exactly those tails.
 */
export function alphaSigma(g: GraphBuilder, lambda: string): { alpha: string; sigma: string } {
  const one = g.constFloat(1);
  const sigmoid = (x: string) => g.op("Div", [one, g.op("Add", [one, g.op("Exp", [g.op("Neg", [x])])])]);
  const alpha = g.op("Sqrt", [sigmoid(lambda)], {}, "alpha");
  const sigma = g.op("Sqrt", [sigmoid(g.op("Neg", [lambda]))], {}, "sigma");
  return { alpha, sigma };
}

export function fourier(g: GraphBuilder, u: string, freqs: string): string {
  const angles = g.op("Mul", [g.op("Unsqueeze", [u, g.constInt64([1])]), freqs], {}, "angles");
  return g.op("Concat", [g.op("Sin", [angles]), g.op("Cos", [angles])], { axis: { i: 1 } }, "fourier");
}

/**
 * The condition embedding both denoisers share, before their SiLU:
 * e = timeEmbed(fourier(u(lambda))) + classEmbed[labels] (+ wEmbed(fourier(w / wMax)) with a w input).
 */
export function conditionEmbedding(g: GraphBuilder, ws: WeightSource, io: { lambda: string; labels: string; w: string | null }, cfg: { fourierFeatures: number; wMax: number }): string {
  const freqs = g.initializer("fourier_freqs", Float32Array.from(fourierFrequencies(cfg.fourierFeatures)), [cfg.fourierFeatures]);
  let e = g.op("Add", [embedMlp(g, ws.sub("time_embed"), fourier(g, logSnrUnit(g, io.lambda), freqs)), classEmbedding(g, ws.sub("class_embed"), io.labels)]);
  if (io.w !== null) {
    const wFeatures = fourier(g, g.op("Div", [io.w, g.constFloat(cfg.wMax)]), freqs);
    e = g.op("Add", [e, embedMlp(g, ws.sub("w_embed"), wFeatures)], {}, "embedding");
  }
  return e;
}

/**
 * The ONNX output x-hat from the network's raw output (diffusion/parameterization.ts): itself for
 * "x" prediction, x-hat = alpha z - sigma v-hat for "v" (schedule.ts xFromV) and
 * (z - sigma eps-hat) / alpha for "eps" (xFromEps), alpha and sigma reshaped to [n, 1, ...].
 */
export function toXHat(g: GraphBuilder, io: { z: string; raw: string; lambda: string }, prediction: Prediction, exampleRank: number): string {
  if (prediction === "x") return io.raw;
  const { alpha, sigma } = alphaSigma(g, io.lambda);
  const axes = g.constInt64(Array.from({ length: exampleRank }, (_, k) => k + 1));
  const column = (v: string) => g.op("Unsqueeze", [v, axes]);
  if (prediction === "eps") return g.op("Div", [g.op("Sub", [io.z, g.op("Mul", [io.raw, column(sigma)])]), column(alpha)], {}, "x_hat");
  return g.op("Sub", [g.op("Mul", [io.z, column(alpha)]), g.op("Mul", [io.raw, column(sigma)])], {}, "x_hat");
}
