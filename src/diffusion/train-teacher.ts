// Teacher training: a class-conditional diffusion model with condition dropout, so one network
// gives both x-hat(z, c) and x-hat(z, null) for classifier-free guidance (Ho & Salimans 2022,
// alg. 1), in fewstep's continuous time (DESIGN.md section 4):
//   t ~ U[0, 1],  eps ~ N(0, I),  z_t = alpha_t x + sigma_t eps,  c -> null with prob. pUncond,
//   loss = mean_batch  weight(lambda_t) * ||x-hat(z_t, t, c) - x||^2 / D
// with weight = max(SNR, 1) by default ("truncated-snr", Salimans & Ho 2022, sec. 4).
// The initial weights come from Generator(seed); data, t, eps and dropout from the run's data
// generator (train-state.ts: dataGenerator(seed, device), on the training device), whose state a
// checkpoint saves with the weights, EMA and optimizer, so a resumed run reproduces an
// uninterrupted one exactly. The objective itself is teacher-loss.ts.
import { AdamW, ConfigError, EMA, type Device, type Generator, type Tensor } from "../engine/index.js";
import { progressPrinter, trainLoop, type TrainProgress } from "./train-loop.js";
import { loadCheckpoint, disposeCheckpoint } from "../io/checkpoint.js";
import { modelMetadataFromCheckpoint } from "../io/load-model.js";
import type { MlpDenoiserConfig } from "../nn/mlp-denoiser.js";
import type { DenoiserModel } from "../nn/model.js";
import { buildDenoiser, denoiserMetadataForData, type ModelKind, type ModelMetadata } from "../nn/registry.js";
import { ParamStore } from "../nn/param-store.js";
import type { UNetConfig } from "../nn/unet.js";
import type { ConditionedDataset } from "./dataset.js";
import { LOSS_WEIGHTINGS, type LossWeighting } from "./schedule.js";
import { teacherLoss } from "./teacher-loss.js";
import { dataGenerator, datasetMetadata, emaNamed, resumeTrainState, saveTrainState, type TrainState } from "./train-state.js";

export type { TrainProgress };

/** Options of trainTeacher. Everything but `dataset` has a default (TEACHER_DEFAULTS). */
export interface TrainTeacherOptions {
  /** The conditional data to fit. Required. */
  dataset: ConditionedDataset;
  /**
   * Which network (a denoiser kind of nn/registry.ts).
   * @default the registry's default for the data's example shape: "mlp-denoiser" for [D], "unet" for [C, H, W]
   */
  architecture?: ModelKind;
  /**
   * The architecture's settings; the data's shape and class count fill in the rest
   * (dim; or channels and size). @default MLP_DENOISER_DEFAULTS or UNET_DEFAULTS
   */
  model?: Partial<Omit<MlpDenoiserConfig, "dim" | "numClasses">> | Partial<Omit<UNetConfig, "channels" | "size" | "numClasses">>;
  /** Total optimizer steps. @default 10000 */
  steps?: number;
  /** Examples per step. @default 256 */
  batchSize?: number;
  /** Peak AdamW learning rate. @default 1e-3 */
  lr?: number;
  /** Steps of linear warmup from lr / warmupSteps to lr. @default 100 */
  warmupSteps?: number;
  /** AdamW's decoupled weight decay. @default 0 */
  weightDecay?: number;
  /** Maximum global gradient norm. @default 1 */
  gradClip?: number;
  /** EMA decay of the weights. @default 0.999 */
  emaDecay?: number;
  /** Probability of replacing a label by the null class. @default 0.1 */
  pUncond?: number;
  /** x-space loss weight. @default "truncated-snr" */
  weighting?: LossWeighting;
  /** Seed of the initial weights and of the data generator (train-state.ts). @default 0 */
  seed?: number;
  /** Where the parameters, optimizer state, EMA and every training draw live. @default "cpu" */
  device?: Device;
  /** Called between backward and clipping (a gradient all-reduce goes here). @default none */
  afterBackward?: (params: Tensor[]) => void;
  /** Report progress every this many steps (and at the last). @default 100 */
  progressEvery?: number;
  /** Progress callback; null for silence. @default progressPrinter(process.stderr) */
  onProgress?: ((progress: TrainProgress) => void) | null;
  /** Where to write checkpoints; none are written without it. @default undefined */
  checkpointPath?: string;
  /** Write a checkpoint every this many steps (0: only at the end or on abort). @default 1000 */
  checkpointEvery?: number;
  /** Continue from `checkpointPath` (weights, EMA, optimizer, generator, step). @default false */
  resume?: boolean;
  /** Stops training after the current step; a checkpoint is written first when a path is set. @default undefined */
  signal?: AbortSignal;
  /**
   * Called every `every` steps (and after the last) with a model holding the current EMA weights,
   * for sample grids; the model is disposed after the call returns. @default undefined
   */
  snapshot?: { every: number; fn: (step: number, emaModel: DenoiserModel) => void };
  /** More metadata for every checkpoint (a latent teacher's latent record). @default none */
  metadata?: Record<string, unknown>;
}

