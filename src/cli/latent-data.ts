// The data of a latent run, as the commands that take --autoencoder read it: --data SPEC (images,
// encoded on the fly through the autoencoder, with a progress line) or --data latents.safetensors
// (a cache from `fewstep encode`, refused when another autoencoder made it).
import { FewstepError } from "../engine/errors.js";
import type { TensorDataset } from "../diffusion/image-dataset.js";
import type { LatentRecord } from "../io/latent-record.js";
import type { LoadedAutoencoder } from "../io/load-autoencoder.js";

export interface LatentData {
  dataset: TensorDataset;
  record: LatentRecord;
  /** The image data the latents come from (the spec, or the cache's own). */
  imageSpec: string;
}

/** Whether a --data value names a latent cache rather than images. */
export const isLatentCache = (spec: string): boolean => spec.toLowerCase().endsWith(".safetensors");

/**
 * Latents of `spec` under `autoencoder`: a latent cache (checked by hash), or images padded or
 * resized to `size` (default: the autoencoder's sample_size) and encoded now.
 * @param posterior posterior means (default) or one posterior sample per image
 */
export async function openLatentData(spec: string, autoencoder: LoadedAutoencoder, o: { size?: number; posterior?: "mean" | "sample"; seed?: number } = {}): Promise<LatentData> {
  const { readLatentCache, encodeDataset, latentRecordFor } = await import("../latent/latent-space.js");
  if (isLatentCache(spec)) {
    if (o.size !== undefined) throw new FewstepError(`--size: ${spec} is a latent cache, encoded at its own size; leave --size out`);
    const { dataset, info } = readLatentCache(spec, { sha256: autoencoder.sha256, who: autoencoder.path });
    // the cache's record names the autoencoder as it was given then; this run names it as given now
    return { dataset, record: { ...info.record, autoencoder: { path: autoencoder.path, sha256: autoencoder.sha256 } }, imageSpec: info.data };
  }
  const { openImageDataset } = await import("../io/datasets.js");
  const { ImageTensorDataset } = await import("../diffusion/image-dataset.js");
  const host = openImageDataset(spec);
  const size = o.size ?? autoencoder.model.config.sample_size;
  const imageShape = [host.channels, size, size];
  const record = latentRecordFor(autoencoder, imageShape, Math.max(host.height, host.width), o.posterior ?? "mean");
  const images = new ImageTensorDataset(host, { size });
  try {
    const started = performance.now();
    let last = 0;
    const dataset = encodeDataset(autoencoder.model, images, {
      posterior: o.posterior ?? "mean",
      seed: o.seed,
      onBatch: (done, total) => {
        if (done === total || performance.now() - last > 10_000) {
          last = performance.now();
          console.error(`encoding ${host.source}: ${done}/${total} images (${((performance.now() - started) / 1000).toFixed(0)} s)`);
        }
      },
    });
    return { dataset, record, imageSpec: spec };
  } finally {
    images.dispose();
  }
}
