// An exported autoencoder part on ONNX Runtime (Node or the browser), like ort-session.ts for the
// denoiser: the decoder turns a latent model's samples into images, the encoder images into
// latents. The runtime is passed in, so this imports neither onnxruntime package.
// Contract of `fewstep export` (src/export/export-autoencoder.ts): decoder latents [n, L, h, w] ->
// image [n, C, H, W] (center-cropped when the file says so); encoder image [n, C, S, S] -> mean,
// logvar, latents [n, L, h, w].
import { type FewstepAutoencoderOnnxMetadata, type FewstepOnnxMetadata, OnnxMetadataError, decodedImageShape, readFewstepAutoencoderMetadata } from "./onnx-metadata.js";
import type { OrtModuleLike, OrtSessionLike, OrtTensorConstructor, OrtTensorLike } from "./ort-session.js";
import { exampleSize } from "./sample.js";

/** Examples per session run when a call gives more: bounds the activations' memory. @default 64 */
const DEFAULT_BATCH = 64;

/** One part of an exported autoencoder: its metadata and a batched run of its graph. */
abstract class FewstepOnnxAutoencoderPart {
  constructor(
    readonly session: OrtSessionLike,
    readonly metadata: FewstepAutoencoderOnnxMetadata,
    private readonly Tensor: OrtTensorConstructor,
    readonly source: string,
    input: string,
    outputs: readonly string[],
  ) {
    if (!session.inputNames.includes(input)) throw new OnnxMetadataError(`${source}: the graph has no input "${input}" (it has ${session.inputNames.join(", ")})`);
    const missing = outputs.filter((name) => !session.outputNames.includes(name));
    if (missing.length > 0) throw new OnnxMetadataError(`${source}: the graph lacks output(s) ${missing.join(", ")} (it has ${session.outputNames.join(", ")})`);
  }