/** The trained model and the state behind it. dispose() frees all of it. */
export interface TrainTeacherResult {
  /** The live (non-averaged) model. */
  model: DenoiserModel;
  /** The EMA of the model's parameters (ema.averages in model.parameters() order). */
  ema: EMA;
  optimizer: AdamW;
  /** The generator, at the state after the last step. */
  generator: Generator;
  /** Steps done in total (including those before a resume). */
  step: number;
  /** Whether `signal` stopped the run before `steps`. */
  stopped: boolean;
  /** Mean loss of the last report window (NaN when no step ran). */
  loss: number;
  /** A new model holding the EMA weights (the one to sample with); the caller disposes it. */
  emaModel(): DenoiserModel;
  /** EMA averages by parameter name (live references). */
  emaNamed(): Map<string, Tensor>;
  /** Frees the model, EMA and optimizer state. */
  dispose(): void;
}

/** Defaults of trainTeacher, each with its reason. */
export const TEACHER_DEFAULTS = {
  // Enough for the default 256x4 MLP to fit low-dimensional mixtures closely; 3-8 minutes on
  // 2 CPU cores at 20-50 steps/s (measured), seconds on a GPU.
  steps: 10_000,
  // Large enough that t ~ U[0, 1] covers every noise level in each batch; cheap for vectors.
  batchSize: 256,
  // Adam's usual rate for small MLPs; stable here because of warmup and clipping.
  lr: 1e-3,
  // Adam's second-moment estimate is noisy for its first ~1/(1 - beta2) updates; a short warmup
  // keeps the first high-SNR batches (weights up to max(SNR, 1)) from throwing the weights off.
  warmupSteps: 100,
  // None: a teacher should fit the data distribution, and decay pulls x-hat towards 0 (DDPM,
  // ADM and k-diffusion train without it). AdamW still makes a non-zero value decoupled.
  weightDecay: 0,
  // The released distillation setting (DESIGN.md section 4); also tames rare large-weight batches.
  gradClip: 1,
  // Averages over ~1000 steps, 10% of the default run: smooths SGD noise without lagging far.
  emaDecay: 0.999,
  // Ho & Salimans 2022 found 0.1-0.2 best; 0.1 keeps most capacity for the conditional model.
  pUncond: 0.1,
  // max(SNR, 1): the eps-loss at low noise and the x-loss at high noise (DESIGN.md section 4).
  weighting: "truncated-snr" as LossWeighting,
  seed: 0,
  // Frequent enough for a live bar, rare enough that the loss read-out (a sync) costs nothing.
  progressEvery: 100,
  // A crash loses at most ~10% of a default run; each write is a few MB at most.
  checkpointEvery: 1000,
} as const;

type Resolved = Required<Omit<TrainTeacherOptions, "dataset" | "model" | "architecture" | "onProgress" | "checkpointPath" | "signal" | "snapshot" | "device" | "afterBackward" | "metadata">>;

