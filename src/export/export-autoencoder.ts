// ONNX export of an autoencoder's two parts (emit-autoencoder.ts), for latent models that run
// where libtorch does not: the decoder turns a latent student's samples into images, the encoder
// turns images into latents (editing, SDEdit). Shapes are fixed (the record's or the config's
// image side); the batch dimension is free.
//
// The contract (metadata_props "fewstep": FewstepAutoencoderOnnxMetadata, src/portable/onnx-metadata.ts):
//   decoder  input  latents float32 [batch, latent_channels, h, w]   diffusion latents (scaling_factor * z)
//            output image   float32 [batch, C, S, S]                  in [-1, 1] nominally; [batch, C, cropTo, cropTo] when cropped
//   encoder  input  image   float32 [batch, C, S, S]
//            output mean, logvar (clamped to [-30, 20]), latents = mean * scaling_factor, each [batch, latent_channels, h, w]
import { basename } from "node:path";
import { ConfigError } from "../engine/index.js";
import { centerCropOffset, type LatentRecord, locateAutoencoder } from "../io/latent-record.js";
import { type LoadedAutoencoder, loadAutoencoder } from "../io/load-autoencoder.js";
import { CheckpointError } from "../io/errors.js";
import type { AutoencoderKL } from "../nn/autoencoder.js";
import { FEWSTEP_ONNX_FORMAT, type FewstepAutoencoderOnnxMetadata, decodedImageShape } from "../portable/onnx-metadata.js";
import { WeightSource } from "./emit-layers.js";
import { emitDecoder, emitEncoder } from "./emit-autoencoder.js";
import { GraphBuilder } from "./graph-builder.js";
import { encodeFewstepModel, ONNX_OPSET } from "./onnx-file.js";

export type AutoencoderPart = "decoder" | "encoder";

/** Where each part's parameters live (diffusers' names); a name under neither belongs to no part. */
const PART_PREFIXES: Record<AutoencoderPart, string[]> = { decoder: ["decoder.", "post_quant_conv."], encoder: ["encoder.", "quant_conv."] };

interface TensorSpec {
  name: string;
  type: "float32";
  shape: (number | string)[];
}

/** One exported part, for the CLI's report. */
export interface AutoencoderOnnxExport {
  bytes: Uint8Array;
  metadata: FewstepAutoencoderOnnxMetadata;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  opset: number;
  parameterCount: number;
}

export interface AutoencoderExportInfo {
  /** The autoencoder file it came from (its name goes into the metadata). */
  source: string;
  /** The autoencoder's content hash (io/load-autoencoder.ts autoencoderHash). */
  sha256: string;
  /** Images [C, S, S] the graph is fixed to. @default [in_channels, sample_size, sample_size] */
  imageShape?: number[];
  /** Decoder: center-crop the image output to [cropTo, cropTo] (a latent record's crop). @default null */
  cropTo?: number | null;
}

/**
 * The ONNX model of the autoencoder's decoder (decodeLatents, then the crop) or encoder (encode and
 * the latents mean * scaling_factor), batch dimension "batch".
 * @throws ShapeError when the image side does not divide by the down factor; Error when the graph
 *   leaves out a parameter of its part (an emitter out of step with nn/autoencoder.ts)
 */
