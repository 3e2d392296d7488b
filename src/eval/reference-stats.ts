// FID's reference side: the feature network's statistics (mean, covariance) of a reference set
// of real images, a data set split (`fashion-mnist:test`, any openImageDataset spec) or a .npy of
// images, scaled to [-1, 1] and sized as the models' images. They cost a pass over up to n images,
// so they are cached in one small safetensors file per
//   (reference spec, its files' size and mtime, feature network key, image size, n),
// where the network key holds its file's SHA-256 and, for an ONNX network, its outputs and every
// preprocessing option (feature-network.ts, onnx-features.ts): a retrained or replaced network,
// other preprocessing or a changed reference file gets new statistics; the same ones are read back
// for every model, sampler, N and w.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tidy, type Tensor } from "../engine/index.js";
import { openImageDataset, readNpyImageArray, shuffledOrder, toTensorBatch, type ImageDataset } from "../io/datasets.js";
import { FewstepError } from "../io/errors.js";
import { loadSafetensors, saveSafetensors } from "../io/safetensors.js";
import { fromHost, toHost } from "../io/tensor-bridge.js";
import type { FeatureNetwork, FeatureNetworkKey } from "./feature-network.js";
import { gaussianStats, type GaussianStats } from "./fid.js";

/** What the cached statistics were computed from; equal keys mean equal statistics. */
export interface ReferenceKey {
  /** Bumped when the way statistics are computed changes (2: any feature network, not only the classifier). */
  version: 2;
  /** openImageDataset spec, or a .npy path */
  reference: string;
  /** size and mtime of each file the spec names (empty for the system Fashion-MNIST) */
  files: string[];
  /** the feature network's file hash, outputs and preprocessing */
  network: FeatureNetworkKey;
  /** side of the square images */
  size: number;
  /** requested number of reference images (all of them when the set is smaller) */
  n: number;
}

export interface ReferenceStatsOptions {
  /** The feature network (classifierFeatures or loadOnnxFeatures); its key keys the cache. */
  features: FeatureNetwork;
  /** Side of the square images read (the models' size). @default the network's imageSize (the built-in classifier's) */
  size?: number;
  /** A data set spec (fashion-mnist:test, idx:..., npy:IMAGES,LABELS, png:DIR, ...) or a .npy of images. */
  reference: string;
  /** At most this many images: a seeded subset (seed 0) when the set is larger. @default 10000 */
  n?: number;
  /** Folder of cached statistics; no caching without it. */
  cacheDir?: string;
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

/** The cache key of a request. */
export function referenceKey(o: { network: FeatureNetworkKey; reference: string; size: number; n: number }): ReferenceKey {
  return { version: 2, reference: o.reference, files: fileFingerprints(o.reference), network: o.network, size: o.size, n: o.n };
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
 * The feature network's statistics of the reference set: read from `cacheDir` when a file for the
 * same key is there, else computed (and written there).
 * @throws FewstepError when the reference cannot be read, has fewer than 2 images, or images the
 *   network does not take
 */
export async function referenceStats(o: ReferenceStatsOptions): Promise<ReferenceStats> {
  const n = o.n ?? 10_000;
  const size = o.size ?? o.features.imageSize;
  if (size === null) throw new FewstepError(`referenceStats: give the image size; ${o.features.description} takes any`);
  const key = referenceKey({ network: o.features.key, reference: o.reference, size, n });
  const cachePath = o.cacheDir ? referenceCachePath(o.cacheDir, key) : null;
  if (cachePath && existsSync(cachePath)) {
    const cached = readCache(cachePath, key);
    if (cached) return { stats: cached.stats, count: cached.count, fromCache: true, cachePath, key };
  }
  const images = loadReferenceImages(o.reference, size, n);
  try {
    const [count, channels] = images.shape;
    if (count < 2) throw new FewstepError(`reference '${o.reference}': needs at least 2 images for a covariance, got ${count}`);
    const why = o.features.incompatibility(images.shape.slice(1));
    if (why) throw new FewstepError(`reference '${o.reference}': images [${images.shape.slice(1)}] (${channels} channel(s)): ${why}`);
    const out = await o.features.outputs(images);
    const stats = tidy(() => gaussianStats(out.features));
    out.features.dispose();
    out.probs?.dispose();
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
