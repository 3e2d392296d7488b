// An exported fewstep model on ONNX Runtime, in Node (onnxruntime-node) or the browser
// (onnxruntime-web). Both share the onnxruntime-common API; this file only describes the few
// members it uses and takes the runtime as an argument, so it imports neither and bundles for both.
// Contract of `fewstep export`: inputs z float32 [n, ...exampleShape], t float32 [n], class int64 [n]
// (numClasses = null class), w float32 [n] (w-input models only); output x_hat, like z.
import type { PortableCond, PortableDenoiser } from "./denoiser.js";
import { type FewstepOnnxMetadata, OnnxMetadataError, readFewstepMetadata } from "./onnx-metadata.js";
import { type PortableSampleRequest, exampleSize, samplePortable } from "./sample.js";

/** The part of an onnxruntime Tensor this adapter reads. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
}
/** onnxruntime's `Tensor` constructor (its `new Tensor(data, dims)` form). */
export type OrtTensorConstructor = new (data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensorLike;
/** The part of an onnxruntime InferenceSession this adapter uses. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}
/** An onnxruntime module: `import * as ort from "onnxruntime-node"` (or "onnxruntime-web"). */
export interface OrtModuleLike {
  Tensor: OrtTensorConstructor;
  InferenceSession: { create(buffer: Uint8Array, options?: object): Promise<OrtSessionLike> };
}

const INPUT_NAMES = { z: "z", t: "t", label: "class", w: "w" } as const;
const OUTPUT_NAME = "x_hat";

/** A fewstep ONNX model: its metadata, its denoiser, and sampling through the portable samplers. */
export class FewstepOnnxModel {
  /** @param source names the model in error messages */
  constructor(
    readonly session: OrtSessionLike,
    readonly metadata: FewstepOnnxMetadata,
    private readonly Tensor: OrtTensorConstructor,
    readonly source = "model",
  ) {
    const need = [INPUT_NAMES.z, INPUT_NAMES.t, INPUT_NAMES.label, ...(metadata.wInput ? [INPUT_NAMES.w] : [])];
    const missing = need.filter((name) => !session.inputNames.includes(name));
    if (missing.length > 0) throw new OnnxMetadataError(`${source}: the graph lacks input(s) ${missing.join(", ")} (it has ${session.inputNames.join(", ")})`);
    if (!session.outputNames.includes(OUTPUT_NAME)) throw new OnnxMetadataError(`${source}: the graph has no output "${OUTPUT_NAME}" (it has ${session.outputNames.join(", ")})`);
  }

  /** One model call: x-hat(z_t, t, class[, w]) for a batch, as the portable samplers call it. */
  readonly denoise: PortableDenoiser = async (z: Float32Array, t: Float32Array, cond: PortableCond): Promise<Float32Array> => {
    const n = t.length;
    const { exampleShape, wInput } = this.metadata;
    if (z.length !== n * exampleSize(exampleShape)) throw new RangeError(`${this.source}: z has ${z.length} numbers, not ${n} examples of [${exampleShape}]`);
    const feeds: Record<string, OrtTensorLike> = {
      [INPUT_NAMES.z]: new this.Tensor(z, [n, ...exampleShape]),
      [INPUT_NAMES.t]: new this.Tensor(t, [n]),
      [INPUT_NAMES.label]: new this.Tensor(BigInt64Array.from(cond.labels, (c) => BigInt(c)), [n]),
    };
    if (wInput) {
      if (!cond.w) throw new RangeError(`${this.source} takes w as an input: pass cond.w`);
      feeds[INPUT_NAMES.w] = new this.Tensor(cond.w, [n]);
    }
    const out = (await this.session.run(feeds))[OUTPUT_NAME];
    if (!(out.data instanceof Float32Array)) throw new OnnxMetadataError(`${this.source}: output ${OUTPUT_NAME} is not float32`);
    return out.data;
  };

  /**
   * Samples [n, ...exampleShape] (flattened). Refuses a w outside the model's distilled range and, for a
   * student distilled for N steps, any other step count (its sampler was distilled for that grid).
   */
  async sample(request: PortableSampleRequest): Promise<Float32Array> {
    this.checkRequest(request);
    return samplePortable(this.denoise, this.metadata, request);
  }

  /** Throws a RangeError naming the flag-like field when a request does not fit this model. */
  checkRequest(request: Pick<PortableSampleRequest, "w" | "steps">): void {
    const { wMax, wRange, steps } = this.metadata;
    if (!(request.w >= 0)) throw new RangeError(`w ${request.w}: guidance weight w must be >= 0`);
    // the distilled range when the file records it (a single-w student: [w, w]), else [0, wMax]
    const [lo, hi] = wRange ?? [0, wMax ?? Infinity];
    if (this.metadata.wInput && (request.w < lo - 1e-9 || request.w > hi + 1e-9)) throw new RangeError(`w ${request.w}: ${this.source} was distilled for w in [${lo}, ${hi}]`);
    if (steps !== null && request.steps !== steps) throw new RangeError(`steps ${request.steps}: ${this.source} was distilled for ${steps} steps`);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Opens an exported model from its bytes: reads and checks the metadata, creates the session.
 * @param ort the onnxruntime-node or onnxruntime-web module
 * @param sessionOptions passed to InferenceSession.create (e.g. executionProviders)
 */
export async function openFewstepOnnx(ort: OrtModuleLike, bytes: Uint8Array, opts: { source?: string; sessionOptions?: object } = {}): Promise<FewstepOnnxModel> {
  const source = opts.source ?? "model";
  const metadata = readFewstepMetadata(bytes, source);
  const session = await ort.InferenceSession.create(bytes, opts.sessionOptions);
  try {
    return new FewstepOnnxModel(session, metadata, ort.Tensor, source);
  } catch (error) {
    await session.release();
    throw error;
  }
}
