// A user's ONNX feature extractor or classifier as the feature network of FID and IS (issue 6,
// item 2b), run by onnxruntime-node: e.g. an InceptionV3 export (its 2048-d pool3 output) for the
// standard FID on CIFAR-10-like data. fewstep's images [n, C, H, W] in [-1, 1] are prepared as
// the network expects, in this order (what `fewstep eval --help` and the README document):
//   1. a 1-channel image is repeated to 3 channels when the network takes 3 (any other channel
//      mismatch is an error);
//   2. resized to the network's size, when it differs, by bilinear interpolation with
//      align_corners = false and no antialiasing: torch.nn.functional.interpolate(mode="bilinear")'s
//      default, which pytorch-fid uses to reach 299 x 299;
//   3. mapped linearly from [-1, 1] to the pixel range [lo, hi] the network expects;
//   4. normalised per channel, (x - mean[c]) / std[c], when mean and std are given.
// The batch goes in as one float32 NCHW tensor; the features output [n, d] (or [n, d, 1, 1], e.g.
// a pooling layer's, flattened) gives FID's features, and a logits output (softmaxed) or a
// probabilities output (used as is) gives IS's p(y|x).
import { existsSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { ShapeError, getNumThreads, noGrad, tensor, tidy, type Tensor } from "../engine/index.js";
import { FewstepError } from "../io/errors.js";
import type { FeatureNetwork, FeatureNetworkKey, FeatureOutputs } from "./feature-network.js";
import { fileSha256 } from "./reference-stats.js";

/** How to run a user's ONNX network; the CLI's --features-* flags. */
export interface OnnxFeatureOptions {
  /** Output holding FID's features, [n, d] or [n, d, 1, ..., 1]. @default the network's first output */
  featuresOutput?: string;
  /** Output of class logits [n, K]; their softmax is IS's p(y|x). @default none (no IS) */
  logitsOutput?: string;
  /** Output of class probabilities [n, K] (a network that ends in softmax), used as they are; not with logitsOutput. */
  probsOutput?: string;
  /** [height, width] the images are resized to. @default the network's declared input size when static, else the images' own */
  size?: [number, number];
  /** Pixel range [lo, hi] the network expects. @default [-1, 1] (fewstep's own: unchanged) */
  range?: [number, number];
  /** Per-channel mean subtracted after the range mapping (1 value or one per channel). @default none */
  mean?: number[];
  /** Per-channel std divided by after the mean (1 value or one per channel). @default none */
  std?: number[];
  /** Images per onnxruntime run. @default 64 */
  batchSize?: number;
  /** onnxruntime's intra-op threads. @default fewstep's engine thread count (FEWSTEP_THREADS, else all cores) */
  threads?: number;
}

/** @default images per onnxruntime run (InceptionV3 at 299 x 299: about 70 MB of input per batch) */
export const ONNX_FEATURES_BATCH = 64;

/** The network's one image input, as declared: numbers are static, strings (or null) dynamic. */
interface ImageInput {
  name: string;
  channels: number | null;
  height: number | null;
  width: number | null;
}

/**
 * Loads `path` into onnxruntime and checks it against `opts` at once: one image input of rank 4,
 * float32; the named outputs exist; a sane range, mean/std and size.
 * @throws FewstepError naming the file, what it has, and the fix
 */
export async function loadOnnxFeatures(path: string, opts: OnnxFeatureOptions = {}): Promise<OnnxFeatureNetwork> {
  if (!existsSync(path)) throw new FewstepError(`${path} does not exist`);
  checkOptions(opts);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { intraOpNumThreads: opts.threads ?? getNumThreads(), interOpNumThreads: 1, graphOptimizationLevel: "all" });
  } catch (err) {
    throw new FewstepError(`${path}: onnxruntime cannot load it as an ONNX model: ${(err as Error).message}`, { cause: err });
  }
  try {
    return new OnnxFeatureNetwork(path, fileSha256(path), session, imageInput(path, session), opts);
  } catch (err) {
    await session.release();
    throw err;
  }
}

