// What both distillation stages train with: a student, a loss per batch, AdamW with the released
// distillation settings (lr annealed linearly to 0, grad clip 1, no EMA: Salimans & Ho 2022), a
// fresh optimizer per call, atomic checkpoints and exact resume (diffusion/train-state.ts, shared
// with every trainer). The step loop itself is diffusion/train-loop.ts.
import { AdamW, ConfigError, type Device, type Generator, type Tensor } from "../engine/index.js";
import type { DenoiserModel } from "../nn/model.js";
import { trainLoop, type TrainProgress } from "../diffusion/train-loop.js";
import { dataGenerator, resumeTrainState, saveTrainState, type TrainState } from "../diffusion/train-state.js";

export interface DistillLoopOptions {
  student: DenoiserModel;
  /** The loss of one batch; runs inside the step's scope. */
  loss: (generator: Generator, step: number) => Tensor;
  steps: number;
  /** Starting learning rate, annealed linearly to 0 over `steps`. @default 1e-4 (released setting) */
  lr?: number;
  /** @default 1 */
  gradClip?: number;
  /** Seed of the data generator (the student's weights come from its teacher or its own store). */
  seed: number;
  /** Where the data generator draws (the student's parameters must live there). @default the student's device */
  device?: Device;
  /** Called between backward and clipping (a gradient all-reduce goes here). @default none */
  afterBackward?: (params: Tensor[]) => void;
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
  const generator = dataGenerator(opts.seed, opts.device ?? opts.student.store.device);
  const state: TrainState = { named: () => opts.student.named(), loadWeights: (v) => opts.student.loadWeights(v), optimizer, generator };
  let step = 0;
  if (opts.resume) {
    try {
      step = resumeTrainState(opts.checkpointPath!, state).step;
    } catch (err) {
      optimizer.dispose();
      throw err;
    }
  }
  const save = (atStep: number) => saveTrainState(opts.checkpointPath!, state, atStep, { model: opts.student.metadata(), ...opts.metadata, steps: opts.steps });
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
      afterBackward: opts.afterBackward,
    });
  } finally {
    optimizer.dispose();
  }
}
