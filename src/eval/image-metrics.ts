// FID and Inception Score of an image model (teacher or distilled student), with a feature network
// (feature-network.ts) in Inception's place: fewstep's own classifier (nn/classifier.ts: its
// penultimate layer gives FID's features, its softmax IS's p(y|x)) or a user's ONNX network
// (onnx-features.ts). fid.ts holds the formulas. One cell of the paper's tables:
// one model, sampler, step count N and guidance weight w, n samples.
//
// Protocol, fixed so that cells compare:
// - the same noise z ~ N(0, I) [n, C, S, S] from Generator(seed) and the same balanced labels
//   (class i mod K for sample i: n/K each) for every model, N and w, so cells differ only by what
//   is being compared; a stochastic sampler's noise is seeded per batch from the same seed;
// - samples are clipped to [-1, 1] and rounded to 8-bit levels, as if saved as PNG: what the
//   reference images (u8/127.5 - 1) are;
// - guidance as the model is built for: a teacher combines two predictions ("teacher"), a
//   stage-one or stage-two student takes w as an input ("input").
import { ConfigError, Generator, ShapeError, cat, noGrad, randn, tensor, tidy, type Device, type Tensor } from "../engine/index.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import { checkDistilledFor, type DistillMetadata } from "../distill/metadata.js";
import { sampleGuided, type SamplerName } from "../diffusion/sample.js";
import type { ImageClassifier } from "../nn/classifier.js";
import type { FeatureNetwork } from "./feature-network.js";
import { frechetDistance, gaussianStats, inceptionScore, type GaussianStats } from "./fid.js";

/** @default batch size of every classifier and sampler pass (measured fastest on 2 CPU cores among 64-1000) */
export const EVAL_BATCH_SIZE = 250;

/**
 * The classifier's features [n, d] and softmax probabilities [n, K] of images [n, C, S, S] in
 * [-1, 1], computed in batches under noGrad (one forward pass gives both).
 */
export function classifierOutputs(classifier: ImageClassifier, images: Tensor, batchSize = EVAL_BATCH_SIZE): { features: Tensor; probs: Tensor } {
  checkBatchSize(batchSize);
  const n = images.shape[0];
  return tidy(() =>
    noGrad(() => {
      const features: Tensor[] = [];
      const probs: Tensor[] = [];
      for (let start = 0; start < n; start += batchSize) {
        const out = classifier.outputs(images.narrow(0, start, Math.min(batchSize, n - start)));
        features.push(out.features);
        probs.push(out.logits.softmax(1));
      }
      return { features: cat(features), probs: cat(probs) };
    }),
  );
}

/** Mean and covariance (float64) of the classifier's features of `images`: one side of FID. */
export function featureStats(classifier: ImageClassifier, images: Tensor, batchSize = EVAL_BATCH_SIZE): GaussianStats {
  return tidy(() => gaussianStats(classifierOutputs(classifier, images, batchSize).features));
}

/** The classifier's p(y | x) [n, K] of `images`: Inception Score's input. */
export function probs(classifier: ImageClassifier, images: Tensor, batchSize = EVAL_BATCH_SIZE): Tensor {
  return tidy(() => classifierOutputs(classifier, images, batchSize).probs);
}

/** FID against a reference and IS of one set of images. */
export interface ImageScores {
  fid: number;
  /** Inception Score: mean and population std over `splits` chunks; null when the feature network gives no class probabilities. */
  isMean: number | null;
  isStd: number | null;
}

/**
 * FID of the features of `features` [n, d] against `reference`, and IS of `probs` [n, K] (none when
 * null) over min(splits, n) chunks. evaluateModel and scoreImages both end here.
 */
export function scoreOutputs(features: Tensor, probs: Tensor | null, reference: GaussianStats, splits = 10): ImageScores {
  const fid = tidy(() => frechetDistance(gaussianStats(features), reference));
  if (!probs) return { fid, isMean: null, isStd: null };
  const is = inceptionScore(probs, Math.min(splits, probs.shape[0]));
  return { fid, isMean: is.mean, isStd: is.std };
}

/** FID against `reference` and IS of images [n, C, S, S] in [-1, 1]. */
export function scoreImages(classifier: ImageClassifier, images: Tensor, reference: GaussianStats, opts: { batchSize?: number; splits?: number } = {}): ImageScores {
  return tidy(() => {
    const out = classifierOutputs(classifier, images, opts.batchSize);
    return scoreOutputs(out.features, out.probs, reference, opts.splits);
  });
}

/** What evaluateModel samples: a loaded teacher or student, with what it may be asked. */
export interface EvalModel {
  /** Shown in tables and plots, e.g. "teacher", "student-N4". */
  name: string;
  model: CondDenoiser;
  /** What the sampler draws: images [C, S, S], or a latent model's latents [c, h, w]. */
  exampleShape: number[];
  /** Latent models: latents -> images (latent/latent-space.ts), before quantizing and scoring. @default none (pixel model) */
  decode?: (latents: Tensor) => Tensor;
  /** Shape of the images scored: the decoded images' for a latent model. @default exampleShape */
  imageShape?: number[];
  numClasses: number;
  /** "teacher": two predictions combined per step; "input": a student that takes w. */
  guidance: "teacher" | "input";
  /**
   * A distilled student's facts (checkpoint metadata.distill): a stage-two student runs only its
   * own N; both stages only w in [wMin, wMax]. null for a teacher.
   */
  distill: DistillMetadata | null;
  /** Where the model's parameters live; its noise is drawn on the CPU and moved there. @default "cpu" */
  device?: Device;
}

