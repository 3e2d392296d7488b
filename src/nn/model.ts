// What every model offers the trainers, loaders and exporters, whatever its kind (denoiser,
// classifier; later autoencoder, text encoder), and what a denoiser network adds. One
// implementation of each algorithm then serves every network of a role. Kinds are listed once,
// in registry.ts; a checkpoint's metadata.model = model.metadata() rebuilds the model there.
import type { Generator, Tensor } from "../engine/index.js";
import type { Cond } from "./condition.js";
import type { ModelKind, ModelMetadata } from "./registry.js";
import type { ParamStore } from "./param-store.js";

/** What a denoiser network outputs: the clean data, the velocity v = alpha eps - sigma x, or the noise. */
export type Prediction = "x" | "v" | "eps";
export const PREDICTIONS: readonly Prediction[] = ["x", "v", "eps"];

/** The common face of every model kind. */
export interface Model {
  readonly kind: ModelKind;
  readonly store: ParamStore;
  parameters(): Tensor[];
  named(): Map<string, Tensor>;
  metadata(): ModelMetadata;
  dispose(): void;
}

/** The config fields every denoiser network has (cond-embedding.ts reads the first four). */
export interface DenoiserConfigCommon {
  numClasses: number;
  fourierFeatures: number;
  wMax: number;
  pooledDim: number;
  wInput: boolean;
  prediction: Prediction;
}

/**
 * A denoiser network (MLP, U-Net): raw output of (z_t, u, cond), u the noise level in [0, 1].
 * diffusion/parameterization.ts turns it into a Denoiser returning x-hat.
 */
export interface DenoiserModel extends Model {
  readonly config: DenoiserConfigCommon;
  readonly prediction: Prediction;
  /** Shape of one example: [D] for the MLP, [C, H, W] for the U-Net. */
  readonly exampleShape: number[];
  /** Dropout on (U-Net only; the MLP has none); masks come from dropoutGenerator. */
  training: boolean;
  dropoutGenerator: Generator | null;
  /** The raw output [n, ...exampleShape] at noise level u [n]. */
  forwardRaw(z: Tensor, u: Tensor, cond: Cond): Tensor;
  /** The condition meaning "no prompt" for each example (null class, empty text); w and image parts kept. */
  nullCond(cond: Cond): Cond;
  loadWeights(values: Map<string, Tensor>): { initialisedWPath: string[] };
  /** Adds the guidance-weight input (stage one), last layer zero. */
  addWInput(): unknown;
}

/** What a data set tells a denoiser kind to size itself. */
export interface DataFacts {
  exampleShape: number[];
  numClasses: number;
}

/** One model kind: how its config is checked, how it is built and described. */
export interface ModelKindEntry<C, M extends Model> {
  role: "denoiser" | "classifier" | "autoencoder";
  /** Fills in defaults and validates; throws ConfigError naming each bad field. */
  resolveConfig(raw: Record<string, unknown>): C;
  build(store: ParamStore, config: C): M;
  /** One line for logs and --help. */
  describe(config: C): string;
  /** Denoisers: whether this kind is the default network for examples of `shape`. */
  defaultFor?(shape: number[]): boolean;
  /** Denoisers: the config for `data` with the given settings (the data fills shape and classes). */
  forData?(data: DataFacts, settings: Record<string, unknown>): C;
}

/** `defaults` overridden by the fields of `config` that are not undefined. */
export function withDefaults<D extends object, C extends object>(defaults: D, config: C): D & C {
  const out: Record<string, unknown> = structuredClone(defaults) as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) if (value !== undefined) out[key] = value;
  return out as D & C;
}
