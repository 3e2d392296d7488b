// Training the autoencoder of a latent diffusion model (nn/autoencoder.ts) with latent
// diffusion's objective (autoencoder-loss.ts) through the loop every trainer shares
// (diffusion/train-loop.ts): AdamW with warmup, gradient clipping, EMA, progress, atomic
// checkpoints, exact resume (weights, EMA, optimizer, data generator, step).
// Every checkpoint carries the latent scaling factor (config.scaling_factor): 1 / std of the EMA
// autoencoder's posterior samples over `scaleImages` training images (Rombach et al.'s
// scale_by_std, which gave Stable Diffusion its 0.18215), drawn with generators of their own so
// that the estimate does not move the training stream.
import { AdamW, ConfigError, EMA, FewstepError, Generator, keep, noGrad, tidy, zeros, type Device, type Tensor } from "../engine/index.js";
import type { LabeledDataset } from "../diffusion/dataset.js";
import { progressPrinter, trainLoop, type TrainProgress } from "../diffusion/train-loop.js";
import { dataGenerator, datasetMetadata, emaNamed, resumeTrainState, saveTrainState, type TrainState } from "../diffusion/train-state.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { modelMetadataFromCheckpoint } from "../io/load-model.js";
import { AutoencoderKL, resolveAutoencoderConfig, samplePosterior, type AutoencoderKLConfig } from "../nn/autoencoder.js";
import { ParamStore } from "../nn/param-store.js";
import { adaptiveWeight, autoencoderLoss, hingeLoss } from "./autoencoder-loss.js";
import { PatchDiscriminator } from "../nn/patch-discriminator.js";

export interface TrainAutoencoderOptions {
  /** Images [C, S, S] in [-1, 1]; S must divide by the down factor. Required. */
  dataset: LabeledDataset;
  /** The architecture (diffusers field names); the data fills in_channels and sample_size. @default AUTOENCODER_DEFAULTS */
  model?: Partial<Omit<AutoencoderKLConfig, "in_channels" | "out_channels" | "sample_size" | "scaling_factor">>;
  /** @default 6000 */
  steps?: number;
  /** @default 32 */
  batchSize?: number;
  /** Peak AdamW lr after a linear warmup. @default 5e-4 */
  lr?: number;
  /** @default 100 */
  warmupSteps?: number;
  /** @default 1 */
  gradClip?: number;
  /** @default 0.999 */
  emaDecay?: number;
  /** @default 1e-6 */
  klWeight?: number;
  /** Weight of an added summed squared error. @default 0 */
  l2Weight?: number;
  /** Training images the scaling factor is estimated on. @default 4096 */
  scaleImages?: number;
  /** @default 0 */
  seed?: number;
  /** @default "cpu" */
  device?: Device;
  /** Called between backward and clipping (a gradient all-reduce goes here). */
  afterBackward?: (params: Tensor[]) => void;
  /** @default 100 */
  progressEvery?: number;
  /** Progress with the window's mean reconstruction and KL terms; null for silence. @default a printer on stderr */
  onProgress?: ((p: TrainProgress & { rec: number; kl: number }) => void) | null;
  checkpointPath?: string;
  /** @default 1000 */
  checkpointEvery?: number;
  resume?: boolean;
  signal?: AbortSignal;
  /** Called every `every` steps (and after the last) with the EMA autoencoder (disposed after the call). */
  snapshot?: { every: number; fn: (step: number, ema: AutoencoderKL) => void };
  /** Extra metadata saved in every checkpoint (the data's description). */
  metadata?: Record<string, unknown>;
  /**
   * LDM's PatchGAN term: the discriminator trains from step `start` on (hinge loss, AdamW at the
   * same lr with betas (0.5, 0.9) as LDM's Adam), and the autoencoder's loss gains
   * adaptive weight x `weight` x its generator term. Its weights and optimizer state are saved in
   * the checkpoint (as discriminator.* and disc.*), so resume stays exact. @default none
   */
  discriminator?: { start: number; weight?: number; width?: number; layers?: number };
}