export interface EvaluateOptions {
  sampler: SamplerName;
  /** N, the sampling steps. */
  steps: number;
  /** Guidance weight (paper's convention: 0 = conditional, no guidance). */
  w: number;
  /** Number of samples. @default 10000 */
  n?: number;
  /** Seed of the noise (and a stochastic sampler's noise). @default 0 */
  seed?: number;
  /** Samples per sampler batch (the feature network batches on its own). @default EVAL_BATCH_SIZE */
  batchSize?: number;
  /** IS chunks. @default 10 */
  splits?: number;
  /** The feature network: classifierFeatures(...) or loadOnnxFeatures(...). */
  features: FeatureNetwork;
  /** Reference feature statistics (reference-stats.ts). */
  reference: GaussianStats;
  /** Called after each batch with the samples done so far. */
  onBatch?: (done: number, total: number) => void;
}

/** One cell: FID and IS of n samples. */
export interface EvalCell extends ImageScores {
  n: number;
  /** Wall time of sampling and scoring. */
  seconds: number;
}

/** The noise and balanced labels every cell shares: z [n, ...shape] from Generator(seed), label i mod K. */
export function evalInputs(n: number, exampleShape: number[], numClasses: number, seed: number): { z: Tensor; labels: Tensor } {
  return {
    z: randn([n, ...exampleShape], new Generator(seed)),
    labels: tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i % numClasses))),
  };
}

/**
 * Refuses what a model was not built for: a stage-two student at another N, a student at a w
 * outside its distilled range, or images the feature network does not take.
 * @throws ConfigError / ShapeError naming the model and the fix
 */
export function checkEvalRequest(model: EvalModel, network: FeatureNetwork, steps: number, w: number): void {
  checkDistilledFor(model.distill, model.name, { w, steps });
  const images = model.imageShape ?? model.exampleShape;
  const why = network.incompatibility(images);
  if (why) throw new ShapeError(`${model.name} makes images [${images}] but ${why}`);
  if (!Number.isInteger(steps) || steps < 1) throw new ConfigError(`steps must be a positive integer, got ${steps}`);
}

/** Clip to [-1, 1] and round to the 256 levels of an 8-bit image, as saving a PNG would. */
export function quantizeImages(x: Tensor): Tensor {
  return tidy(() => x.clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1));
}

/**
 * FID (against `reference`) and IS of n samples of `model` with one sampler, N and w; see the file
 * header for the protocol. Batches are sampled and scored in turn, so memory holds one batch of
 * the sampler's work plus the n feature rows. Async because the feature network may be (ONNX):
 * each batch is sampled in its own synchronous scope, then scored outside it.
 * @throws ConfigError / ShapeError from checkEvalRequest
 */
export async function evaluateModel(model: EvalModel, o: EvaluateOptions): Promise<EvalCell> {
  checkEvalRequest(model, o.features, o.steps, o.w);
  const n = o.n ?? 10_000;
  const batchSize = o.batchSize ?? EVAL_BATCH_SIZE;
  const seed = o.seed ?? 0;
  if (!Number.isInteger(n) || n < 2) throw new ConfigError(`evaluateModel: n must be an integer >= 2, got ${n}`);
  checkBatchSize(batchSize);
  const started = performance.now();
  const { z, labels } = evalInputs(n, model.exampleShape, model.numClasses, seed);
  const features: Tensor[] = [];
  const probs: Tensor[] = [];
  try {
    for (let start = 0, batch = 0; start < n; start += batchSize, batch++) {
      const size = Math.min(batchSize, n - start);
      const x = tidy(() =>
        noGrad(() => {
          const device = model.device ?? "cpu";
          // the same noise on every device: drawn on the CPU (evalInputs), then moved
          const onDevice = (t: Tensor) => (device === "cpu" ? t : t.to({ device }));
          const x = sampleGuided(model.model, onDevice(z.narrow(0, start, size)), {
            sampler: o.sampler,
            steps: o.steps,
            w: o.w,
            guidance: model.guidance,
            cond: { labels: onDevice(labels.narrow(0, start, size)) },
            // a stochastic sampler's noise: a different stream per batch, the same for every cell
            seed: seed * 65_536 + batch + 1,
          });
          const images = model.decode ? model.decode(x) : x;
          // the feature network and the float64 statistics stay on the CPU
          return quantizeImages(device === "cpu" ? images : images.to({ device: "cpu" }));
        }),
      );
      try {
        const out = await o.features.outputs(x);
        features.push(out.features);
        if (out.probs) probs.push(out.probs);
      } finally {
        x.dispose();
      }
      o.onBatch?.(start + size, n);
    }
    const scores = tidy(() => scoreOutputs(cat(features), o.features.hasProbs ? cat(probs) : null, o.reference, o.splits));
    return { ...scores, n, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const t of [z, labels, ...features, ...probs]) t.dispose();
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
}
