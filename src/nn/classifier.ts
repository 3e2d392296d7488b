// A small CNN image classifier, the feature network of fewstep's FID and Inception Score on
// Fashion-MNIST (issue 6): per level a 3x3 conv and a 3x3 stride-2 conv, then one more 3x3 conv at
// the lowest resolution, each followed by GroupNorm (8 groups) and an activation; global average
// pooling; a Linear layer to the feature vector (the penultimate layer, FID's features, as
// Inception's pool3 is in pytorch-fid); a Linear layer to K logits (softmax: IS's p(y|x)).
// For 28x28 gray images with the defaults:
//   [n,1,28,28] -conv 32-> -conv 32 /2-> [n,32,14,14] -conv 64-> -conv 64 /2-> [n,64,7,7]
//   -conv 128-> -mean over 7x7-> [n,128] -Linear, act-> features [n,128] -Linear-> logits [n,K]
// Global average pooling keeps the net small (157k parameters, no 3136-wide Linear layer); the
// final conv widens each pooled position's view to 21x21 pixels, which global pooling needs
// (measured: 84.4% against 80.5% without it after 400 steps). Widths should give each GroupNorm
// group at least 2 channels (>= 16): with 1 per group it is instance norm, which with global
// pooling keeps only each channel's histogram of values, and learns far more slowly.
import { dropout, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { Conv2d, GroupNorm, Linear } from "./layers.js";
import type { ParamStore } from "./param-store.js";
import type { Model, ModelKindEntry } from "./model.js";

export interface ClassifierConfig {
  /** Image channels (1 for Fashion-MNIST). */
  channels: number;
  /** Height = width of the images (a multiple of 2^levels). */
  size: number;
  numClasses: number;
  /** Channels per level; each level halves the resolution. @default [32, 64] */
  widths: number[];
  /** Channels of one more 3x3 conv at the lowest resolution, before pooling (0: none). @default 128 */
  finalWidth: number;
  /** Width of the feature layer (FID's features). @default 128 */
  featureDim: number;
  /** @default "silu" (no exact zeros in the features, so their covariance is well conditioned) */
  activation: "relu" | "silu";
  /** Dropout on the features before the last layer while training. @default 0 */
  dropout: number;
}

export const CLASSIFIER_DEFAULTS = { widths: [32, 64], finalWidth: 128, featureDim: 128, activation: "silu" as const, dropout: 0 };

/** GroupNorm groups; every width must divide by it. */
const GROUPS = 8;

/** The largest value of each size field resolveClassifierConfig accepts (levels: widths' length). */
export const CLASSIFIER_LIMITS = { channels: 4096, size: 4096, numClasses: 100_000, featureDim: 65_536, width: 4096, levels: 8 };

/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveClassifierConfig(config: Partial<ClassifierConfig> & { channels: number; size: number; numClasses: number }): ClassifierConfig {
  const known = new Set(["channels", "size", "numClasses", ...Object.keys(CLASSIFIER_DEFAULTS)]);
  const c: ClassifierConfig = { ...CLASSIFIER_DEFAULTS, widths: [...CLASSIFIER_DEFAULTS.widths], ...config };
  const bad: string[] = [];
  for (const key of Object.keys(config)) if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
  // Upper limits keep a crafted checkpoint's config from being built at all.
  const L = CLASSIFIER_LIMITS;
  const int = (name: "channels" | "size" | "numClasses" | "featureDim", min: number, max: number) => {
    const v = c[name];
    if (!Number.isSafeInteger(v) || v < min || v > max) bad.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  int("channels", 1, L.channels);
  int("size", 1, L.size);
  int("numClasses", 2, L.numClasses);
  int("featureDim", 1, L.featureDim);
  if (!Number.isSafeInteger(c.finalWidth) || c.finalWidth < 0 || c.finalWidth > L.width || c.finalWidth % GROUPS !== 0) bad.push(`finalWidth must be 0 or a multiple of ${GROUPS} up to ${L.width}, got ${JSON.stringify(c.finalWidth)}`);
  if (!Array.isArray(c.widths) || c.widths.length === 0 || c.widths.length > L.levels || !c.widths.every((w) => Number.isSafeInteger(w) && w >= GROUPS && w <= L.width && w % GROUPS === 0)) {
    bad.push(`widths must be a list of 1 to ${L.levels} multiples of ${GROUPS} (GroupNorm groups) up to ${L.width}, got ${JSON.stringify(c.widths)?.slice(0, 80)}`);
  } else if (Number.isSafeInteger(c.size) && c.size % 2 ** c.widths.length !== 0) {
    bad.push(`size ${c.size} must be a multiple of 2^${c.widths.length} for ${c.widths.length} levels (pad the images)`);
  }
  if (c.activation !== "relu" && c.activation !== "silu") bad.push(`activation must be "relu" or "silu", got ${JSON.stringify(c.activation)}`);
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) bad.push(`dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`);
  if (bad.length > 0) throw new ConfigError(`classifier config: ${bad.join("; ")}`);
  return c;
}

/** conv3x3 -> GroupNorm -> activation, as `blocks.<i>.conv` and `blocks.<i>.norm`. */
class ConvBlock {
  private readonly conv: Conv2d;
  private readonly norm: GroupNorm;
  constructor(store: ParamStore, cin: number, cout: number, stride: number) {
    // No conv bias: GroupNorm's shift follows at once.
    this.conv = new Conv2d(store.sub("conv"), cin, cout, 3, { stride, padding: 1, bias: false });
    this.norm = new GroupNorm(store.sub("norm"), GROUPS, cout);
  }
  forward(x: Tensor, act: (h: Tensor) => Tensor): Tensor {
    return act(this.norm.forward(this.conv.forward(x)));
  }
}

/** The classifier's two outputs of one forward pass. */
export interface ClassifierOutputs {
  /** The penultimate layer [n, featureDim], after its activation. */
  features: Tensor;
  /** [n, numClasses] */
  logits: Tensor;
}

export class ImageClassifier implements Model {
  readonly kind = "classifier" as const;
  readonly store: ParamStore;
  readonly config: ClassifierConfig;
  /** Dropout (when config.dropout > 0) is active only while training, masks from dropoutGenerator. */
  training = false;
  dropoutGenerator: Generator | null = null;
  private readonly blocks: ConvBlock[] = [];
  private readonly feature: Linear;
  private readonly head: Linear;

  constructor(store: ParamStore, config: Partial<ClassifierConfig> & { channels: number; size: number; numClasses: number }) {
    const c = (this.config = resolveClassifierConfig(config));
    this.store = store;
    const blocks = store.sub("blocks");
    let ch = c.channels;
    for (const width of c.widths) {
      this.blocks.push(new ConvBlock(blocks.sub(this.blocks.length), ch, width, 1));
      this.blocks.push(new ConvBlock(blocks.sub(this.blocks.length), width, width, 2));
      ch = width;
    }
    if (c.finalWidth > 0) {
      this.blocks.push(new ConvBlock(blocks.sub(this.blocks.length), ch, c.finalWidth, 1));
      ch = c.finalWidth;
    }
    this.feature = new Linear(store.sub("feature"), ch, c.featureDim);
    this.head = new Linear(store.sub("head"), c.featureDim, c.numClasses);
  }

  /** Shape of one image: [channels, size, size]. */
  get exampleShape(): number[] {
    return [this.config.channels, this.config.size, this.config.size];
  }

  private act(h: Tensor): Tensor {
    return this.config.activation === "relu" ? h.relu() : h.silu();
  }

  /**
   * Features and logits of images x [n, C, S, S] (in [-1, 1], as the dataset readers scale them).
   * @throws ShapeError for any other shape
   */
  outputs(x: Tensor): ClassifierOutputs {
    const [C, S] = [this.config.channels, this.config.size];
    if (x.ndim !== 4 || x.shape[1] !== C || x.shape[2] !== S || x.shape[3] !== S) {
      throw new ShapeError(`ImageClassifier: images have shape [${x.shape}] but the classifier takes [n, ${C}, ${S}, ${S}]`);
    }
    let h = x.to("float32");
    for (const block of this.blocks) h = block.forward(h, (t) => this.act(t));
    const features = this.act(this.feature.forward(h.mean([2, 3]))); // global average pool
    const p = this.config.dropout;
    const dropped = this.training && p > 0 ? dropout(features, p, this.requireGenerator()) : features;
    return { features, logits: this.head.forward(dropped) };
  }

  /** The penultimate layer [n, featureDim]: FID's features. */
  features(x: Tensor): Tensor {
    return this.outputs(x).features;
  }

  /** [n, numClasses] */
  logits(x: Tensor): Tensor {
    return this.outputs(x).logits;
  }

  parameters(): Tensor[] {
    return this.store.parameters();
  }

  /** The store's parameters by full name (live references). */
  named(): Map<string, Tensor> {
    return this.store.named();
  }

  /** Copies weights in by name; any missing, unexpected or misshapen tensor is one ShapeError. */
  loadWeights(values: Map<string, Tensor>): void {
    this.store.load(values);
  }

  /** What a checkpoint records to rebuild this classifier (metadata.model). */
  metadata(): { kind: "classifier"; config: ClassifierConfig } {
    return { kind: "classifier", config: { ...this.config, widths: [...this.config.widths] } };
  }

  private requireGenerator(): Generator {
    if (!this.dropoutGenerator) throw new ConfigError("ImageClassifier: set dropoutGenerator before training with dropout");
    return this.dropoutGenerator;
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** The registry entry of this kind (nn/registry.ts). */
export const CLASSIFIER_KIND: ModelKindEntry<ClassifierConfig, ImageClassifier> = {
  role: "classifier",
  resolveConfig: (raw) => resolveClassifierConfig(raw as Partial<ClassifierConfig> & { channels: number; size: number; numClasses: number }),
  build: (store, config) => new ImageClassifier(store, config),
  describe: (c) => `image classifier: [${c.channels}, ${c.size}, ${c.size}] -> ${c.numClasses} classes, ${c.featureDim}-d features`,
};