/** Defaults of trainAutoencoder, each with its reason. */
export const AUTOENCODER_TRAIN_DEFAULTS = {
  // Fashion-MNIST at 32 x 32 (factor 4, the default widths): reconstructions sharpen over the first
  // few thousand steps on two CPU cores; see docs/RESULTS.md for the measured run.
  steps: 6000,
  batchSize: 32,
  // Adam's rate for a small conv net; the summed L1 loss is large, but Adam is scale-free.
  lr: 5e-4,
  warmupSteps: 100,
  gradClip: 1,
  emaDecay: 0.999,
  // LDM's KL weight for its kl-f4 and kl-f8 autoencoders (with its sum-per-example reductions).
  klWeight: 1e-6,
  l2Weight: 0,
  // The std of 4096 x 64 latent values has a relative standard error of ~0.1%.
  scaleImages: 4096,
  seed: 0,
  progressEvery: 100,
  checkpointEvery: 1000,
} as const;

type Resolved = { -readonly [K in keyof typeof AUTOENCODER_TRAIN_DEFAULTS]: number } & { resume: boolean };

function resolveOptions(opts: TrainAutoencoderOptions): Resolved {
  const D = AUTOENCODER_TRAIN_DEFAULTS;
  const r = Object.fromEntries(Object.keys(D).map((k) => [k, (opts as unknown as Record<string, unknown>)[k] ?? D[k as keyof typeof D]])) as Resolved;
  r.resume = opts.resume ?? false;
  const bad: string[] = [];
  for (const name of ["steps", "batchSize", "scaleImages", "progressEvery"] as const) if (!Number.isSafeInteger(r[name]) || r[name] < 1) bad.push(`${name} must be an integer >= 1, got ${JSON.stringify(r[name])}`);
  for (const name of ["warmupSteps", "seed", "checkpointEvery"] as const) if (!Number.isSafeInteger(r[name]) || r[name] < 0) bad.push(`${name} must be an integer >= 0, got ${JSON.stringify(r[name])}`);
  for (const name of ["lr", "gradClip"] as const) if (!(r[name] > 0) || !Number.isFinite(r[name])) bad.push(`${name} must be a positive number, got ${JSON.stringify(r[name])}`);
  for (const name of ["klWeight", "l2Weight"] as const) if (!(r[name] >= 0) || !Number.isFinite(r[name])) bad.push(`${name} must be a number >= 0, got ${JSON.stringify(r[name])}`);
  if (!(r.emaDecay >= 0 && r.emaDecay < 1)) bad.push(`emaDecay must be in [0, 1), got ${JSON.stringify(r.emaDecay)}`);
  if (r.resume && !opts.checkpointPath) bad.push("resume needs checkpointPath");
  if (bad.length > 0) throw new ConfigError(`trainAutoencoder: ${bad.join("; ")}`);
  return r;
}

/** The trained autoencoder and its state; dispose() frees all of it. */
export interface TrainAutoencoderResult {
  model: AutoencoderKL;
  /** A new autoencoder with the EMA weights and the estimated scaling factor; the caller disposes it. */
  emaModel(): AutoencoderKL;
  step: number;
  stopped: boolean;
  /** Mean loss of the last report window. */
  loss: number;
  /** The scaling factor of the last checkpoint (or estimated now when none was written). */
  scalingFactor: number;
  dispose(): void;
}

/**
 * 1 / std of posterior samples of `model`'s latents over n images of `dataset` (drawn, and the
 * posterior sampled, from generators seeded by `seed`, apart from any training stream).
 */
export function estimateScalingFactor(model: AutoencoderKL, dataset: LabeledDataset, n: number, seed = 0, batchSize = 256): { scalingFactor: number; std: number; images: number } {
  const pick = new Generator(seed, { device: model.store.device });
  const noise = new Generator(seed + 1, { device: model.store.device });
  const sum = keep(zeros([], { dtype: "float64", device: model.store.device }));
  const sumSq = keep(zeros([], { dtype: "float64", device: model.store.device }));
  let count = 0;
  try {
    for (let done = 0; done < n; done += batchSize) {
      const size = Math.min(batchSize, n - done);
      tidy(() =>
        noGrad(() => {
          const { x } = dataset.sample(size, pick);
          const z = samplePosterior(model.encode(x), noise).to("float64");
          sum.add_(z.sum());
          sumSq.add_(z.square().sum());
          count += z.numel;
        }),
      );
    }
    const mean = sum.item() / count;
    const variance = (sumSq.item() - count * mean * mean) / (count - 1);
    const std = Math.sqrt(Math.max(variance, 0));
    if (!(std > 0) || !Number.isFinite(std)) throw new FewstepError(`the latents' std over ${n} images is ${std}; the autoencoder is degenerate (its encoder output is constant or not finite)`);
    return { scalingFactor: 1 / std, std, images: n };
  } finally {
    sum.dispose();
    sumSq.dispose();
  }
}

