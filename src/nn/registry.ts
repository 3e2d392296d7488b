// Every model kind fewstep builds, in one table: a checkpoint's metadata.model = { kind, config }
// is resolved and rebuilt here. A new kind (autoencoder, text encoder, mask-conditioned U-Net) is
// its own file exporting a ModelKindEntry plus one line below; the compiler then asks every table
// keyed by ModelKind (the ONNX emitters in src/export) for the new kind too.
import { ConfigError } from "../engine/index.js";
import { AUTOENCODER_KL_KIND, type AutoencoderKL, type AutoencoderKLConfig } from "./autoencoder.js";
import { CLASSIFIER_KIND, type ClassifierConfig, type ImageClassifier } from "./classifier.js";
import { MLP_DENOISER_KIND, type MlpDenoiser, type MlpDenoiserConfig } from "./mlp-denoiser.js";
import type { DataFacts, DenoiserModel, Model, ModelKindEntry } from "./model.js";
import type { ParamStore } from "./param-store.js";
import { UNET_KIND, type UNet, type UNetConfig } from "./unet.js";

/** Each kind's config and model types: one line per kind. */
interface KindTypes {
  "mlp-denoiser": { config: MlpDenoiserConfig; model: MlpDenoiser };
  unet: { config: UNetConfig; model: UNet };
  classifier: { config: ClassifierConfig; model: ImageClassifier };
  "autoencoder-kl": { config: AutoencoderKLConfig; model: AutoencoderKL };
}

export type ModelKind = keyof KindTypes;
export type ConfigOf<K extends ModelKind> = KindTypes[K]["config"];
export type ModelOf<K extends ModelKind> = KindTypes[K]["model"];

/** The architecture record a checkpoint stores under metadata.model. */
export type ModelMetadata = { [K in ModelKind]: { kind: K; config: ConfigOf<K> } }[ModelKind];

/** The registry: one entry per kind (the mapped type makes the compiler ask for every kind). */
export const MODEL_REGISTRY: { readonly [K in ModelKind]: ModelKindEntry<ConfigOf<K>, ModelOf<K>> } = {
  "mlp-denoiser": MLP_DENOISER_KIND,
  unet: UNET_KIND,
  classifier: CLASSIFIER_KIND,
  "autoencoder-kl": AUTOENCODER_KL_KIND,
};

export const MODEL_KINDS = Object.keys(MODEL_REGISTRY) as ModelKind[];
/** The kinds of one role, e.g. every denoiser network. */
export const kindsOfRole = (role: ModelKindEntry<unknown, Model>["role"]): ModelKind[] => MODEL_KINDS.filter((k) => MODEL_REGISTRY[k].role === role);

export function isModelKind(kind: unknown): kind is ModelKind {
  return typeof kind === "string" && Object.hasOwn(MODEL_REGISTRY, kind);
}

function entry(kind: unknown): ModelKindEntry<unknown, Model> {
  if (!isModelKind(kind)) throw new ConfigError(`unknown model kind ${JSON.stringify(kind)}; expected one of ${MODEL_KINDS.join(", ")}`);
  return MODEL_REGISTRY[kind] as ModelKindEntry<unknown, Model>;
}

/** Checks and fills a metadata record (defaults for missing fields); throws ConfigError on a bad one. */
export function resolveModelMetadata(meta: { kind: unknown; config: Record<string, unknown> }): ModelMetadata {
  return { kind: meta.kind, config: entry(meta.kind).resolveConfig(meta.config) } as ModelMetadata;
}

/** Builds the model a metadata record describes, drawing initial weights from `store`. */
export function buildModel<K extends ModelKind>(store: ParamStore, meta: { kind: K; config: ConfigOf<K> }): ModelOf<K> {
  return entry(meta.kind).build(store, meta.config) as ModelOf<K>;
}
function buildAny(store: ParamStore, meta: ModelMetadata): Model {
  return entry(meta.kind).build(store, meta.config);
}

/** One line describing a model record. */
export function describeModel(meta: ModelMetadata): string {
  return entry(meta.kind).describe(meta.config);
}

/** The kinds whose model is a denoiser network, and their metadata records. */
export type DenoiserKind = { [K in ModelKind]: ModelOf<K> extends DenoiserModel ? K : never }[ModelKind];
export type DenoiserMetadata = Extract<ModelMetadata, { kind: DenoiserKind }>;

/** Whether the record is of a denoiser kind (its entry's role; the type follows the model type). */
export function isDenoiserMetadata(meta: ModelMetadata): meta is DenoiserMetadata {
  return MODEL_REGISTRY[meta.kind].role === "denoiser";
}

/** Builds a denoiser network; a record of another role is a ConfigError naming it. */
export function buildDenoiser(store: ParamStore, meta: ModelMetadata): DenoiserModel {
  if (!isDenoiserMetadata(meta)) throw new ConfigError(`a ${meta.kind} is not a denoiser; expected one of ${kindsOfRole("denoiser").join(", ")}`);
  return buildAny(store, meta) as DenoiserModel;
}

/**
 * The denoiser record for a data set: `kind` (default: the first denoiser kind made for the data's
 * example shape) sized by the data, with `settings` for the rest.
 */
export function denoiserMetadataForData(data: DataFacts, kind: ModelKind | undefined, settings: Record<string, unknown>): ModelMetadata {
  const chosen = kind ?? kindsOfRole("denoiser").find((k) => MODEL_REGISTRY[k].defaultFor?.(data.exampleShape));
  if (chosen === undefined) throw new ConfigError(`no denoiser kind takes examples of shape [${data.exampleShape}]; known: ${kindsOfRole("denoiser").join(", ")}`);
  const e = entry(chosen);
  if (e.role !== "denoiser" || !e.forData) throw new ConfigError(`${chosen} is not a denoiser kind; use one of ${kindsOfRole("denoiser").join(", ")}`);
  return { kind: chosen, config: e.forData(data, settings) } as ModelMetadata;
}
