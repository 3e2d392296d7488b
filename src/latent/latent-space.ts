// A latent model's way in and out of pixel space: images -> diffusion latents (the autoencoder's
// posterior mean or a sample, times its scaling factor) for training, and latents -> images
// (divided by the factor, decoded, center-cropped back to the data's size) for sampling, grids and
// FID. The denoisers, samplers and both distillation stages never see any of it: a latent data set
// is a TensorDataset of latents, and a latent model's samples go through `decode` at the end.
// Latent caches (`fewstep encode`) are safetensors files: `latents` [N, c, h, w] float32 and
// `labels` [N] int64, with the autoencoder's hash in the metadata, so a cache made by another
// autoencoder is refused.
import { Generator, cat, noGrad, tidy, ConfigError, type Device, type Tensor } from "../engine/index.js";
import { TensorDataset } from "../diffusion/image-dataset.js";
import { CheckpointError, FormatError } from "../io/errors.js";
import { loadAutoencoder, type LoadedAutoencoder } from "../io/load-autoencoder.js";
import { centerCropOffset, latentRecordOf, locateAutoencoder, type LatentRecord } from "../io/latent-record.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { loadSafetensors } from "../io/safetensors.js";
import { fromHost, toHost } from "../io/tensor-bridge.js";
import { saveSafetensors } from "../io/safetensors.js";
import { existsSync } from "node:fs";
import type { AutoencoderKL } from "../nn/autoencoder.js";

/** Images encoded per autoencoder call (memory stays at one batch of activations). */
export const ENCODE_BATCH_SIZE = 256;

/** An opened latent space: its autoencoder and the record it was checked against. */
export interface LatentSpace {
  autoencoder: LoadedAutoencoder;
  record: LatentRecord;
  /** Shape of one decoded (and cropped) image [C, H, W]. */
  imageShape: number[];
  /** Images [n, C, H, W] from diffusion latents [n, c, h, w]: decoded, then center-cropped to the data's size. */
  decode(latents: Tensor): Tensor;
  dispose(): void;
}

/**
 * Opens the latent space a checkpoint records: its autoencoder (`autoencoderPath`, else the
 * recorded path or a file of that name beside the checkpoint), checked by content hash.
 * @throws CheckpointError when the autoencoder is missing or is another one (hash mismatch)
 */
export function openLatentSpace(record: LatentRecord, checkpointPath: string, opts: { autoencoderPath?: string; device?: Device } = {}): LatentSpace {
  const path = opts.autoencoderPath ?? locateAutoencoder(record, checkpointPath);
  const autoencoder = loadAutoencoder(path, { device: opts.device });
  if (autoencoder.sha256 !== record.autoencoder.sha256) {
    autoencoder.model.dispose();
    throw new CheckpointError(
      `${checkpointPath} was trained on latents of the autoencoder ${record.autoencoder.path} (sha256 ${record.autoencoder.sha256.slice(0, 12)}...), but ${path} is another one (sha256 ${autoencoder.sha256.slice(0, 12)}...); pass that autoencoder, or train a teacher on this one`,
    );
  }
  return latentSpaceOf(autoencoder, record);
}

/**
 * The latent space of the checkpoint at `path` (a latent teacher or student), or null for a pixel
 * model. The checkpoint's tensors are read and freed; a caller holding the checkpoint already
 * calls latentSpaceFor with its metadata.
 */