/** The options that need no model: ranges, lengths, positivity. */
function checkOptions(o: OnnxFeatureOptions): void {
  const bad: string[] = [];
  if (o.logitsOutput !== undefined && o.probsOutput !== undefined) bad.push(`give a logits output or a probabilities output, not both (got '${o.logitsOutput}' and '${o.probsOutput}')`);
  if (o.range && !(Number.isFinite(o.range[0]) && Number.isFinite(o.range[1]) && o.range[0] < o.range[1])) bad.push(`range must be lo,hi with lo < hi, got ${o.range.join(",")}`);
  if (o.size && !o.size.every((s) => Number.isSafeInteger(s) && s >= 1)) bad.push(`size must be positive integers H,W, got ${o.size.join(",")}`);
  if ((o.mean === undefined) !== (o.std === undefined)) bad.push("give mean and std together (per channel, e.g. ImageNet's 0.485,0.456,0.406 and 0.229,0.224,0.225)");
  if (o.mean && !o.mean.every(Number.isFinite)) bad.push(`mean must be finite numbers, got ${o.mean.join(",")}`);
  if (o.std && !o.std.every((s) => Number.isFinite(s) && s > 0)) bad.push(`std must be positive numbers, got ${o.std.join(",")}`);
  if (o.mean && o.std && o.mean.length !== o.std.length) bad.push(`mean has ${o.mean.length} value(s) but std has ${o.std.length}`);
  if (o.batchSize !== undefined && !(Number.isSafeInteger(o.batchSize) && o.batchSize >= 1)) bad.push(`batch size must be a positive integer, got ${o.batchSize}`);
  if (bad.length > 0) throw new FewstepError(`ONNX feature options: ${bad.join("; ")}`);
}

/** The one float32 [n, C, H, W] input, or an error saying why the network is not image-like. */
function imageInput(path: string, session: ort.InferenceSession): ImageInput {
  if (session.inputNames.length !== 1) {
    throw new FewstepError(`${path} has ${session.inputNames.length} inputs (${session.inputNames.join(", ")}); fewstep feeds one image batch [n, C, H, W]: export the network with a single image input`);
  }
  const meta = session.inputMetadata[0];
  if (!meta.isTensor) throw new FewstepError(`${path}: input '${meta.name}' is not a tensor; fewstep feeds one float32 image batch [n, C, H, W]`);
  const shape = meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : null));
  const shown = `[${meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : d || "?")).join(", ")}]`;
  if (shape.length !== 4) throw new FewstepError(`${path}: input '${meta.name}' has shape ${shown} (rank ${shape.length}), not an image batch [n, C, H, W] (NCHW): export the network with an image input`);
  const [, c, h, w] = shape;
  if (c !== null && c > 4 && (w === 1 || w === 3)) {
    throw new FewstepError(`${path}: input '${meta.name}' has shape ${shown}, channels last (NHWC); fewstep feeds NCHW [n, C, H, W]: export the network with an NCHW input`);
  }
  if (meta.type !== "float32") throw new FewstepError(`${path}: input '${meta.name}' is ${meta.type}; fewstep feeds float32 images: export the network with a float32 input`);
  return { name: meta.name, channels: c, height: h, width: w };
}

/** A loaded ONNX network behind the FeatureNetwork interface (see the file header for the preprocessing). */
export class OnnxFeatureNetwork implements FeatureNetwork {
  readonly description: string;
  readonly key: FeatureNetworkKey;
  readonly hasProbs: boolean;
  /** Any size: images are resized to the network's. */
  readonly imageSize = null;
  readonly featuresOutput: string;
  /** The class output and how it becomes p(y|x), or null. */
  readonly classOutput: { name: string; softmax: boolean } | null;
  private readonly range: [number, number];
  private readonly batchSize: number;

