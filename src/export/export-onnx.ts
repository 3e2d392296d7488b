// ONNX export of fewstep denoisers (teachers and distilled students), written without Python:
// the graph is emitted from the model's config and named parameters (emit-mlp.ts, emit-unet.ts)
// and encoded with protobufjs (onnx-proto.ts).
//
// The exported model's contract (the browser demo and other consumers code against it):
//   inputs   z     float32 [batch, ...exampleShape]   the noisy example z_t
//            t     float32 [batch]                    time in [0, 1] (cosine log-SNR schedule)
//            class int64   [batch]                    label; numClasses is the null (unconditional) class
//            w     float32 [batch]                    guidance weight (only models with a w input)
//   output   x_hat float32 [batch, ...exampleShape]   x-hat(z_t, t, class[, w]), whatever the prediction
//   metadata_props "fewstep": JSON FewstepOnnxMetadata (src/portable/onnx-metadata.ts)
// A latent model (one whose checkpoint has a latent record) is exported with its autoencoder's
// decoder (export-autoencoder.ts), whose file name its metadata "latent" records.
import { basename } from "node:path";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { modelFromCheckpoint } from "../io/load-model.js";
import { LAMBDA_MAX, LAMBDA_MIN } from "../diffusion/schedule.js";
import { ConfigError } from "../engine/index.js";
import { distillMetadata } from "../distill/metadata.js";
import type { DenoiserModel } from "../nn/model.js";
import type { ConfigOf, ModelKind, ModelMetadata } from "../nn/registry.js";
import { WeightSource } from "./emit-layers.js";
import { emitMlpDenoiser, type DenoiserInputs } from "./emit-mlp.js";
import { emitUNet } from "./emit-unet.js";
import { GraphBuilder } from "./graph-builder.js";
import { encodeFewstepModel, ONNX_OPSET } from "./onnx-file.js";
import { FEWSTEP_ONNX_FORMAT, type FewstepOnnxMetadata, type LatentOnnxInfo } from "../portable/onnx-metadata.js";
import { type LatentRecord, latentRecordOf } from "../io/latent-record.js";
import { type AutoencoderOnnxExport, exportLatentParts } from "./export-autoencoder.js";

export { FEWSTEP_METADATA_KEY, ONNX_IR_VERSION, ONNX_OPSET } from "./onnx-file.js";

/**
 * The JSON stored under metadata_props "fewstep": the contract `src/portable` reads (one
 * definition, there), with the fields an export always writes.
 */
export type ExportedMetadata = FewstepOnnxMetadata & { wMax: number; weights: "ema" | "params"; wRange: [number, number] | null; role: "denoiser" };

/** What an export produced, for the CLI's report. */
export interface OnnxExport {
  bytes: Uint8Array;
  metadata: ExportedMetadata;
  inputs: { name: string; type: string; shape: (number | string)[] }[];
  output: { name: string; type: string; shape: (number | string)[] };
  opset: number;
  parameterCount: number;
}

/** Facts about the model that are not in its config: where it came from and how it was distilled. */
export interface ExportInfo {
  source: string;
  weights: "ema" | "params";
  steps?: number | null;
  classNames?: string[];
  wRange?: [number, number] | null;
  /** A latent model's latent space and decoder file (metadata "latent"). */
  latent?: LatentOnnxInfo;
}

/** A checkpoint's export: the denoiser and, for a latent model, its autoencoder's parts. */
export interface CheckpointOnnxExport extends OnnxExport {
  decoder: AutoencoderOnnxExport | null;
  encoder: AutoencoderOnnxExport | null;
}

/** Emits a denoiser's x-hat into the graph; returns the output's name. */
type Emitter<K extends ModelKind> = (g: GraphBuilder, ws: WeightSource, config: ConfigOf<K>, io: DenoiserInputs) => string;

/**
 * One entry per model kind (the mapped type makes the compiler ask for a new kind): its emitter,
 * or why it is not exported.
 */
