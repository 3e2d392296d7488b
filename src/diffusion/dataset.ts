// Training data: anything that draws batches of examples with their condition records (what the
// trainers take), and the class-labelled kind (the Gaussian mixtures, exampleShape [D]; images
// [C, H, W], image-dataset.ts). A captioned data set draws text conditions through the same draw().
import type { Generator, Tensor } from "../engine/index.js";
import type { Cond } from "../nn/condition.js";

/** What the trainers draw from. */
export interface ConditionedDataset {
  /** Shape of one example: [D] for vectors, [C, H, W] for images. */
  readonly exampleShape: number[];
  /** Number of classes C of a class-conditional set (the models' null label is C). */
  readonly numClasses: number;
  /** Class names by label, when the data has them (saved in teacher checkpoints for grid labels). */
  readonly classNames?: string[];
  /** n examples x [n, ...exampleShape] (float32) and their condition, drawn from `generator` on its device. */
  draw(n: number, generator: Generator): { x: Tensor; cond: Cond };
}

export interface LabeledDataset extends ConditionedDataset {
  /** Shape of one example: [D] for vectors, [C, H, W] for images. */
  readonly exampleShape: number[];
  /** Number of classes C; labels are 0..C-1 (the models' null label is C). */
  readonly numClasses: number;
  /** Class names by label, when the data has them (saved in teacher checkpoints for grid labels). */
  readonly classNames?: string[];
  /** n examples x [n, ...exampleShape] (float32 unless stated) and int64 labels [n], drawn from `generator`. */
  sample(n: number, generator: Generator, opts?: { labels?: Tensor }): { x: Tensor; labels: Tensor };
}

/** t [n] reshaped to broadcast against a batch of examples [n, ...exampleShape]. */
export function perExample(t: Tensor, like: Tensor): Tensor {
  return t.reshape([t.shape[0], ...like.shape.slice(1).map(() => 1)]);
}