  /** Use loadOnnxFeatures. @throws FewstepError for an output name the network does not have, or a size it does not take */
  constructor(
    readonly path: string,
    sha256: string,
    private readonly session: ort.InferenceSession,
    readonly input: ImageInput,
    private readonly opts: OnnxFeatureOptions,
  ) {
    const outputs = session.outputNames;
    const find = (flag: string, name: string) => {
      if (!outputs.includes(name)) throw new FewstepError(`${path} has no output '${name}' (${flag}); its outputs are: ${outputs.join(", ")}`);
      return name;
    };
    this.featuresOutput = find("features output", opts.featuresOutput ?? outputs[0]);
    this.classOutput =
      opts.logitsOutput !== undefined ? { name: find("logits output", opts.logitsOutput), softmax: true } : opts.probsOutput !== undefined ? { name: find("probabilities output", opts.probsOutput), softmax: false } : null;
    this.hasProbs = this.classOutput !== null;
    const { height, width } = input;
    if (opts.size && height !== null && width !== null && (opts.size[0] !== height || opts.size[1] !== width)) {
      throw new FewstepError(`${path} takes ${height}x${width} images (input '${input.name}'), not the ${opts.size[0]}x${opts.size[1]} asked for: drop the size option or give ${height},${width}`);
    }
    this.range = opts.range ?? [-1, 1];
    this.batchSize = opts.batchSize ?? ONNX_FEATURES_BATCH;
    this.description = `onnx ${path} (features '${this.featuresOutput}'${this.classOutput ? `, ${this.classOutput.softmax ? "logits" : "probabilities"} '${this.classOutput.name}'` : ""})`;
    // Everything the features of a given image depend on (the batch size does not: rows are independent).
    this.key = {
      kind: "onnx",
      sha256,
      featuresOutput: this.featuresOutput,
      logitsOutput: opts.logitsOutput ?? null,
      probsOutput: opts.probsOutput ?? null,
      size: opts.size ?? null,
      range: this.range,
      mean: opts.mean ?? null,
      std: opts.std ?? null,
      resize: "bilinear, align_corners false, no antialias",
    };
  }

  /** [height, width] the network gets for images of height h and width w. */
  inputSize(h: number, w: number): [number, number] {
    return this.opts.size ?? (this.input.height !== null && this.input.width !== null ? [this.input.height, this.input.width] : [h, w]);
  }

  incompatibility(exampleShape: readonly number[]): string | null {
    const [c] = exampleShape;
    const want = this.input.channels;
    if (exampleShape.length !== 3) return `${this.path} takes images [C, H, W], not [${exampleShape}]`;
    if (want !== null && c !== want && !(c === 1 && want === 3)) {
      return `${this.path} takes ${want}-channel images (input '${this.input.name}') but the images have ${c}; only 1 channel is converted (repeated to 3): use a network with ${c} input channel(s)`;
    }
    const channels = want ?? c;
    const perChannel = this.opts.mean?.length;
    if (perChannel !== undefined && perChannel !== 1 && perChannel !== channels) {
      return `mean/std have ${perChannel} values but ${this.path} gets ${channels}-channel images: give 1 value or ${channels}`;
    }
    return null;
  }

  async outputs(images: Tensor): Promise<FeatureOutputs> {
    if (images.ndim !== 4) throw new ShapeError(`${this.path}: images must be [n, C, H, W], got [${images.shape}]`);
    const why = this.incompatibility(images.shape.slice(1));
    if (why) throw new ShapeError(why);
    const n = images.shape[0];
    let features: Float64Array | null = null;
    let classes: Float64Array | null = null;
    for (let start = 0; start < n; start += this.batchSize) {
      const size = Math.min(this.batchSize, n - start);
      const input = this.prepare(images, start, size);
      const fetches = [this.featuresOutput, ...(this.classOutput ? [this.classOutput.name] : [])];
      let results: ort.InferenceSession.OnnxValueMapType;
      try {
        results = await this.session.run({ [this.input.name]: input }, fetches);
      } catch (err) {
        throw new FewstepError(`${this.path}: onnxruntime failed on an input [${input.dims}]: ${(err as Error).message}`, { cause: err });
      }
      const f = this.rows(results, this.featuresOutput, "features", size);
      features ??= new Float64Array(n * f.width);
      features.set(f.values, start * f.width);
      if (this.classOutput) {
        const p = this.rows(results, this.classOutput.name, this.classOutput.softmax ? "logits" : "probabilities", size);
        classes ??= new Float64Array(n * p.width);
        classes.set(p.values, start * p.width);
      }
    }
    const d = features!.length / n;
    const out = tensor(features!, { shape: [n, d] });
    if (!classes) return { features: out, probs: null };
    const k = classes.length / n;
    const probs = this.classOutput!.softmax ? tidy(() => tensor(classes!, { shape: [n, k] }).softmax(1)) : tensor(classes, { shape: [n, k] });
    return { features: out, probs };
  }