const EMITTERS: { [K in ModelKind]: Emitter<K> | { notExported: string } } = {
  "mlp-denoiser": emitMlpDenoiser,
  unet: (g, ws, config, io) => {
    const unsupported = [config.contextDim > 0 && "cross-attention to a text context", config.condChannels > 0 && "condition image channels", config.pooledDim > 0 && "a pooled text vector"].filter(Boolean);
    if (unsupported.length > 0) throw new ConfigError(`ONNX export: this U-Net has ${unsupported.join(" and ")}, which the export contract (z, t, class, w) does not carry yet`);
    return emitUNet(g, ws, config, io);
  },
  classifier: { notExported: "a classifier is a feature network for FID/IS, not a denoiser; fewstep exports denoisers only" },
  "autoencoder-kl": { notExported: "an autoencoder is not a denoiser; export its decoder or encoder with exportAutoencoderToOnnx (fewstep export --autoencoder)" },
};

function emitDenoiser(g: GraphBuilder, ws: WeightSource, meta: ModelMetadata, io: DenoiserInputs): string {
  const emitter = EMITTERS[meta.kind] as Emitter<ModelKind> | { notExported: string } | undefined;
  if (emitter === undefined) throw new ConfigError(`ONNX export: unknown model kind ${JSON.stringify(meta.kind)}`);
  if ("notExported" in emitter) throw new ConfigError(`ONNX export: ${emitter.notExported}`);
  if (meta.kind === "mlp-denoiser" && meta.config.pooledDim > 0) throw new ConfigError("ONNX export: this MLP takes a pooled text vector, which the export contract (z, t, class, w) does not carry yet");
  return emitter(g, ws, meta.config as never, io);
}

/**
 * The ONNX model of a denoiser's forward (x-hat), with a dynamic batch dimension "batch".
 * @throws Error when the graph would not use every parameter of the model (an emitter out of step with nn/)
 */
export function exportModelToOnnx(model: DenoiserModel, info: ExportInfo): OnnxExport {
  const meta = model.metadata();
  const config = model.config;
  const example = model.exampleShape;
  const g = new GraphBuilder();
  const batch = "batch";
  const inputs: OnnxExport["inputs"] = [
    { name: "z", type: "float32", shape: [batch, ...example] },
    { name: "t", type: "float32", shape: [batch] },
    { name: "class", type: "int64", shape: [batch] },
  ];
  if (config.wInput) inputs.push({ name: "w", type: "float32", shape: [batch] });
  for (const input of inputs) g.input(input.name, input.type as "float32" | "int64", input.shape);
  const io = { z: "z", t: "t", labels: "class", w: config.wInput ? "w" : null };
  const ws = WeightSource.of(model.named(), model.store.prefix);
  const xHat = emitDenoiser(g, ws, meta, io);
  const unused = ws.unused();
  if (unused.length > 0) throw new Error(`ONNX export: the graph leaves out parameters ${unused.join(", ")}; the exporter does not match the ${meta.kind} forward`);
  const output = { name: "x_hat", type: "float32", shape: [batch, ...example] };
  g.output(xHat, output.name, "float32", output.shape);

  const metadata: ExportedMetadata = {
    format: FEWSTEP_ONNX_FORMAT,
    kind: meta.kind,
    exampleShape: example,
    numClasses: config.numClasses,
    ...(info.classNames ? { classNames: info.classNames } : {}),
    wInput: config.wInput,
    wMax: config.wMax,
    prediction: config.prediction,
    schedule: { type: "cosine-logsnr", lambdaMin: LAMBDA_MIN, lambdaMax: LAMBDA_MAX },
    steps: info.steps ?? null,
    source: info.source,
    weights: info.weights,
    wRange: info.wRange ?? null,
    role: "denoiser",
    ...(info.latent ? { latent: info.latent } : {}),
  };
  const bytes = encodeFewstepModel(g, {
    graphName: `fewstep-${meta.kind}`,
    docString: `fewstep ${meta.kind} denoiser: x_hat(z, t, class${config.wInput ? ", w" : ""}); exported from ${info.source}`,
    metadata,
  });
  return { bytes, metadata, inputs, output, opset: ONNX_OPSET, parameterCount: g.parameterCount };
}

