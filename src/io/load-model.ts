// Rebuilding a denoiser (MLP or U-Net) from a fewstep checkpoint (checkpoint.ts): the architecture
// comes from the checkpoint's metadata ("model": { kind, config }), the weights from its EMA
// averages when saved (the weights one samples with) or else its parameters. With `wInput: true`
// a teacher's checkpoint becomes a stage-one student (DESIGN.md section 4): the missing w path
// starts with its last layer at zero, so the student computes exactly the teacher's x-hat at every w.
import { ConfigError, tidy, type Device, type Tensor } from "../engine/index.js";
import type { MlpDenoiser } from "../nn/mlp-denoiser.js";
import type { DenoiserModel } from "../nn/model.js";
import { buildDenoiser, isDenoiserMetadata, isModelKind, kindsOfRole, resolveModelMetadata, MODEL_KINDS, type ModelMetadata } from "../nn/registry.js";
import { ParamStore } from "../nn/param-store.js";
import { unetResolutions, UNET_DEFAULTS } from "../nn/unet.js";
import { unetLayout } from "../nn/unet.js";
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

/**
 * Stored configs from before a check that newer versions make: a U-Net's attention resolutions the
 * net never reaches had no effect, so dropping them loads the same model (new configs refuse them).
 */
function storedConfigFixups(model: { kind: unknown; config: Record<string, unknown> }): { kind: unknown; config: Record<string, unknown> } {
  const c = model.config;
  const channelMults = c.channelMults ?? UNET_DEFAULTS.channelMults;
  if (model.kind !== "unet" || !Array.isArray(c.attentionResolutions) || !Array.isArray(channelMults) || typeof c.size !== "number") return model;
  const resolutions = unetResolutions({ size: c.size, channelMults: channelMults as number[] });
  return { ...model, config: { ...c, attentionResolutions: (c.attentionResolutions as unknown[]).filter((r) => resolutions.includes(r as number)) } };
}

/** The model description saved under metadata.model by trainers, checked and resolved. */
export function modelMetadataFromCheckpoint(path: string, metadata: Record<string, unknown>): ModelMetadata {
  const model = metadata.model as { kind?: unknown; config?: unknown } | undefined;
  if (!model || typeof model !== "object" || !isModelKind(model.kind) || typeof model.config !== "object" || model.config === null) {
    throw new CheckpointError(`${path}: not a fewstep model checkpoint: metadata.model must be { kind: ${MODEL_KINDS.map((k) => `"${k}"`).join(" | ")}, config }, got ${JSON.stringify(model)?.slice(0, 120)}`);
  }
  try {
    return resolveModelMetadata(storedConfigFixups(model as { kind: unknown; config: Record<string, unknown> }));
  } catch (err) {
    throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
  }
}

const FLOAT_DTYPES = new Set(["float32", "float64", "float16", "bfloat16"]);

/**
 * Checks stored weights before anything is built from them: every one floating point (an I32 or
 * I64 tensor is no weight) and finite.
 * @throws CheckpointError naming `path` and each bad tensor
 */
export function checkStoredWeights(path: string, weights: Map<string, Tensor>): void {
  const bad: string[] = [];
  for (const [name, t] of weights) {
    if (!FLOAT_DTYPES.has(t.dtype)) {
      bad.push(`weight ${name} is ${t.dtype}, not a floating-point type (float32, float64, float16, bfloat16)`);
      continue;
    }
    const [nan, inf] = tidy(() => [t.isnan().sum().item(), t.isfinite().logicalNot().sum().item() - t.isnan().sum().item()]);
    if (nan > 0) bad.push(`weight ${name} has ${nan} NaN value${nan === 1 ? "" : "s"}`);
    if (inf > 0) bad.push(`weight ${name} has ${inf} infinite value${inf === 1 ? "" : "s"}`);
  }
  if (bad.length > 0) throw new CheckpointError(`${path}: ${bad.join("; ")}`);
}

/**
 * A lower bound on the parameter count of the model `meta` describes, from the config alone
 * (nothing allocated): the square layers that dominate it. 0 for kinds without an estimate.
 */
export function minParameterCount(meta: ModelMetadata): number {
  if (meta.kind === "mlp-denoiser") {
    const c = meta.config;
    // input and output Linear weights, then fc1, emb and fc2 of each block
    return 2 * c.dim * c.hidden + 3 * c.depth * c.hidden * c.hidden;
  }
  if (meta.kind === "unet") {
    const { down, middle, up } = unetLayout(meta.config);
    // conv1 [cout, cin, 3, 3] and conv2 [cout, cout, 3, 3] of every residual block
    return [...down, ...middle, ...up].reduce((n, s) => (s.kind === "res" ? n + 9 * s.cout * (s.cin + s.cout) : n), 0);
  }
  return 0;
}

/**
 * Refuses a config that implies more parameters than the checkpoint stores, before the model is
 * built (a crafted config must not allocate gigabytes only to fail the name and shape comparison).
 * @throws CheckpointError naming `path`, the implied lower bound and the stored count
 */
export function checkParameterBudget(path: string, meta: ModelMetadata, weights: Map<string, Tensor>): void {
  const needed = minParameterCount(meta);
  let stored = 0;
  for (const t of weights.values()) stored += t.numel;
  if (needed > stored) {
    throw new CheckpointError(`${path}: its ${meta.kind} config implies at least ${needed} parameters but the checkpoint stores ${stored} weight values; the config does not describe these weights`);
  }
}

/** Builds the model of an already loaded checkpoint (does not dispose it). */
export function modelFromCheckpoint(path: string, checkpoint: Checkpoint, opts: LoadModelOptions = {}): DenoiserModel {
  const meta = modelMetadataFromCheckpoint(path, checkpoint.metadata);
  if (!isDenoiserMetadata(meta)) {
    throw new CheckpointError(`${path}: not a denoiser checkpoint: it holds a ${meta.kind}; a denoiser is one of ${kindsOfRole("denoiser").join(", ")}`);
  }
  if (opts.wInput === false && meta.config.wInput) {
    throw new ConfigError(`${path}: the checkpoint's model takes w (a stage-one student); it cannot be loaded without its w input`);
  }
  const weights = !opts.ignoreEma && checkpoint.ema ? checkpoint.ema : checkpoint.params;
  checkStoredWeights(path, weights);
  checkParameterBudget(path, meta, weights);
  const model = buildDenoiser(new ParamStore({ seed: opts.seed ?? 0, device: opts.device ?? "cpu" }), { ...meta, config: { ...meta.config, wInput: opts.wInput ?? meta.config.wInput } } as ModelMetadata);
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
 *   missing/unexpected parameter names or shapes, a weight that is not floating point or not finite,
 *   a config that implies more parameters than are stored, a config past its size limits
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