export function exportAutoencoderToOnnx(model: AutoencoderKL, part: AutoencoderPart, info: AutoencoderExportInfo): AutoencoderOnnxExport {
  const c = model.config;
  const side = info.imageShape?.[1] ?? c.sample_size;
  const inputImage = [c.in_channels, side, info.imageShape?.[2] ?? side];
  const latentShape = model.latentShape(inputImage);
  const cropTo = part === "decoder" ? (info.cropTo ?? null) : null;
  if (cropTo !== null && !(Number.isSafeInteger(cropTo) && cropTo >= 1 && cropTo <= Math.min(inputImage[1], inputImage[2]))) {
    throw new ConfigError(`ONNX export: crop side ${cropTo} must be an integer in [1, ${Math.min(inputImage[1], inputImage[2])}] (the decoded image's side)`);
  }
  const imageShape = part === "decoder" ? [c.out_channels, inputImage[1], inputImage[2]] : inputImage;
  const metadata: FewstepAutoencoderOnnxMetadata = {
    format: FEWSTEP_ONNX_FORMAT,
    role: part,
    kind: model.kind,
    latentShape,
    imageShape,
    cropTo,
    scalingFactor: c.scaling_factor,
    autoencoderSha256: info.sha256,
    source: info.source,
  };

  const g = new GraphBuilder();
  const batch = "batch";
  const ws = WeightSource.of(model.named(), model.store.prefix);
  const latents: TensorSpec = { name: "latents", type: "float32", shape: [batch, ...latentShape] };
  let inputs: TensorSpec[];
  let outputs: TensorSpec[];
  if (part === "decoder") {
    inputs = [latents];
    outputs = [{ name: "image", type: "float32", shape: [batch, ...decodedImageShape(metadata)] }];
    g.input("latents", "float32", latents.shape);
    const crop = cropTo === null ? null : { size: inputImage[1], cropTo, offset: centerCropOffset(inputImage[1], cropTo) };
    g.output(emitDecoder(g, ws, c, "latents", crop), "image", "float32", outputs[0].shape);
  } else {
    inputs = [{ name: "image", type: "float32", shape: [batch, ...inputImage] }];
    outputs = [{ ...latents, name: "mean" }, { ...latents, name: "logvar" }, latents];
    g.input("image", "float32", inputs[0].shape);
    const { mean, logvar } = emitEncoder(g, ws, c, "image");
    g.output(mean, "mean", "float32", latents.shape);
    g.output(logvar, "logvar", "float32", latents.shape);
    g.output(g.op("Mul", [mean, g.constFloat(c.scaling_factor)]), "latents", "float32", latents.shape);
  }
  const prefix = model.store.prefix ? `${model.store.prefix}.` : "";
  const other = part === "decoder" ? PART_PREFIXES.encoder : PART_PREFIXES.decoder;
  const unused = ws.unused().filter((name) => !other.some((p) => name.startsWith(prefix + p)));
  if (unused.length > 0) throw new Error(`ONNX export: the ${part} graph leaves out parameters ${unused.join(", ")}; the exporter does not match the ${model.kind} forward`);

  const bytes = encodeFewstepModel(g, {
    graphName: `fewstep-${model.kind}-${part}`,
    docString: part === "decoder" ? `fewstep ${model.kind} decoder: image(latents); exported from ${info.source}` : `fewstep ${model.kind} encoder: mean, logvar, latents(image); exported from ${info.source}`,
    metadata,
  });
  return { bytes, metadata, inputs, outputs, opset: ONNX_OPSET, parameterCount: g.parameterCount };
}

/**
 * The autoencoder a latent checkpoint was trained with: `given` (a path the user named) or the one
 * its record locates, loaded and checked against the recorded hash.
 * @throws CheckpointError when it is missing, or its sha256 is not the recorded one (naming both)
 */
export function autoencoderOfCheckpoint(checkpointPath: string, record: LatentRecord, given?: string): LoadedAutoencoder {
  const path = given ?? locateAutoencoder(record, checkpointPath);
  const loaded = loadAutoencoder(path);
  const want = record.autoencoder.sha256;
  if (loaded.sha256 !== want) {
    loaded.model.dispose();
    throw new CheckpointError(`${path}: autoencoder sha256 ${loaded.sha256} is not ${want}, the one ${checkpointPath} was trained with; pass --autoencoder with that autoencoder (recorded as ${record.autoencoder.path})`);
  }
  return loaded;
}

/** A latent checkpoint's decoder (and encoder) from its recorded autoencoder, fixed to the record's image shape and crop. */
export function exportLatentParts(checkpointPath: string, record: LatentRecord, opts: { autoencoder?: string; withEncoder?: boolean } = {}): { decoder: AutoencoderOnnxExport; encoder: AutoencoderOnnxExport | null } {
  const loaded = autoencoderOfCheckpoint(checkpointPath, record, opts.autoencoder);
  try {
    const info = { source: basename(loaded.path), sha256: loaded.sha256, imageShape: record.imageShape };
    const decoder = exportAutoencoderToOnnx(loaded.model, "decoder", { ...info, cropTo: record.cropTo });
    const encoder = opts.withEncoder ? exportAutoencoderToOnnx(loaded.model, "encoder", info) : null;
    return { decoder, encoder };
  } finally {
    loaded.model.dispose();
  }
}

/** An autoencoder file's part on its own (`fewstep export --autoencoder`), at the config's sample_size unless `imageSide` is given. */
export function exportAutoencoderFile(path: string, part: AutoencoderPart, opts: { imageSide?: number } = {}): AutoencoderOnnxExport {
  const loaded = loadAutoencoder(path);
  try {
    const c = loaded.model.config;
    const side = opts.imageSide ?? c.sample_size;
    return exportAutoencoderToOnnx(loaded.model, part, { source: basename(path), sha256: loaded.sha256, imageShape: [c.in_channels, side, side] });
  } finally {
    loaded.model.dispose();
  }
}