/** Options of exportCheckpointToOnnx. */
export interface CheckpointExportOptions {
  /** One name per class; replaces the names the checkpoint saved from its data. */
  classNames?: string[];
  /** Latent model: the decoder's file name, recorded in the denoiser's metadata (the caller writes it beside the denoiser). @default "<checkpoint name>.decoder.onnx" */
  decoderFile?: string;
  /** Latent model: the autoencoder to use instead of the one its record locates (its hash must match). */
  autoencoder?: string;
  /** Latent model: export the encoder too. @default false */
  withEncoder?: boolean;
}

/**
 * Loads a fewstep checkpoint (EMA weights when it has them, as loadModel does) and exports it; a
 * latent model (one with a latent record, io/latent-record.ts) also gets its autoencoder's decoder
 * (and with `withEncoder` its encoder), taken from the recorded autoencoder after checking its hash.
 * @throws CheckpointError for an unreadable or non-fewstep checkpoint, an unknown model kind, or a
 *   latent model whose autoencoder is missing or another one
 */
export function exportCheckpointToOnnx(path: string, opts: CheckpointExportOptions = {}): CheckpointOnnxExport {
  const checkpoint = loadCheckpoint(path);
  let model: DenoiserModel;
  let info: ExportInfo;
  let record: LatentRecord | null;
  try {
    if ((checkpoint.metadata.model as { kind?: unknown } | undefined)?.kind === "autoencoder-kl") {
      throw new ConfigError(`${path} is an autoencoder, not a denoiser: export its decoder or encoder with --autoencoder ${path} [--part decoder|encoder]`);
    }
    model = modelFromCheckpoint(path, checkpoint);
    const m = checkpoint.metadata as { dataset?: { classNames?: unknown }; weightsFrom?: { weights?: unknown } };
    const distill = distillMetadata(checkpoint.metadata);
    const names = m.dataset?.classNames;
    record = latentRecordOf(checkpoint.metadata, path);
    info = {
      source: basename(path),
      // a weights file (fewstep weights) holds the EMA averages as plain parameters and says so
      weights: checkpoint.ema ? "ema" : m.weightsFrom?.weights === "ema" ? "ema" : "params",
      steps: distill?.steps ?? null,
      classNames: opts.classNames ?? (Array.isArray(names) && names.every((n) => typeof n === "string") ? (names as string[]) : undefined),
      wRange: distill ? [distill.wMin, distill.wMax] : null,
    };
  } finally {
    disposeCheckpoint(checkpoint);
  }
  try {
    if (info.classNames && info.classNames.length !== model.config.numClasses) {
      throw new ConfigError(`${path}: ${info.classNames.length} class names given for a model of ${model.config.numClasses} classes; give one name per class`);
    }
    if (record === null) {
      if (opts.autoencoder !== undefined || opts.withEncoder) throw new ConfigError(`${path} is not a latent model (no latent record), so it has no autoencoder to export; leave out --autoencoder and --with-encoder`);
      return { ...exportModelToOnnx(model, info), decoder: null, encoder: null };
    }
    const parts = exportLatentParts(path, record, { autoencoder: opts.autoencoder, withEncoder: opts.withEncoder });
    const latentShape = parts.decoder.metadata.latentShape;
    if (latentShape.join() !== model.exampleShape.join()) {
      throw new ConfigError(`${path}: the model's examples are [${model.exampleShape}] but its autoencoder makes latents [${latentShape}] of images [${record.imageShape}]; the latent record does not fit this model`);
    }
    const decoderFile = opts.decoderFile ?? `${basename(path).replace(/\.safetensors$/, "")}.decoder.onnx`;
    if (basename(decoderFile) !== decoderFile) throw new ConfigError(`decoder file ${decoderFile}: give a file name without a folder (the decoder is found beside the denoiser)`);
    info.latent = { decoder: decoderFile, autoencoderSha256: record.autoencoder.sha256, imageShape: record.imageShape.slice(), cropTo: record.cropTo };
    return { ...exportModelToOnnx(model, info), ...parts };
  } finally {
    model.dispose();
  }
}
