// Class-conditional vector data sets: anything that draws (x, label) batches.
import type { Generator, Tensor } from "../engine/index.js";

export interface VectorDataset {
  /** Dimension D of each example. */
  readonly dim: number;
  /** Number of classes C; labels are 0..C-1 (the models' null label is C). */
  readonly numClasses: number;
  /** n examples x [n, D] (float32 unless stated) and int64 labels [n], drawn from `generator`. */
  sample(n: number, generator: Generator, opts?: { labels?: Tensor }): { x: Tensor; labels: Tensor };
}
