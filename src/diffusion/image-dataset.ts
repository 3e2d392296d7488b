// Images as a LabeledDataset for the trainers: the whole set is scaled to [-1, 1] and padded or
// resized once (io/datasets.ts toTensorBatch), kept as one float32 tensor, and batches are drawn
// with replacement by indices from the run's generator. Drawing from the generator (instead of
// walking an epoch order) keeps a resumed run exact: the generator state is in the checkpoint.
import { keep, randint, tidy, type Device, type Generator, type Tensor } from "../engine/index.js";
import type { Cond } from "../nn/condition.js";
import { toTensorBatch, type ImageDataset } from "../io/datasets.js";
import type { LabeledDataset } from "./dataset.js";

/**
 * Examples held as one tensor with their int64 labels (images, or an autoencoder's latents),
 * drawn with replacement by indices from the run's generator.
 */
export class TensorDataset implements LabeledDataset {
  readonly exampleShape: number[];
  readonly numClasses: number;
  readonly count: number;
  readonly classNames?: string[];
  /** Where the examples came from, for messages and checkpoint metadata. */
  readonly source: string;
  protected images: Tensor;
  protected labels: Tensor;

  /** Takes ownership of `x` [count, ...exampleShape] and `labels` [count] (int64). */
  constructor(x: Tensor, labels: Tensor, info: { numClasses: number; source: string; classNames?: string[] }) {
    this.images = keep(x);
    this.labels = keep(labels);
    this.exampleShape = x.shape.slice(1);
    this.count = x.shape[0];
    this.numClasses = info.numClasses;
    this.source = info.source;
    if (info.classNames) this.classNames = info.classNames;
  }

  /** Every example and label (live references, owned by the data set), e.g. to encode them in batches. */
  all(): { x: Tensor; labels: Tensor } {
    return { x: this.images, labels: this.labels };
  }

  /** n images [n, C, H, W] in [-1, 1] and their int64 labels [n], drawn uniformly with replacement on the generator's device. */
  sample(n: number, generator: Generator): { x: Tensor; labels: Tensor } {
    this.moveTo(generator.device);
    return tidy(() => {
      const index = randint(0, this.count, [n], generator);
      return { x: this.images.indexSelect(0, index), labels: this.labels.indexSelect(0, index) };
    });
  }

  draw(n: number, generator: Generator): { x: Tensor; cond: Cond } {
    const { x, labels } = this.sample(n, generator);
    return { x, cond: { labels } };
  }

  /** Keeps the whole set on `device` (moved once, on the first draw there), so batches need no copy. */
  private moveTo(device: Device): void {
    if (this.images.device === device) return;
    const [images, labels] = [keep(this.images.to({ device })), keep(this.labels.to({ device }))];
    this.images.dispose();
    this.labels.dispose();
    this.images = images;
    this.labels = labels;
  }

  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }
}

/** An image data set (io/datasets.ts) scaled to [-1, 1] and padded or resized once. */
export class ImageTensorDataset extends TensorDataset {
  /** @param size side of the square images the model takes (pad smaller, resize larger). @default the images' own size */
  constructor(host: ImageDataset, opts: { size?: number } = {}) {
    const indices = Array.from({ length: host.count }, (_, i) => i);
    const { x, labels } = toTensorBatch(host, indices, { size: opts.size });
    super(x, labels, { numClasses: host.numClasses, source: host.source, classNames: host.classNames });
  }
}
