// Images as a LabeledDataset for the trainers: the whole set is scaled to [-1, 1] and padded or
// resized once (io/datasets.ts toTensorBatch), kept as one float32 tensor, and batches are drawn
// with replacement by indices from the run's generator. Drawing from the generator (instead of
// walking an epoch order) keeps a resumed run exact: the generator state is in the checkpoint.
import { keep, randint, tidy, type Device, type Generator, type Tensor } from "../engine/index.js";
import type { Cond } from "../nn/condition.js";
import { toTensorBatch, type ImageDataset } from "../io/datasets.js";
import type { LabeledDataset } from "./dataset.js";

export class ImageTensorDataset implements LabeledDataset {
  readonly exampleShape: number[];
  readonly numClasses: number;
  readonly count: number;
  readonly classNames?: string[];
  /** Where the images came from, for messages and checkpoint metadata. */
  readonly source: string;
  private images: Tensor;
  private labels: Tensor;

  /** @param size side of the square images the model takes (pad smaller, resize larger). @default the images' own size */
  constructor(host: ImageDataset, opts: { size?: number } = {}) {
    const indices = Array.from({ length: host.count }, (_, i) => i);
    const { x, labels } = toTensorBatch(host, indices, { size: opts.size });
    this.images = keep(x);
    this.labels = keep(labels);
    this.exampleShape = x.shape.slice(1);
    this.numClasses = host.numClasses;
    this.count = host.count;
    this.source = host.source;
    this.classNames = host.classNames;
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
