// Rebuilding a denoiser (MLP or U-Net) from a fewstep checkpoint (checkpoint.ts): the architecture
// comes from the checkpoint's metadata ("model": { kind, config }), the weights from its EMA
// averages when saved (the weights one samples with) or else its parameters. With `wInput: true`
// a teacher's checkpoint becomes a stage-one student (DESIGN.md section 4): the missing w path
// starts with its last layer at zero, so the student computes exactly the teacher's x-hat at every w.
import { ConfigError, type Device } from "../engine/index.js";
import type { MlpDenoiser } from "../nn/mlp-denoiser.js";
import type { DenoiserModel } from "../nn/model.js";
import { buildDenoiser, isDenoiserMetadata, isModelKind, kindsOfRole, resolveModelMetadata, MODEL_KINDS, type ModelMetadata } from "../nn/registry.js";
import { ParamStore } from "../nn/param-store.js";
import { disposeCheckpoint, loadCheckpoint, type Checkpoint } from "./checkpoint.js";
import { CheckpointError } from "./errors.js";

/** Options of loadModel. */
export interface LoadModelOptions {
  /**
   * Whether the model takes w. `true` on a checkpoint without a w path adds a fresh one (last layer
   * zero); `false` on one with a w path is an error (dropping it would change the model).
   * @default the checkpoint's own config.wInput
   */
  wInput?: boolean;
  /** Load the raw parameters even when EMA averages are saved. @default false */
  ignoreEma?: boolean;
  /** Seed of the store; only draws the first layer of an added w path. @default 0 */
  seed?: number;
  /** Where the model's parameters live ("cuda" needs a CUDA build of the addon). @default "cpu" */
  device?: Device;
}

/** The model description saved under metadata.model by trainers, checked and resolved. */
export function modelMetadataFromCheckpoint(path: string, metadata: Record<string, unknown>): ModelMetadata {
  const model = metadata.model as { kind?: unknown; config?: unknown } | undefined;
  if (!model || typeof model !== "object" || !isModelKind(model.kind) || typeof model.config !== "object" || model.config === null) {
    throw new CheckpointError(`${path}: not a fewstep model checkpoint: metadata.model must be { kind: ${MODEL_KINDS.map((k) => `"${k}"`).join(" | ")}, config }, got ${JSON.stringify(model)?.slice(0, 120)}`);
  }
  try {
    return resolveModelMetadata(model as { kind: unknown; config: Record<string, unknown> });
  } catch (err) {
    throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Builds the model of an already loaded checkpoint (does not dispose it). */
export function modelFromCheckpoint(path: string, checkpoint: Checkpoint, opts: LoadModelOptions = {}): DenoiserModel {
  const meta = modelMetadataFromCheckpoint(path, checkpoint.metadata);
  if (!isDenoiserMetadata(meta) || meta.kind === "classifier") {
    throw new CheckpointError(`${path}: not a denoiser checkpoint: it holds a ${meta.kind}; a denoiser is one of ${kindsOfRole("denoiser").join(", ")}`);
  }
  if (opts.wInput === false && meta.config.wInput) {
    throw new ConfigError(`${path}: the checkpoint's model takes w (a stage-one student); it cannot be loaded without its w input`);
  }
  const model = buildDenoiser(new ParamStore({ seed: opts.seed ?? 0, device: opts.device ?? "cpu" }), { ...meta, config: { ...meta.config, wInput: opts.wInput ?? meta.config.wInput } } as ModelMetadata);
  const weights = !opts.ignoreEma && checkpoint.ema ? checkpoint.ema : checkpoint.params;
  try {
    model.loadWeights(weights);
  } catch (err) {
    model.dispose();
    throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
  }
  return model;
}

/**
 * Loads a denoiser from a checkpoint written by a fewstep trainer (or any writer that stores
 * `metadata.model = model.metadata()`): EMA weights when present, else the parameters.
 * @throws CheckpointError naming `path`: unreadable, not a fewstep checkpoint, unknown model kind,
 *   missing/unexpected parameter names or shapes
 * @throws ConfigError when `wInput: false` is asked of a w-input checkpoint
 */
export function loadModel(path: string, opts: LoadModelOptions = {}): DenoiserModel {
  const checkpoint = loadCheckpoint(path);
  try {
    return modelFromCheckpoint(path, checkpoint, opts);
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** loadModel for a checkpoint that must hold an MLP denoiser. */
export function loadMlpDenoiser(path: string, opts: LoadModelOptions = {}): MlpDenoiser {
  const checkpoint = loadCheckpoint(path);
  try {
    const kind = (checkpoint.metadata.model as { kind?: unknown } | undefined)?.kind;
    if (kind !== "mlp-denoiser") throw new CheckpointError(`${path}: not an MLP denoiser checkpoint: metadata.model.kind is ${JSON.stringify(kind)}`);
    return modelFromCheckpoint(path, checkpoint, opts) as MlpDenoiser;
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