function resolveOptions(opts: TrainTeacherOptions): Resolved {
  const r: Resolved = {
    steps: opts.steps ?? TEACHER_DEFAULTS.steps,
    batchSize: opts.batchSize ?? TEACHER_DEFAULTS.batchSize,
    lr: opts.lr ?? TEACHER_DEFAULTS.lr,
    warmupSteps: opts.warmupSteps ?? TEACHER_DEFAULTS.warmupSteps,
    weightDecay: opts.weightDecay ?? TEACHER_DEFAULTS.weightDecay,
    gradClip: opts.gradClip ?? TEACHER_DEFAULTS.gradClip,
    emaDecay: opts.emaDecay ?? TEACHER_DEFAULTS.emaDecay,
    pUncond: opts.pUncond ?? TEACHER_DEFAULTS.pUncond,
    weighting: opts.weighting ?? TEACHER_DEFAULTS.weighting,
    seed: opts.seed ?? TEACHER_DEFAULTS.seed,
    progressEvery: opts.progressEvery ?? TEACHER_DEFAULTS.progressEvery,
    checkpointEvery: opts.checkpointEvery ?? TEACHER_DEFAULTS.checkpointEvery,
    resume: opts.resume ?? false,
  };
  const bad: string[] = [];
  const int = (name: keyof Resolved, min: number) => {
    if (!Number.isSafeInteger(r[name]) || (r[name] as number) < min) bad.push(`${name} must be an integer >= ${min}, got ${JSON.stringify(r[name])}`);
  };
  const num = (name: keyof Resolved, ok: (v: number) => boolean, what: string) => {
    const v = r[name];
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) bad.push(`${name} must be ${what}, got ${JSON.stringify(v)}`);
  };
  int("steps", 1);
  int("batchSize", 1);
  int("warmupSteps", 0);
  int("seed", 0);
  int("progressEvery", 1);
  int("checkpointEvery", 0);
  num("lr", (v) => v > 0, "a positive number");
  num("weightDecay", (v) => v >= 0, "a non-negative number");
  num("gradClip", (v) => v > 0, "a positive number");
  num("emaDecay", (v) => v >= 0 && v < 1, "in [0, 1)");
  num("pUncond", (v) => v >= 0 && v <= 1, "in [0, 1]");
  if (!LOSS_WEIGHTINGS.includes(r.weighting)) bad.push(`weighting must be one of ${LOSS_WEIGHTINGS.join(", ")}, got ${JSON.stringify(r.weighting)}`);
  if (typeof r.resume !== "boolean") bad.push(`resume must be true or false, got ${JSON.stringify(r.resume)}`);
  if (r.resume && !opts.checkpointPath) bad.push("resume needs checkpointPath");
  if (bad.length > 0) throw new ConfigError(`trainTeacher: ${bad.join("; ")}`);
  return r;
}

/** Learning rate of the 1-based step: linear warmup, then constant. */
function lrAt(step: number, o: Resolved): number {
  return o.warmupSteps > 0 ? o.lr * Math.min(1, step / o.warmupSteps) : o.lr;
}

/**
 * Trains a class-conditional MlpDenoiser teacher on `dataset` (see the file header for the
 * objective). Asynchronous only so that progress reports and Ctrl-C (via `signal`) get event-loop
 * turns between steps; each step itself runs synchronously in one `tidy`.
 *
 * @example
 * const { emaModel, dispose } = await trainTeacher({ dataset, steps: 5000, checkpointPath: "run/teacher.safetensors" });
 * @throws ConfigError on invalid options (every bad field in one message) or a resume config mismatch
 * @throws CheckpointError when resuming from a missing or incomplete checkpoint
 * @throws FewstepError when the loss becomes NaN or infinite
 */