export function openCheckpointLatentSpace(path: string, opts: { autoencoderPath?: string; device?: Device } = {}): LatentSpace | null {
  const checkpoint = loadCheckpoint(path);
  try {
    return latentSpaceFor(checkpoint.metadata, path, opts);
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** The latent space a checkpoint's metadata records (`path` names it), or null for a pixel model. */
export function latentSpaceFor(metadata: Record<string, unknown>, path: string, opts: { autoencoderPath?: string; device?: Device } = {}): LatentSpace | null {
  const record = latentRecordOf(metadata, path);
  if (record === null) {
    if (opts.autoencoderPath !== undefined) throw new ConfigError(`--autoencoder: ${path} is a pixel-space model (it records no autoencoder); leave --autoencoder out`);
    return null;
  }
  return openLatentSpace(record, path, opts);
}

/** The latent space of an already loaded autoencoder. */
export function latentSpaceOf(autoencoder: LoadedAutoencoder, record: LatentRecord): LatentSpace {
  const [c, s] = [record.imageShape[0], record.imageShape[1]];
  const crop = record.cropTo;
  return {
    autoencoder,
    record,
    imageShape: [c, crop ?? s, crop ?? s],
    decode: (latents) => tidy(() => noGrad(() => centerCrop(autoencoder.model.decodeLatents(latents), crop))),
    dispose: () => autoencoder.model.dispose(),
  };
}

/** The center crop that undoes toTensorBatch's centered padding (the same floor((S - s) / 2) offset). */
export function centerCrop(images: Tensor, side: number | null): Tensor {
  if (side === null) return images;
  const [h, w] = [images.shape[2], images.shape[3]];
  if (side === h && side === w) return images;
  return images.narrow(2, centerCropOffset(h, side), side).narrow(3, centerCropOffset(w, side), side);
}

/** The record of latents `autoencoder` makes from images [C, S, S] (data of side `dataSide`, padded to S when smaller). */
export function latentRecordFor(autoencoder: LoadedAutoencoder, imageShape: number[], dataSide: number, posterior: "mean" | "sample"): LatentRecord {
  autoencoder.model.latentShape(imageShape); // the down factor must divide S
  return { autoencoder: { path: autoencoder.path, sha256: autoencoder.sha256 }, imageShape, cropTo: dataSide < imageShape[1] ? dataSide : null, posterior };
}

/**
 * Diffusion latents of every image of `images` (posterior means, or one posterior sample each
 * drawn from Generator(seed)), as a TensorDataset with the same labels.
 */
export function encodeDataset(model: AutoencoderKL, images: TensorDataset, o: { posterior: "mean" | "sample"; seed?: number; batchSize?: number; onBatch?: (done: number, total: number) => void }): TensorDataset {
  const { x, labels } = images.all();
  const n = x.shape[0];
  const batchSize = o.batchSize ?? ENCODE_BATCH_SIZE;
  const generator = o.posterior === "sample" ? new Generator(o.seed ?? 0, { device: model.store.device }) : undefined;
  const parts: Tensor[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      parts.push(tidy(() => noGrad(() => model.encodeLatents(x.narrow(0, start, size).to({ device: model.store.device }), generator))));
      o.onBatch?.(start + size, n);
    }
    const latents = tidy(() => cat(parts));
    return new TensorDataset(latents, tidy(() => labels.clone()), { numClasses: images.numClasses, source: `${images.source} (latents)`, classNames: images.classNames });
  } finally {
    for (const p of parts) p.dispose();
  }
}

/** What a latent cache file records besides its tensors. */
export interface LatentCacheInfo {
  kind: "fewstep-latents";
  record: LatentRecord;
  /** The image data spec it was encoded from. */
  data: string;
  numClasses: number;
  classNames?: string[];
}

/** A shard's name: the cache's name with -KKKKK-of-NNNNN before .safetensors (1-based, Hugging Face's convention). */
const SHARD_NAME = /-(\d{5})-of-(\d{5})\.safetensors$/i;

/** The file name of shard k (1-based) of `count` for a cache named `path`. */
export function shardPath(path: string, k: number, count: number): string {
  const pad = (v: number) => String(v).padStart(5, "0");
  return `${path.replace(/\.safetensors$/i, "")}-${pad(k)}-of-${pad(count)}.safetensors`;
}

/**
 * Writes `latents` (a TensorDataset of latents) to `path` as a latent cache, each file atomic;
 * with `shardSize` and more rows than that, as shards of at most `shardSize` rows
 * (`name-00001-of-0000K.safetensors`, ...), any of which names the whole cache when read.
 * @returns the files written
 */
export function writeLatentCache(path: string, latents: TensorDataset, info: Omit<LatentCacheInfo, "kind" | "numClasses" | "classNames">, shardSize = 0): string[] {
  const { x, labels } = latents.all();
  const meta: LatentCacheInfo = { kind: "fewstep-latents", ...info, numClasses: latents.numClasses, ...(latents.classNames ? { classNames: latents.classNames } : {}) };
  const n = x.shape[0];
  const count = shardSize > 0 && n > shardSize ? Math.ceil(n / shardSize) : 1;
  const written: string[] = [];
  for (let k = 0; k < count; k++) {
    const file = count === 1 ? path : shardPath(path, k + 1, count);
    const [start, size] = count === 1 ? [0, n] : [k * shardSize, Math.min(shardSize, n - k * shardSize)];
    tidy(() => saveSafetensors(file, { latents: toHost(x.narrow(0, start, size).contiguous()), labels: toHost(labels.narrow(0, start, size).contiguous()) }, { fewstep: JSON.stringify(meta) }));
    written.push(file);
  }
  return written;
}

/** One cache file's tensors and metadata, checked. */
function readCacheFile(path: string) {
  let file;
  try {
    file = loadSafetensors(path);
  } catch (err) {
    throw new FormatError(`${path}: cannot read the latent cache: ${(err as Error).message}`, { cause: err });
  }
  let info: LatentCacheInfo;
  try {
    info = JSON.parse(file.metadata.fewstep ?? "null") as LatentCacheInfo;
  } catch {
    throw new FormatError(`${path}: not a fewstep latent cache (its metadata is not JSON); make one with fewstep encode`);
  }
  const latents = file.tensors.latents;
  const labels = file.tensors.labels;
  if (info?.kind !== "fewstep-latents" || !latents || !labels || latents.shape.length !== 4 || labels.shape.length !== 1 || labels.shape[0] !== latents.shape[0] || latents.dtype !== "float32" || labels.dtype !== "int64") {
    throw new FormatError(`${path}: not a fewstep latent cache (it needs float32 latents [N, c, h, w], int64 labels [N] and "fewstep-latents" metadata); make one with fewstep encode`);
  }
  if (!Number.isSafeInteger(info.numClasses) || info.numClasses < 1) throw new ConfigError(`${path}: numClasses must be a positive integer`);
  return { latents, labels, info };
}

/**
 * Reads a latent cache (one file, or every shard of a sharded one named by any shard); with
 * `expect`, refuses one made by another autoencoder.
 * @throws FormatError when a file is no latent cache, a shard is missing or the shards disagree;
 *   CheckpointError on a hash mismatch
 */
export function readLatentCache(path: string, expect?: { sha256: string; who: string }): { dataset: TensorDataset; info: LatentCacheInfo } {
  const shard = SHARD_NAME.exec(path);
  const count = shard ? Number(shard[2]) : 1;
  if (shard && (count < 1 || Number(shard[1]) < 1 || Number(shard[1]) > count)) throw new FormatError(`${path}: a shard name must be -KKKKK-of-NNNNN with 1 <= K <= N`);
  const base = shard ? path.slice(0, shard.index) + ".safetensors" : path;
  const files = shard ? Array.from({ length: count }, (_, k) => shardPath(base, k + 1, count)) : [path];
  for (const f of files) if (!existsSync(f)) throw new FormatError(`${path}: shard ${f} of the cache is missing; encode the data again with fewstep encode`);
  const parts = files.map(readCacheFile);
  const info = parts[0].info;
  const same = (a: LatentCacheInfo) => JSON.stringify(a) === JSON.stringify(info);
  const odd = parts.findIndex((p) => !same(p.info) || p.latents.shape.slice(1).join() !== parts[0].latents.shape.slice(1).join());
  if (odd >= 0) throw new FormatError(`${files[odd]}: its metadata or latent shape differs from ${files[0]}'s; the shards are not one cache`);
  if (expect && info.record?.autoencoder?.sha256 !== expect.sha256) {
    throw new CheckpointError(
      `${path} holds latents of the autoencoder ${info.record?.autoencoder?.path} (sha256 ${String(info.record?.autoencoder?.sha256).slice(0, 12)}...), not of ${expect.who} (sha256 ${expect.sha256.slice(0, 12)}...); encode the data again with fewstep encode --autoencoder of ${expect.who}`,
    );
  }
  const [x, labels] = tidy(() => [cat(parts.map((p) => fromHost(p.latents))), cat(parts.map((p) => fromHost(p.labels)))]);
  const dataset = new TensorDataset(x, labels, { numClasses: info.numClasses, source: `${path} (latents of ${info.data}${count > 1 ? `, ${count} shards` : ""})`, classNames: info.classNames });
  return { dataset, info };
}