/**
 * Trains an AutoencoderKL on `dataset` with latent diffusion's loss (see the file header).
 * @throws ConfigError on invalid options or a resume whose architecture differs
 * @throws FewstepError when the reconstruction or KL term becomes NaN or infinite
 */
export async function trainAutoencoder(opts: TrainAutoencoderOptions): Promise<TrainAutoencoderResult> {
  const o = resolveOptions(opts);
  const { dataset } = opts;
  const device = opts.device ?? "cpu";
  const [channels, size] = [dataset.exampleShape[0], dataset.exampleShape[1]];
  if (dataset.exampleShape.length !== 3) throw new ConfigError(`trainAutoencoder: the data must be images [C, H, W], got examples of shape [${dataset.exampleShape}]`);
  const config = resolveAutoencoderConfig({ ...(opts.model ?? {}), in_channels: channels, out_channels: channels, sample_size: size });
  if (o.resume) checkResumedConfig(opts.checkpointPath!, config);
  const model = new AutoencoderKL(new ParamStore({ seed: o.seed, device }), config as unknown as Record<string, unknown>);
  model.latentShape(dataset.exampleShape); // the down factor must divide the images
  const generator = dataGenerator(o.seed, device);
  const params = model.parameters();
  const lrAt = (step: number) => (o.warmupSteps > 0 ? o.lr * Math.min(1, step / o.warmupSteps) : o.lr);
  const optimizer = new AdamW(params, { lr: lrAt(1) });
  const ema = new EMA(params, o.emaDecay);
  const gan = opts.discriminator ? buildGan(opts.discriminator, channels, o, device) : null;
  const state: TrainState = {
    named: () => model.named(),
    loadWeights: (v) => {
      const own = new Map([...v].filter(([k]) => !k.startsWith(DISC_PREFIX)));
      model.store.load(own);
      if (gan) gan.loadWeights(v);
      else if (own.size !== v.size) throw new ConfigError(`trainAutoencoder: ${opts.checkpointPath} was trained with a discriminator; resume it with the same discriminator settings`);
    },
    optimizer: gan ? gan.jointOptimizer(optimizer) : optimizer,
    ...(gan ? { extraTensors: () => gan.named() } : {}),
    generator,
    ema,
  };
  const sums = { rec: keep(zeros([], { device })), kl: keep(zeros([], { device })) };
  const disposeAll = () => {
    gan?.dispose();
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
  const emaModel = (scalingFactor?: number) => {
    const copy = new AutoencoderKL(new ParamStore({ device }), { ...config, ...(scalingFactor ? { scaling_factor: scalingFactor } : {}) } as unknown as Record<string, unknown>);
    copy.store.load(emaNamed(state));
    return copy;
  };
  let scalingFactor = NaN;
  let scale: ReturnType<typeof estimateScalingFactor> | undefined;
  const save = (atStep: number) => {
    const copy = emaModel();
    try {
      scale = estimateScalingFactor(copy, dataset, o.scaleImages, o.seed + 1_000_003);
    } finally {
      copy.dispose();
    }
    scalingFactor = scale.scalingFactor;
    model.config.scaling_factor = scalingFactor;
    saveTrainState(opts.checkpointPath!, state, atStep, {
      model: model.metadata(),
      stage: "autoencoder",
      train: { ...o, resume: undefined, device },
      autoencoder: { scalingFactor: { std: scale.std, images: scale.images, from: "EMA posterior samples" } },
      dataset: datasetMetadata(dataset),
      ...(opts.metadata ?? {}),
    });
  };
  const printer = opts.onProgress === undefined ? progressPrinter(process.stderr, "autoencoder") : null;
  let windowSteps = 0;
  const snapshot = opts.snapshot;
  let result: { step: number; stopped: boolean; loss: number };
  try {
    result = await trainLoop({
      name: "trainAutoencoder",
      params,
      optimizer,
      generator,
      ema,
      steps: o.steps,
      startStep: step,
      resumed: o.resume,
      lrAt,
      gradClip: o.gradClip,
      progressEvery: o.progressEvery,
      onProgress: (p) => {
        const [rec, kl] = [sums.rec.item() / windowSteps, sums.kl.item() / windowSteps];
        sums.rec.zero_();
        sums.kl.zero_();
        windowSteps = 0;
        if (opts.onProgress) opts.onProgress({ ...p, rec, kl });
        else if (printer) printer(p);
      },
      signal: opts.signal,
      checkpointEvery: o.checkpointEvery,
      save: opts.checkpointPath ? save : undefined,
      afterBackward: opts.afterBackward,
      afterStep: (s) => {
        // LDM's second optimizer step: the discriminator on this batch against fresh reconstructions of the updated autoencoder
        if (gan) gan.discriminatorStep(model, s, generator);
        if (!snapshot || (s % snapshot.every !== 0 && s !== o.steps)) return;
        const copy = emaModel();
        try {
          snapshot.fn(s, copy);
        } finally {
          copy.dispose();
        }
      },
      loss: (g, s) => {
        const x = dataset.sample(o.batchSize, g).x;
        const { loss, rec, kl, reconstructions } = autoencoderLoss(model, x, g, { klWeight: o.klWeight, l2Weight: o.l2Weight });
        noGrad(() => {
          sums.rec.add_(rec.detach());
          sums.kl.add_(kl.detach());
        });
        windowSteps += 1;
        return gan ? gan.withGeneratorTerm(model, x, loss, rec, reconstructions, s) : loss;
      },
    });
  } catch (err) {
    // the loop stops on a non-finite loss; say which term it was
    const kl = sums.kl.item();
    disposeAll();
    if (!Number.isFinite(kl)) {
      throw new FewstepError(
        `trainAutoencoder: the KL term became ${kl} (the encoder's mean or log-variance left the float range); lower the lr (now ${o.lr}) and start again${opts.checkpointPath ? `, or resume from the last checkpoint ${opts.checkpointPath}` : ""}`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    sums.rec.dispose();
    sums.kl.dispose();
  }
  if (!Number.isFinite(scalingFactor)) {
    const copy = emaModel();
    try {
      scalingFactor = estimateScalingFactor(copy, dataset, o.scaleImages, o.seed + 1_000_003).scalingFactor;
    } finally {
      copy.dispose();
    }
  }
  return {
    model,
    emaModel: () => emaModel(scalingFactor),
    step: result.step,
    stopped: result.stopped,
    loss: result.loss,
    scalingFactor,
    dispose: disposeAll,
  };
}

/** A resumed run must build the same network (the scaling factor is re-estimated, so it may differ). */
function checkResumedConfig(path: string, wanted: AutoencoderKLConfig): void {
  const checkpoint = loadCheckpoint(path);
  try {
    const saved = modelMetadataFromCheckpoint(path, checkpoint.metadata);
    if (saved.kind !== "autoencoder-kl") throw new ConfigError(`trainAutoencoder: resume from ${path}: the checkpoint holds a ${saved.kind}, not an autoencoder`);
    const a = saved.config as unknown as Record<string, unknown>;
    const b = wanted as unknown as Record<string, unknown>;
    const differs = Object.keys(b).filter((k) => k !== "scaling_factor" && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    if (differs.length > 0) throw new ConfigError(`trainAutoencoder: resume from ${path}: ${differs.map((k) => `${k} is ${JSON.stringify(a[k])} there but ${JSON.stringify(b[k])} here`).join("; ")}`);
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

const DISC_PREFIX = "discriminator.";
const DISC_OPTIM_PREFIX = "disc.";

/** LDM's discriminator defaults: weight 0.5 (its kl-f4/f8 configs), ndf 64, 3 layers. */
export const DISCRIMINATOR_DEFAULTS = { weight: 0.5, width: 64, layers: 3 };

/** The PatchGAN side of a run: the discriminator, its optimizer, and the two terms it adds. */
function buildGan(d: NonNullable<TrainAutoencoderOptions["discriminator"]>, channels: number, o: Resolved, device: Device) {
  if (!Number.isSafeInteger(d.start) || d.start < 0) throw new ConfigError(`trainAutoencoder: discriminator.start must be an integer >= 0, got ${JSON.stringify(d.start)}`);
  const weight = d.weight ?? DISCRIMINATOR_DEFAULTS.weight;
  const store = new ParamStore({ seed: o.seed + 1, device });
  const disc = new PatchDiscriminator(store.sub("discriminator"), { channels, width: d.width ?? DISCRIMINATOR_DEFAULTS.width, layers: d.layers ?? DISCRIMINATOR_DEFAULTS.layers });
  const discOptimizer = new AdamW(disc.parameters(), { lr: o.lr, betas: [0.5, 0.9], weightDecay: 0 });
  // taming's adopt_weight: the discriminator's factor is 0 while global_step (0-based) < start
  const active = (step: number) => step - 1 >= d.start;
  let batch: Tensor | null = null;
  return {
    named: () => disc.named(),
    loadWeights: (values: Map<string, Tensor>) => {
      const own = new Map([...values].filter(([k]) => k.startsWith(DISC_PREFIX)));
      if (own.size === 0) throw new ConfigError("trainAutoencoder: the checkpoint has no discriminator; resume without one, or start a new run");
      store.load(own);
    },
    /** Both optimizers' states in one record: the autoencoder's as before, the discriminator's under disc.* */
    jointOptimizer: (ae: AdamW) => ({
      stateDict: () => {
        const a = ae.stateDict();
        const b = discOptimizer.stateDict();
        return {
          tensors: { ...a.tensors, ...Object.fromEntries(Object.entries(b.tensors).map(([k, v]) => [DISC_OPTIM_PREFIX + k, v])) },
          scalars: { ...a.scalars, ...Object.fromEntries(Object.entries(b.scalars).map(([k, v]) => [DISC_OPTIM_PREFIX + k, v])) },
        };
      },
      loadStateDict: (s: { tensors: Record<string, Tensor>; scalars: Record<string, number> }) => {
        const split = <T>(r: Record<string, T>, mine: boolean) => Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith(DISC_OPTIM_PREFIX) === mine).map(([k, v]) => [mine ? k.slice(DISC_OPTIM_PREFIX.length) : k, v]));
        ae.loadStateDict({ tensors: split(s.tensors, false), scalars: split(s.scalars, false) });
        discOptimizer.loadStateDict({ tensors: split(s.tensors, true), scalars: split(s.scalars, true) });
      },
    }),
    /** The autoencoder's loss plus the adaptive-weighted generator term (from `start` on); keeps x for the discriminator's step. */
    withGeneratorTerm: (model: AutoencoderKL, x: Tensor, loss: Tensor, rec: Tensor, reconstructions: Tensor, step: number): Tensor => {
      batch?.dispose();
      batch = keep(x.detach());
      if (!active(step)) return loss;
      const g = disc.forward(reconstructions).mean().neg();
      const last = model.named().get("decoder.conv_out.weight")!;
      const dWeight = adaptiveWeight(rec, g, last, [...model.parameters(), ...disc.parameters()]) * weight;
      return loss.add(g.mul(dWeight));
    },
    /** The hinge step on the kept batch and a fresh posterior sample of the updated autoencoder. */
    discriminatorStep: (model: AutoencoderKL, step: number, generator: Generator) => {
      if (!active(step) || batch === null) return;
      const x = batch;
      tidy(() => {
        const fake = noGrad(() => model.decode(samplePosterior(model.encode(x), generator)));
        discOptimizer.zeroGrad();
        hingeLoss(disc.forward(x), disc.forward(fake)).backward();
        discOptimizer.lr = o.lr;
        discOptimizer.step();
      });
    },
    dispose: () => {
      batch?.dispose();
      discOptimizer.dispose();
      disc.dispose();
    },
  };
}