export async function trainTeacher(opts: TrainTeacherOptions): Promise<TrainTeacherResult> {
  const o = resolveOptions(opts);
  const { dataset } = opts;
  const onProgress = opts.onProgress === undefined ? progressPrinter() : opts.onProgress;

  const device = opts.device ?? "cpu";
  let meta = teacherModelMetadata(dataset, opts.architecture, opts.model ?? {});
  if (o.resume) meta = resumedModelMetadata(opts.checkpointPath!, meta, opts.model ?? {});

  const model = buildDenoiser(new ParamStore({ seed: o.seed, device }), meta);
  const generator = dataGenerator(o.seed, device);
  // Dropout (U-Net) draws its masks from the data generator, so resume stays exact.
  model.training = true;
  model.dropoutGenerator = generator;
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: lrAt(1, o), weightDecay: o.weightDecay });
  const ema = new EMA(params, o.emaDecay);
  const state: TrainState = { named: () => model.named(), loadWeights: (v) => model.loadWeights(v), optimizer, generator, ema };
  const disposeAll = () => {
    ema.dispose();
    optimizer.dispose();
    model.dispose();
  };
  let step = 0;
  if (o.resume) {
    try {
      step = resumeTrainState(opts.checkpointPath!, state).step;
    } catch (err) {
      disposeAll();
      throw err;
    }
  }

  const metadata = () => ({
    model: model.metadata(),
    stage: "teacher",
    train: { ...o, resume: undefined, device },
    dataset: datasetMetadata(dataset),
    ...(opts.metadata ?? {}),
  });
  const save = (atStep: number) => saveTrainState(opts.checkpointPath!, state, atStep, metadata());

  const emaModel = () => {
    const copy = buildDenoiser(new ParamStore({ seed: o.seed, device }), model.metadata());
    copy.loadWeights(emaNamed(state));
    return copy;
  };
  const snapshot = opts.snapshot;
  let result: { step: number; stopped: boolean; loss: number };
  try {
    result = await trainLoop({
      name: "trainTeacher",
      params,
      optimizer,
      generator,
      ema,
      steps: o.steps,
      startStep: step,
      resumed: o.resume,
      lrAt: (s) => lrAt(s, o),
      gradClip: o.gradClip,
      progressEvery: o.progressEvery,
      onProgress,
      signal: opts.signal,
      checkpointEvery: o.checkpointEvery,
      save: opts.checkpointPath ? save : undefined,
      afterBackward: opts.afterBackward,
      afterStep: snapshot
        ? (s) => {
            if (s % snapshot.every !== 0 && s !== o.steps) return;
            const copy = emaModel();
            try {
              snapshot.fn(s, copy);
            } finally {
              copy.dispose();
            }
          }
        : undefined,
      loss: () => teacherLoss({ model, dataset, batchSize: o.batchSize, pUncond: o.pUncond, weighting: o.weighting }, generator),
    });
  } catch (err) {
    disposeAll();
    throw err;
  }
  const { stopped, loss: lastLoss } = result;
  step = result.step;

  model.training = false;
  return {
    model,
    ema,
    optimizer,
    generator,
    step,
    stopped,
    loss: lastLoss,
    emaNamed: () => emaNamed(state),
    emaModel,
    dispose: disposeAll,
  };
}

/** The teacher's architecture record: the data's shape and classes plus the given settings. */
export function teacherModelMetadata(dataset: Pick<ConditionedDataset, "exampleShape" | "numClasses">, architecture: ModelKind | undefined, model: Record<string, unknown>): ModelMetadata {
  try {
    return denoiserMetadataForData(dataset, architecture, model);
  } catch (err) {
    throw err instanceof ConfigError ? new ConfigError(`trainTeacher: ${err.message}`, { cause: err }) : err;
  }
}

/** The architecture saved in the checkpoint being resumed; a setting given here that differs is an error. */
function resumedModelMetadata(path: string, wanted: ModelMetadata, given: Record<string, unknown>): ModelMetadata {
  const checkpoint = loadCheckpoint(path);
  try {
    const saved = modelMetadataFromCheckpoint(path, checkpoint.metadata);
    if (saved.kind !== wanted.kind) throw new ConfigError(`trainTeacher: resume from ${path}: the checkpoint holds a ${saved.kind} but a ${wanted.kind} was asked for`);
    const keys = new Set([...Object.keys(given), "dim", "numClasses", "channels", "size"]);
    const savedConfig = saved.config as unknown as Record<string, unknown>;
    const wantedConfig = wanted.config as unknown as Record<string, unknown>;
    const differs = Object.keys(savedConfig).filter((k) => keys.has(k) && JSON.stringify(savedConfig[k]) !== JSON.stringify(wantedConfig[k]));
    if (differs.length > 0) {
      throw new ConfigError(`trainTeacher: resume from ${path}: ${differs.map((k) => `model.${k} is ${JSON.stringify(savedConfig[k])} there but ${JSON.stringify(wantedConfig[k])} here`).join("; ")}`);
    }
    return saved;
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

export { progressPrinter };
