// Loading an autoencoder (nn/autoencoder.ts) from either of two forms:
//   - a fewstep checkpoint (`fewstep train-autoencoder`, or its `fewstep weights` copy):
//     metadata.model = { kind: "autoencoder-kl", config }, EMA weights when saved;
//   - a diffusers folder: config.json (AutoencoderKL fields) + diffusion_pytorch_model.safetensors,
//     the parameters by diffusers' names (the deprecated attention names query/key/value/proj_attn
//     of older files are renamed, their 1x1-conv weights flattened).
// Every loaded autoencoder has a content hash: SHA-256 over its config and weights (names, shapes,
// float32 bytes), so a latent teacher can refuse another autoencoder whatever file it came in (a
// training checkpoint and its weights-only copy hash alike).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tidy, type Device, type Tensor } from "../engine/index.js";
import { AutoencoderKL, type AutoencoderKLConfig } from "../nn/autoencoder.js";
import { ParamStore } from "../nn/param-store.js";
import { buildModel } from "../nn/registry.js";
import { disposeCheckpoint, loadCheckpoint } from "./checkpoint.js";
import { CheckpointError, oneLine } from "./errors.js";
import { checkStoredWeights, modelMetadataFromCheckpoint } from "./load-model.js";
import { loadSafetensors } from "./safetensors.js";
import { fromHost, toHost } from "./tensor-bridge.js";

/** A loaded autoencoder with where it came from and its content hash. */
export interface LoadedAutoencoder {
  model: AutoencoderKL;
  /** The path it was loaded from (file or diffusers folder). */
  path: string;
  /** SHA-256 (hex) of the config and weights (autoencoderHash). */
  sha256: string;
  /** The checkpoint's metadata (training facts), {} for a diffusers folder. */
  metadata: Record<string, unknown>;
}

const DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors";

/**
 * Loads an autoencoder from a fewstep checkpoint or a diffusers folder.
 * @throws CheckpointError naming `path`: unreadable, not an autoencoder (e.g. a denoiser), a bad
 *   config, missing/unexpected/misshapen weights, non-finite weights
 */
export function loadAutoencoder(path: string, opts: { device?: Device } = {}): LoadedAutoencoder {
  const isFolder = existsSync(path) && statSync(path).isDirectory();
  const { config, weights, metadata } = isFolder ? readDiffusersFolder(path) : readFewstepCheckpoint(path);
  try {
    checkStoredWeights(path, weights);
    let model: AutoencoderKL;
    try {
      model = buildModel(new ParamStore({ device: opts.device ?? "cpu" }), { kind: "autoencoder-kl", config });
    } catch (err) {
      throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      model.store.load(weights);
    } catch (err) {
      model.dispose();
      throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
    }
    return { model, path, sha256: autoencoderHash(model), metadata };
  } finally {
    for (const t of weights.values()) t.dispose();
  }
}

function readFewstepCheckpoint(path: string): { config: AutoencoderKLConfig; weights: Map<string, Tensor>; metadata: Record<string, unknown> } {
  const checkpoint = loadCheckpoint(path);
  try {
    const kind = (checkpoint.metadata.model as { kind?: unknown } | undefined)?.kind;
    if (kind !== "autoencoder-kl") {
      throw new CheckpointError(`${path}: not an autoencoder checkpoint: metadata.model.kind is ${JSON.stringify(kind)}, expected "autoencoder-kl" (train one with fewstep train-autoencoder, or pass a diffusers AutoencoderKL folder)`);
    }
    const meta = modelMetadataFromCheckpoint(path, checkpoint.metadata) as { kind: "autoencoder-kl"; config: AutoencoderKLConfig };
    // keep the weights one encodes with (EMA when saved); free the rest now (a GAN run's
    // discriminator.* tensors are training state, not part of the autoencoder)
    const weights = checkpoint.ema ?? checkpoint.params;
    for (const name of [...weights.keys()].filter((k) => k.startsWith("discriminator."))) {
      weights.get(name)!.dispose();
      weights.delete(name);
    }
    disposeCheckpoint({ ...checkpoint, params: checkpoint.ema ? checkpoint.params : new Map(), ema: undefined });
    return { config: meta.config, weights, metadata: checkpoint.metadata };
  } catch (err) {
    disposeCheckpoint(checkpoint);
    throw err;
  }
}

function readDiffusersFolder(path: string): { config: AutoencoderKLConfig; weights: Map<string, Tensor>; metadata: Record<string, unknown> } {
  const configPath = join(path, "config.json");
  const weightsPath = join(path, DIFFUSERS_WEIGHTS);
  for (const p of [configPath, weightsPath]) {
    if (!existsSync(p)) throw new CheckpointError(`${path}: a diffusers autoencoder folder needs config.json and ${DIFFUSERS_WEIGHTS}; ${p} is missing`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new CheckpointError(`${configPath}: not valid JSON (${oneLine((err as Error).message)})`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new CheckpointError(`${configPath}: must be a JSON object`);
  const cls = (raw as Record<string, unknown>)._class_name;
  if (cls !== undefined && cls !== "AutoencoderKL") throw new CheckpointError(`${configPath}: _class_name is ${JSON.stringify(cls)}; fewstep loads AutoencoderKL`);
  // resolved like a fewstep checkpoint's record (a CheckpointError naming config.json)
  const config = modelMetadataFromCheckpoint(configPath, { model: { kind: "autoencoder-kl", config: raw } }).config as AutoencoderKLConfig;
  let file;
  try {
    file = loadSafetensors(weightsPath);
  } catch (err) {
    throw new CheckpointError(`${weightsPath}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  const weights = new Map<string, Tensor>();
  for (const [name, h] of Object.entries(file.tensors)) {
    const renamed = renameDeprecated(name);
    const t = fromHost(h);
    // the deprecated attention stored q/k/v/proj as 1x1 convs [C, C, 1, 1]; today's are Linear [C, C]
    if (renamed !== name && t.ndim === 4) {
      weights.set(renamed, tidy(() => t.reshape(t.shape.slice(0, 2))));
      t.dispose();
    } else weights.set(renamed, t);
  }
  return { config, weights, metadata: {} };
}

const DEPRECATED_ATTENTION: [RegExp, string][] = [
  [/\.attentions\.(\d+)\.query\./, ".attentions.$1.to_q."],
  [/\.attentions\.(\d+)\.key\./, ".attentions.$1.to_k."],
  [/\.attentions\.(\d+)\.value\./, ".attentions.$1.to_v."],
  [/\.attentions\.(\d+)\.proj_attn\./, ".attentions.$1.to_out.0."],
];

/** diffusers' old attention names (before 0.14) to today's. */
export function renameDeprecated(name: string): string {
  for (const [from, to] of DEPRECATED_ATTENTION) if (from.test(name)) return name.replace(from, to);
  return name;
}

/** SHA-256 of the config (JSON, keys sorted) and every weight (sorted names, shapes, float32 bytes). */
export function autoencoderHash(model: AutoencoderKL): string {
  const hash = createHash("sha256");
  const config = model.config as unknown as Record<string, unknown>;
  hash.update(JSON.stringify(Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]]))));
  const named = model.named();
  for (const name of [...named.keys()].sort()) {
    const t = named.get(name)!;
    const host = tidy(() => toHost(t.to({ dtype: "float32", device: "cpu" })));
    hash.update(`\n${name}[${host.shape}]`);
    hash.update(host.data);
  }
  return hash.digest("hex");
}
