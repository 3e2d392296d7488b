// What every trainer (teacher, both distillation stages, classifier) saves and resumes, in one
// place: the weights, the EMA (when the trainer keeps one), the optimizer state, the data
// generator's state and the step, in one atomic checkpoint (io/checkpoint.ts). With these a resumed
// run reproduces an uninterrupted one exactly. saveTrainState is the one writer, so the rule
// "only rank 0 writes" of data-parallel training has one place to go.
//
// Seeds: a run draws its initial weights from Generator(seed) (on the CPU, then moved: the same
// model on every device) and its data, t, noise, w and dropout masks from a second generator,
// dataGenerator(seed, device), on the training device. The two are separate objects, so a
// data-parallel rank can offset the data stream alone.
import { ConfigError, FewstepError, Generator, noGrad, tidy, type Device, type EMA, type Optimizer, type Tensor } from "../engine/index.js";
import { disposeCheckpoint, loadCheckpoint, saveCheckpoint } from "../io/checkpoint.js";
import { CheckpointError } from "../io/errors.js";

/** The state of a run that a checkpoint holds besides its metadata. */
export interface TrainState {
  /** The trained parameters by name (live references), and how to copy saved ones in. */
  named(): Map<string, Tensor>;
  loadWeights(values: Map<string, Tensor>): unknown;
  /** What save and resume use of the optimizer (a trainer with two optimizers joins their states). */
  optimizer: Pick<Optimizer, "stateDict" | "loadStateDict">;
  /** More trained tensors saved beside the parameters (a GAN's discriminator), given back to loadWeights. */
  extraTensors?: () => Map<string, Tensor>;
  generator: Generator;
  ema?: EMA;
}

/** The data generator of a run: seeded with `seed`, drawing on `device`. */
export function dataGenerator(seed: number, device: Device = "cpu"): Generator {
  return new Generator(seed, { device });
}

/** EMA averages by the model's parameter names. */
export function emaNamed(state: Pick<TrainState, "named" | "ema">): Map<string, Tensor> {
  if (!state.ema) return new Map();
  const averages = state.ema.averages;
  return new Map([...state.named().keys()].map((name, i) => [name, averages[i]]));
}

/** What a checkpoint records of its training data (shape, classes, class names for grid labels). */
export function datasetMetadata(dataset: { exampleShape: number[]; numClasses: number; classNames?: string[] }): Record<string, unknown> {
  return { exampleShape: dataset.exampleShape, numClasses: dataset.numClasses, ...(dataset.classNames ? { classNames: dataset.classNames } : {}) };
}

/** Writes the run's state at `step` with `metadata` to `path` (atomic). */
export function saveTrainState(path: string, state: TrainState, step: number, metadata: Record<string, unknown>): void {
  tidy(() =>
    saveCheckpoint(path, {
      params: state.extraTensors ? new Map([...state.named(), ...state.extraTensors()]) : state.named(),
      ...(state.ema ? { ema: emaNamed(state) } : {}),
      optimizer: state.optimizer.stateDict(),
      generatorState: state.generator.getState(),
      metadata: { ...metadata, step },
    }),
  );
}

/**
 * Restores weights, EMA, optimizer and generator from `path` into `state`; returns the saved step
 * and metadata. A checkpoint without what exact resume needs is a CheckpointError naming the parts.
 */
export function resumeTrainState(path: string, state: TrainState): { step: number; metadata: Record<string, unknown> } {
  const checkpoint = loadCheckpoint(path);
  try {
    const missing = [
      state.ema && !checkpoint.ema && "EMA",
      !checkpoint.optimizer && "optimizer state",
      !checkpoint.generatorState && "generator state",
      typeof checkpoint.metadata.step !== "number" && "step",
    ].filter(Boolean);
    if (missing.length > 0) throw new CheckpointError(`${path}: cannot resume training exactly: the checkpoint has no ${missing.join(", ")}`);
    try {
      state.loadWeights(checkpoint.params);
      if (state.ema) {
        const saved = checkpoint.ema!;
        const averages = state.ema.averages;
        noGrad(() =>
          [...state.named().keys()].forEach((name, i) => {
            const v = saved.get(name);
            if (!v) throw new CheckpointError(`${path}: missing tensor ema.${name}`);
            averages[i].copy_(v);
          }),
        );
      }
      state.optimizer.loadStateDict(checkpoint.optimizer!);
      state.generator.setState(checkpoint.generatorState!);
    } catch (err) {
      throw err instanceof CheckpointError || err instanceof ConfigError || !(err instanceof FewstepError) ? err : new CheckpointError(`${path}: ${err.message}`, { cause: err });
    }
    return { step: checkpoint.metadata.step as number, metadata: checkpoint.metadata };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
