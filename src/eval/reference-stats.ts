// FID's reference side: the classifier's feature statistics (mean, covariance) of a reference set
// of real images, a data set split (`fashion-mnist:test`, any openImageDataset spec) or a .npy of
// images, scaled to [-1, 1] and sized to the classifier (= the model). They cost a pass over up to
// n images, so they are cached in one small safetensors file per
//   (reference spec, its files' size and mtime, classifier file SHA-256, image size, n):
// a retrained or replaced classifier, or a changed reference file, gets new statistics; the same
// ones are read back for every model, sampler, N and w.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "../engine/index.js";
import { openImageDataset, readNpyImageArray, shuffledOrder, toTensorBatch, type ImageDataset } from "../io/datasets.js";
import { FewstepError } from "../io/errors.js";
import { loadSafetensors, saveSafetensors } from "../io/safetensors.js";
import { fromHost, toHost } from "../io/tensor-bridge.js";
import type { ImageClassifier } from "../nn/classifier.js";
import type { GaussianStats } from "./fid.js";
import { EVAL_BATCH_SIZE, featureStats } from "./image-metrics.js";

/** What the cached statistics were computed from; equal keys mean equal statistics. */
export interface ReferenceKey {
  /** Bumped when the way statistics are computed changes. */
  version: 1;
  /** openImageDataset spec, or a .npy path */
  reference: string;
  /** size and mtime of each file the spec names (empty for the system Fashion-MNIST) */
  files: string[];
  classifierSha256: string;
  /** side of the square images */
  size: number;
  /** requested number of reference images (all of them when the set is smaller) */
  n: number;
}

export interface ReferenceStatsOptions {
  classifier: ImageClassifier;
  /** The classifier's checkpoint file: its content hash keys the cache. */
  classifierPath: string;
  /** A data set spec (fashion-mnist:test, idx:..., npy:IMAGES,LABELS, png:DIR, ...) or a .npy of images. */
  reference: string;
  /** At most this many images: a seeded subset (seed 0) when the set is larger. @default 10000 */
  n?: number;
  /** Folder of cached statistics; no caching without it. */
  cacheDir?: string;
  /** @default EVAL_BATCH_SIZE */
  batchSize?: number;
}

export interface ReferenceStats {
  stats: GaussianStats;
  /** Number of images the statistics come from. */
  count: number;
  /** True when read from the cache (nothing computed). */
  fromCache: boolean;
  /** The cache file, when caching. */
  cachePath: string | null;
  key: ReferenceKey;
}

const META_KEY = "fewstep.reference-stats";

/** SHA-256 of a file's bytes, hex. */
export function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** A reference spec names a bare .npy of images (no labels) rather than a data set. */
function isBareNpy(spec: string): boolean {
  return !spec.includes(":") && spec.toLowerCase().endsWith(".npy");
}

/** "path:size:mtime" of every existing file or folder the spec names. */
function fileFingerprints(spec: string): string[] {
  const paths = isBareNpy(spec) ? [spec] : spec.includes(":") ? spec.slice(spec.indexOf(":") + 1).split(",").filter((p) => p !== "" && p !== "train" && p !== "test") : [];
  return paths.filter((p) => existsSync(p)).map((p) => {
    const s = statSync(p);
    return `${p}:${s.size}:${Math.round(s.mtimeMs)}`;
  });
}

/** The cache key of a request (reads the classifier file once to hash it). */
export function referenceKey(o: { classifierPath: string; reference: string; size: number; n: number }): ReferenceKey {
  return { version: 1, reference: o.reference, files: fileFingerprints(o.reference), classifierSha256: fileSha256(o.classifierPath), size: o.size, n: o.n };
}

/** The cache file of a key: ref-<16 hex digits of the key's SHA-256>.safetensors. */
export function referenceCachePath(cacheDir: string, key: ReferenceKey): string {
  return join(cacheDir, `ref-${createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 16)}.safetensors`);
}

/**
 * Up to n reference images [m, C, size, size] in [-1, 1] (padded or resized as the trainers do),
 * the first n of a seeded permutation when the set holds more.
 * @throws FewstepError naming the spec when it cannot be opened
 */
export function loadReferenceImages(reference: string, size: number, n: number): Tensor {
  let host: ImageDataset;
  try {
    host = isBareNpy(reference) ? readNpyImageArray(reference) : openImageDataset(reference);
  } catch (err) {
    throw new FewstepError(`reference '${reference}': ${(err as Error).message}`, { cause: err });
  }
  const indices = host.count > n ? shuffledOrder(host.count, 0).slice(0, n) : Array.from({ length: host.count }, (_, i) => i);
  const { x, labels } = toTensorBatch(host, indices, { size });
  labels.dispose();
  return x;
}

/**
 * The classifier's feature statistics of the reference set: read from `cacheDir` when a file for
 * the same key is there, else computed (and written there).
 * @throws FewstepError when the reference cannot be read, has fewer than 2 images, or another
 *   channel count than the classifier
 */
export function referenceStats(o: ReferenceStatsOptions): ReferenceStats {
  const n = o.n ?? 10_000;
  const size = o.classifier.config.size;
  const key = referenceKey({ classifierPath: o.classifierPath, reference: o.reference, size, n });
  const cachePath = o.cacheDir ? referenceCachePath(o.cacheDir, key) : null;
  if (cachePath && existsSync(cachePath)) {
    const cached = readCache(cachePath, key);
    if (cached) return { stats: cached.stats, count: cached.count, fromCache: true, cachePath, key };
  }
  const images = loadReferenceImages(o.reference, size, n);
  try {
    const [count, channels] = images.shape;
    if (count < 2) throw new FewstepError(`reference '${o.reference}': needs at least 2 images for a covariance, got ${count}`);
    if (channels !== o.classifier.config.channels) {
      throw new FewstepError(`reference '${o.reference}': images have ${channels} channel(s) but the classifier takes ${o.classifier.config.channels}`);
    }
    const stats = featureStats(o.classifier, images, o.batchSize ?? EVAL_BATCH_SIZE);
    if (cachePath) {
      mkdirSync(o.cacheDir!, { recursive: true });
      saveSafetensors(cachePath, { mean: toHost(stats.mean), cov: toHost(stats.cov) }, { [META_KEY]: JSON.stringify({ key, count }) });
    }
    return { stats, count, fromCache: false, cachePath, key };
  } finally {
    images.dispose();
  }
}

/** The cached statistics when the file holds this exact key (a damaged file is recomputed). */
function readCache(path: string, key: ReferenceKey): { stats: GaussianStats; count: number } | null {
  try {
    const file = loadSafetensors(path);
    const meta = JSON.parse(file.metadata[META_KEY] ?? "null") as { key: ReferenceKey; count: number } | null;
    if (!meta || JSON.stringify(meta.key) !== JSON.stringify(key) || !file.tensors.mean || !file.tensors.cov) return null;
    return { stats: { mean: fromHost(file.tensors.mean), cov: fromHost(file.tensors.cov) }, count: meta.count };
  } catch {
    return null;
  }
}
