// What every denoiser network offers the trainers, the distillation stages and the loaders, so
// that one implementation of each algorithm serves the MLP (vector data) and the U-Net (images).
// A checkpoint's metadata.model = model.metadata() rebuilds the model with `buildModel`.
import { ConfigError, type Generator, type Tensor } from "../engine/index.js";
import type { Denoiser } from "../diffusion/denoiser.js";
import { MlpDenoiser, resolveMlpDenoiserConfig, type MlpDenoiserConfig } from "./mlp-denoiser.js";
import type { ParamStore } from "./param-store.js";
import { UNet, resolveUNetConfig, type UNetConfig } from "./unet.js";

/** The architecture record a checkpoint stores under metadata.model. */
export type ModelMetadata = { kind: "mlp-denoiser"; config: MlpDenoiserConfig } | { kind: "unet"; config: UNetConfig };

export const MODEL_KINDS = ["mlp-denoiser", "unet"] as const;

/** The common face of MlpDenoiser and UNet. */
export interface DenoiserModel {
  readonly store: ParamStore;
  /** The model as a Denoiser (z, t, cond) => x-hat. */
  readonly denoiser: Denoiser;
  readonly config: { numClasses: number; wInput: boolean; wMax: number };
  /** Shape of one example: [D] for the MLP, [C, H, W] for the U-Net. */
  readonly exampleShape: number[];
  /** Dropout on (U-Net only; the MLP has none); masks come from dropoutGenerator. */
  training: boolean;
  dropoutGenerator: Generator | null;
  forward: Denoiser;
  parameters(): Tensor[];
  named(): Map<string, Tensor>;
  loadWeights(values: Map<string, Tensor>): { initialisedWPath: string[] };
  addWInput(): unknown;
  metadata(): ModelMetadata;
  dispose(): void;
}

/** Builds the model a metadata record describes, drawing initial weights from `store`. */
export function buildModel(store: ParamStore, meta: ModelMetadata): DenoiserModel {
  switch (meta.kind) {
    case "mlp-denoiser":
      return new MlpDenoiser(store, meta.config);
    case "unet":
      return new UNet(store, meta.config);
    default:
      throw new ConfigError(`unknown model kind ${JSON.stringify((meta as { kind: unknown }).kind)}; expected one of ${MODEL_KINDS.join(", ")}`);
  }
}

/** Checks and fills a metadata record (defaults for missing fields); throws ConfigError on a bad one. */
export function resolveModelMetadata(meta: { kind: string; config: Record<string, unknown> }): ModelMetadata {
  if (meta.kind === "mlp-denoiser") return { kind: "mlp-denoiser", config: resolveMlpDenoiserConfig(meta.config as unknown as MlpDenoiserConfig) };
  if (meta.kind === "unet") return { kind: "unet", config: resolveUNetConfig(meta.config as unknown as UNetConfig) };
  throw new ConfigError(`unknown model kind ${JSON.stringify(meta.kind)}; expected one of ${MODEL_KINDS.join(", ")}`);
}