  /** Runs `input` [n, ...inShape] (flattened) in batches of `batchSize`; returns each output, flattened [n, ...outShapes[k]]. */
  protected async runBatched(input: string, values: Float32Array, inShape: readonly number[], outputs: Record<string, readonly number[]>, batchSize = DEFAULT_BATCH): Promise<Record<string, Float32Array>> {
    const inSize = exampleSize(inShape);
    const n = values.length / inSize;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${this.source}: ${input} has ${values.length} numbers, not a whole number (>= 1) of examples of [${inShape}]`);
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`${this.source}: batch size must be a positive integer, got ${batchSize}`);
    const result = Object.fromEntries(Object.entries(outputs).map(([name, shape]) => [name, new Float32Array(n * exampleSize(shape))]));
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const feeds = { [input]: new this.Tensor(values.slice(start * inSize, (start + size) * inSize), [size, ...inShape]) };
      const out = await this.session.run(feeds);
      for (const [name, shape] of Object.entries(outputs)) {
        const data = (out[name] as OrtTensorLike).data;
        if (!(data instanceof Float32Array)) throw new OnnxMetadataError(`${this.source}: output ${name} is not float32`);
        const outSize = exampleSize(shape);
        if (data.length !== size * outSize) throw new OnnxMetadataError(`${this.source}: output ${name} has ${data.length} numbers, not ${size} of [${shape}]`);
        result[name].set(data, start * outSize);
      }
    }
    return result;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** An exported decoder: images from diffusion latents. */
export class FewstepOnnxDecoder extends FewstepOnnxAutoencoderPart {
  constructor(session: OrtSessionLike, metadata: FewstepAutoencoderOnnxMetadata, Tensor: OrtTensorConstructor, source = "decoder") {
    super(session, metadata, Tensor, source, "latents", ["image"]);
  }

  /** Shape [C, H, W] of one decoded image (after the crop, when the file has one). */
  get imageShape(): number[] {
    return decodedImageShape(this.metadata);
  }

  /** Images [n, ...imageShape] (flattened) from latents [n, ...latentShape] (flattened). */
  async decode(latents: Float32Array, opts: { batchSize?: number } = {}): Promise<Float32Array> {
    return (await this.runBatched("latents", latents, this.metadata.latentShape, { image: this.imageShape }, opts.batchSize)).image;
  }
}

/** An exported encoder: the posterior and diffusion latents of images. */
export class FewstepOnnxEncoder extends FewstepOnnxAutoencoderPart {
  constructor(session: OrtSessionLike, metadata: FewstepAutoencoderOnnxMetadata, Tensor: OrtTensorConstructor, source = "encoder") {
    super(session, metadata, Tensor, source, "image", ["mean", "logvar", "latents"]);
  }

  /** mean, logvar and latents (mean * scalingFactor), each [n, ...latentShape] flattened, of images [n, ...imageShape] (flattened). */
  async encode(images: Float32Array, opts: { batchSize?: number } = {}): Promise<{ mean: Float32Array; logvar: Float32Array; latents: Float32Array }> {
    const shape = this.metadata.latentShape;
    const out = await this.runBatched("image", images, this.metadata.imageShape, { mean: shape, logvar: shape, latents: shape }, opts.batchSize);
    return { mean: out.mean, logvar: out.logvar, latents: out.latents };
  }
}

/**
 * Why `decoder` cannot decode the samples of the latent denoiser `model` (another autoencoder, other
 * latents or images than its record), or null when it fits.
 */
export function decoderMismatch(model: FewstepOnnxMetadata, decoder: FewstepAutoencoderOnnxMetadata, sources: { model: string; decoder: string }): string | null {
  const latent = model.latent;
  if (!latent) return `${sources.model} is not a latent model: its samples are images already, with no decoder`;
  if (decoder.autoencoderSha256 !== latent.autoencoderSha256) {
    return `${sources.decoder} is the decoder of autoencoder ${decoder.autoencoderSha256.slice(0, 12)}..., but ${sources.model} was trained on the latents of ${latent.autoencoderSha256.slice(0, 12)}...; export them together with \`fewstep export --model\``;
  }
  const same = (a: readonly number[], b: readonly number[]) => a.join() === b.join();
  if (!same(decoder.latentShape, model.exampleShape) || !same(decoder.imageShape, latent.imageShape) || decoder.cropTo !== latent.cropTo) {
    return `${sources.decoder} decodes latents [${decoder.latentShape}] to images [${decoder.imageShape}] cropped to ${decoder.cropTo}, but ${sources.model} samples [${model.exampleShape}] of images [${latent.imageShape}] cropped to ${latent.cropTo}; export them together with \`fewstep export --model\``;
  }
  return null;
}

/**
 * Opens an exported decoder from its bytes; with `forModel` (a latent denoiser's metadata) it must
 * be that model's decoder.
 * @throws OnnxMetadataError for a file that is not a fewstep decoder, or another model's
 */
export async function openFewstepDecoder(ort: OrtModuleLike, bytes: Uint8Array, opts: { source?: string; sessionOptions?: object; forModel?: { metadata: FewstepOnnxMetadata; source: string } } = {}): Promise<FewstepOnnxDecoder> {
  const source = opts.source ?? "decoder";
  const metadata = readFewstepAutoencoderMetadata(bytes, "decoder", source);
  if (opts.forModel) {
    const problem = decoderMismatch(opts.forModel.metadata, metadata, { model: opts.forModel.source, decoder: source });
    if (problem) throw new OnnxMetadataError(problem);
  }
  const session = await ort.InferenceSession.create(bytes, opts.sessionOptions);
  try {
    return new FewstepOnnxDecoder(session, metadata, ort.Tensor, source);
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** Opens an exported encoder from its bytes. @throws OnnxMetadataError for a file that is not a fewstep encoder */
export async function openFewstepEncoder(ort: OrtModuleLike, bytes: Uint8Array, opts: { source?: string; sessionOptions?: object } = {}): Promise<FewstepOnnxEncoder> {
  const source = opts.source ?? "encoder";
  const metadata = readFewstepAutoencoderMetadata(bytes, "encoder", source);
  const session = await ort.InferenceSession.create(bytes, opts.sessionOptions);
  try {
    return new FewstepOnnxEncoder(session, metadata, ort.Tensor, source);
  } catch (error) {
    await session.release();
    throw error;
  }
}
