// The training loop both distillation stages share: a student, a loss per batch, AdamW with the
// released distillation settings (lr annealed linearly to 0, grad clip 1, no EMA: Salimans & Ho
// 2022), progress, atomic checkpoints and exact resume (weights, optimizer, generator, step).
import { AdamW, ConfigError, FewstepError, Generator, clipGradNorm, keep, noGrad, tidy, zeros, type Tensor } from "../engine/index.js";
import type { MlpDenoiser } from "../nn/mlp-denoiser.js";
import { loadCheckpoint, disposeCheckpoint, saveCheckpoint } from "../io/checkpoint.js";
import type { TrainProgress } from "../diffusion/train-teacher.js";

export interface DistillLoopOptions {
  student: MlpDenoiser;
  /** The loss of one batch; runs inside the step's scope. */
  loss: (generator: Generator, step: number) => Tensor;
  steps: number;
  /** Starting learning rate, annealed linearly to 0 over `steps`. @default 1e-4 (released setting) */
  lr?: number;
  /** @default 1 */
  gradClip?: number;
  seed: number;
  /** Facts saved with every checkpoint (stage, N, w range, teacher path...). */
  metadata: Record<string, unknown>;
  checkpointPath?: string;
  /** @default 500 */
  checkpointEvery?: number;
  resume?: boolean;
  /** @default 100 */
  progressEvery?: number;
  onProgress?: ((p: TrainProgress) => void) | null;
  signal?: AbortSignal;
}

export interface DistillLoopResult {
  step: number;
  stopped: boolean;
  loss: number;
}

/** Runs the loop; the student's weights are trained in place. */
export async function distillLoop(opts: DistillLoopOptions): Promise<DistillLoopResult> {
  const lr0 = opts.lr ?? 1e-4;
  const gradClip = opts.gradClip ?? 1;
  const progressEvery = opts.progressEvery ?? 100;
  const checkpointEvery = opts.checkpointEvery ?? 500;
  if (!Number.isSafeInteger(opts.steps) || opts.steps < 1) throw new ConfigError(`distill: steps must be a positive integer, got ${opts.steps}`);
  if (!(lr0 > 0)) throw new ConfigError(`distill: lr must be positive, got ${lr0}`);
  if (opts.resume && !opts.checkpointPath) throw new ConfigError("distill: resume needs a checkpoint path");
  const params = opts.student.parameters();
  const optimizer = new AdamW(params, { lr: lr0, weightDecay: 0 });
  const generator = new Generator(opts.seed);
  let step = 0;
  if (opts.resume) {
    const checkpoint = loadCheckpoint(opts.checkpointPath!);
    try {
      if (!checkpoint.optimizer || !checkpoint.generatorState || typeof checkpoint.metadata.step !== "number") {
        throw new FewstepError(`${opts.checkpointPath}: cannot resume exactly: it has no optimizer state, generator state or step`);
      }
      opts.student.loadWeights(checkpoint.params);
      optimizer.loadStateDict(checkpoint.optimizer);
      generator.setState(checkpoint.generatorState);
      step = checkpoint.metadata.step;
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }
  const save = () => {
    if (!opts.checkpointPath) return;
    tidy(() =>
      saveCheckpoint(opts.checkpointPath!, {
        params: opts.student.named(),
        optimizer: optimizer.stateDict(),
        generatorState: generator.getState(),
        metadata: { model: opts.student.metadata(), ...opts.metadata, step, steps: opts.steps },
      }),
    );
  };
  const lossSum = keep(zeros([]));
  let window = 0;
  let windowStart = performance.now();
  let lastLoss = NaN;
  let stopped = false;
  let savedAt = opts.resume ? step : -1;
  try {
    while (step < opts.steps) {
      if (opts.signal?.aborted) {
        stopped = true;
        break;
      }
      step += 1;
      tidy(() => {
        optimizer.zeroGrad();
        const loss = opts.loss(generator, step);
        loss.backward();
        clipGradNorm(params, gradClip);
        optimizer.lr = lr0 * (1 - (step - 1) / opts.steps); // linear annealing to 0 over the stage
        optimizer.step();
        noGrad(() => lossSum.add_(loss.detach().to("float32")));
      });
      window += 1;
      if (step % progressEvery === 0 || step === opts.steps) {
        lastLoss = lossSum.item() / window;
        lossSum.zero_();
        if (!Number.isFinite(lastLoss)) throw new FewstepError(`distill: the loss became ${lastLoss} by step ${step}; try a lower lr (now ${lr0})`);
        const itPerSec = (window * 1000) / Math.max(performance.now() - windowStart, 1e-3);
        opts.onProgress?.({ step, steps: opts.steps, loss: lastLoss, itPerSec, etaSec: (opts.steps - step) / itPerSec });
        window = 0;
        windowStart = performance.now();
        await new Promise<void>((resolve) => setImmediate(resolve)); // lets Ctrl-C abort `signal`
      }
      if (checkpointEvery > 0 && step % checkpointEvery === 0) {
        save();
        savedAt = step;
      }
    }
    if (savedAt !== step) save();
  } finally {
    lossSum.dispose();
    optimizer.dispose();
  }
  return { step, stopped, loss: lastLoss };
}