  /** Steps 1-4 of the file header on images [start, start + b), as the float32 NCHW input of onnxruntime. */
  private prepare(images: Tensor, start: number, b: number): ort.Tensor {
    const [, c, h, w] = images.shape;
    const channels = this.input.channels ?? c;
    const [outH, outW] = this.inputSize(h, w);
    const data = tidy(() =>
      noGrad(() => {
        let y = images.narrow(0, start, b).to("float32");
        if (c === 1 && channels === 3) y = y.expand([b, 3, h, w]);
        // separable bilinear resize: y <- Rh y Rw^T, Rh [outH, h] and Rw [outW, w] (rows sum to 1)
        if (outH !== h) y = tensor(bilinearWeights(outH, h), { shape: [outH, h] }).matmul(y);
        if (outW !== w) y = y.matmul(tensor(bilinearWeights(outW, w), { shape: [outW, w] }).transpose(0, 1));
        // steps 3 and 4 as one affine map per channel: x * scale[c] + shift[c]
        const [lo, hi] = this.range;
        const mean = this.perChannel(this.opts.mean, channels, 0);
        const std = this.perChannel(this.opts.std, channels, 1);
        const scale = Float32Array.from(std, (s) => (hi - lo) / 2 / s);
        const shift = Float32Array.from(std, (s, i) => ((lo + hi) / 2 - mean[i]) / s);
        y = y.mul(tensor(scale, { shape: [1, channels, 1, 1] })).add(tensor(shift, { shape: [1, channels, 1, 1] }));
        return Float32Array.from(y.contiguous().data() as Float32Array);
      }),
    );
    return new ort.Tensor("float32", data, [b, channels, outH, outW]);
  }

  private perChannel(values: number[] | undefined, channels: number, fallback: number): number[] {
    if (!values) return new Array<number>(channels).fill(fallback);
    return values.length === 1 ? new Array<number>(channels).fill(values[0]) : values;
  }

  /** An output as rows [b, width] in float64: checks its batch size, flattens [b, d, 1, 1], rejects non-finite values. */
  private rows(results: ort.InferenceSession.OnnxValueMapType, name: string, what: string, b: number): { values: Float64Array; width: number } {
    const t = results[name] as ort.Tensor;
    const dims = [...t.dims];
    if (dims.length < 2 || dims[0] !== b || dims.slice(2).some((s) => s !== 1)) {
      throw new FewstepError(
        `${this.path}: output '${name}' (${what}) has shape [${dims}] for a batch of ${b}; fewstep takes [n, d] or [n, d, 1, 1]: pick a pooled output (e.g. InceptionV3's pool3, [n, 2048, 1, 1]) or pool the spatial dimensions in the export`,
      );
    }
    if (t.type !== "float32" && t.type !== "float64") throw new FewstepError(`${this.path}: output '${name}' is ${t.type}; fewstep reads float32 or float64 ${what}`);
    const values = Float64Array.from(t.data as Float32Array | Float64Array);
    let bad = 0;
    for (const v of values) if (!Number.isFinite(v)) bad++;
    if (bad > 0) {
      throw new FewstepError(
        `${this.path}: output '${name}' (${what}) has ${bad} NaN or infinite value(s) of ${values.length}; check the pixel range and mean/std match what the network was trained on`,
      );
    }
    return { values, width: dims[1] };
  }

  dispose(): void {
    void this.session.release();
  }
}

/**
 * Bilinear interpolation from `inSize` samples to `outSize`, as a row-major [outSize, inSize]
 * matrix: PyTorch's align_corners = false source index src = (i + 0.5) * inSize / outSize - 0.5,
 * clamped at 0, between samples floor(src) and floor(src) + 1 (the last one repeated at the edge).
 * Downsampling takes only the two nearest samples (no antialiasing), as F.interpolate does.
 */
export function bilinearWeights(outSize: number, inSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const lambda = src - i0;
    m[i * inSize + i0] += 1 - lambda;
    m[i * inSize + i1] += lambda;
  }
  return m;
}
