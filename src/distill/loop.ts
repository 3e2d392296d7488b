// What both distillation stages train with: a student, a loss per batch, AdamW with the released
// distillation settings (lr annealed linearly to 0, grad clip 1, no EMA: Salimans & Ho 2022), a
// fresh optimizer per call, atomic checkpoints and exact resume (weights, optimizer, generator,
// step). The step loop itself is diffusion/train-loop.ts, shared with teacher training.
import { AdamW, ConfigError, FewstepError, Generator, tidy, type Tensor } from "../engine/index.js";
import type { DenoiserModel } from "../nn/model.js";
import { loadCheckpoint, disposeCheckpoint, saveCheckpoint } from "../io/checkpoint.js";
import { trainLoop, type TrainProgress } from "../diffusion/train-loop.js";

export interface DistillLoopOptions {
  student: DenoiserModel;
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
    } catch (err) {
      optimizer.dispose();
      throw err;
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }
  const save = (atStep: number) =>
    tidy(() =>
      saveCheckpoint(opts.checkpointPath!, {
        params: opts.student.named(),
        optimizer: optimizer.stateDict(),
        generatorState: generator.getState(),
        metadata: { model: opts.student.metadata(), ...opts.metadata, step: atStep, steps: opts.steps },
      }),
    );
  try {
    return await trainLoop({
      name: "distill",
      params,
      optimizer,
      generator,
      loss: opts.loss,
      steps: opts.steps,
      startStep: step,
      resumed: opts.resume ?? false,
      lrAt: (s) => lr0 * (1 - (s - 1) / opts.steps), // linear annealing to 0 over the stage
      gradClip,
      progressEvery,
      onProgress: opts.onProgress,
      signal: opts.signal,
      checkpointEvery,
      save: opts.checkpointPath ? save : undefined,
    });
  } finally {
    optimizer.dispose();
  }
}
