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
import { readFileSync } from "node:fs";
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
import { FEWSTEP_ONNX_FORMAT, type FewstepOnnxMetadata } from "../portable/onnx-metadata.js";

/** Opset 17: has LayerNormalization; GroupNormalization (18) is built from InstanceNormalization. */
export const ONNX_OPSET = 17;
/** IR version 8 (ONNX 1.10+), the version that goes with opset 17; onnxruntime 1.30 reads it. */
export const ONNX_IR_VERSION = 8;
/** fewstep's version (package.json, two folders above dist/src/export), the ModelProto's producer_version. */
function fewstepVersion(): string {
  try {
    return String(JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version);
  } catch {
    return "unknown";
  }
}

/** The metadata_props key of the fewstep record. */
export const FEWSTEP_METADATA_KEY = "fewstep";

/**
 * The JSON stored under metadata_props "fewstep": the contract `src/portable` reads (one
 * definition, there), with the fields an export always writes.
 */
export type ExportedMetadata = FewstepOnnxMetadata & { wMax: number; weights: "ema" | "params"; wRange: [number, number] | null };

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
  "autoencoder-kl": { notExported: "an autoencoder is not a denoiser; its decoder and encoder are not exported to ONNX yet" },
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
  };
  const bytes = g.encode({
    graphName: `fewstep-${meta.kind}`,
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: "fewstep",
    producerVersion: fewstepVersion(),
    docString: `fewstep ${meta.kind} denoiser: x_hat(z, t, class${config.wInput ? ", w" : ""}); exported from ${info.source}`,
    metadata: { [FEWSTEP_METADATA_KEY]: JSON.stringify(metadata) },
  });
  return { bytes, metadata, inputs, output, opset: ONNX_OPSET, parameterCount: g.parameterCount };
}

/**
 * Loads a fewstep checkpoint (EMA weights when it has them, as loadModel does) and exports it;
 * `classNames` (one per class) replaces the names the checkpoint saved from its data.
 * @throws CheckpointError for an unreadable or non-fewstep checkpoint or an unknown model kind
 */
export function exportCheckpointToOnnx(path: string, opts: { classNames?: string[] } = {}): OnnxExport {
  const checkpoint = loadCheckpoint(path);
  let model: DenoiserModel;
  let info: ExportInfo;
  try {
    model = modelFromCheckpoint(path, checkpoint);
    const m = checkpoint.metadata as { dataset?: { classNames?: unknown }; weightsFrom?: { weights?: unknown } };
    const distill = distillMetadata(checkpoint.metadata);
    const names = m.dataset?.classNames;
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
  if (info.classNames && info.classNames.length !== model.config.numClasses) {
    const count = info.classNames.length;
    model.dispose();
    throw new ConfigError(`${path}: ${count} class names given for a model of ${model.config.numClasses} classes; give one name per class`);
  }
  try {
    return exportModelToOnnx(model, info);
  } finally {
    model.dispose();
  }
}
