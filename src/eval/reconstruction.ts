// How well an autoencoder reconstructs images: reconstructions (posterior mean -> decode, as
// sampling decodes), PSNR over images in [-1, 1] (peak-to-peak 2), and a grid of originals above
// their reconstructions. The reconstruction FID, the floor a latent model cannot beat, is
// scoreImages (image-metrics.ts) of the quantized reconstructions.
import { cat, noGrad, tidy, type Tensor } from "../engine/index.js";
import { centerCrop } from "../latent/latent-space.js";
import type { AutoencoderKL } from "../nn/autoencoder.js";
import type { FeatureNetwork } from "./feature-network.js";
import type { GaussianStats } from "./fid.js";
import { saveImageGrid } from "./image-grid.js";
import { quantizeImages, scoreOutputs, type ImageScores } from "./image-metrics.js";

/** Reconstructions of images [n, C, S, S]: decode(posterior mean), in batches. */
export function reconstruct(model: AutoencoderKL, images: Tensor, batchSize = 256): Tensor {
  return tidy(() =>
    noGrad(() => {
      const parts: Tensor[] = [];
      for (let start = 0; start < images.shape[0]; start += batchSize) {
        const x = images.narrow(0, start, Math.min(batchSize, images.shape[0] - start)).to({ device: model.store.device });
        parts.push(model.decode(model.encode(x).mean).to({ device: "cpu" }));
      }
      return cat(parts);
    }),
  );
}

/** PSNR in dB of `reconstructions` against `images` (both in [-1, 1], so the peak-to-peak range is 2), over all pixels. */
export function psnr(images: Tensor, reconstructions: Tensor): number {
  const mse = tidy(() => images.to("float64").sub(reconstructions.to("float64")).square().mean().item());
  return 10 * Math.log10(4 / mse);
}

/** A grid of `images` [n, C, S, S] (n a multiple of `columns`) row by row, each row of originals above its reconstructions. */
export function writeReconstructionGrid(path: string, model: AutoencoderKL, images: Tensor, o: { columns: number; title: string }): void {
  tidy(() => {
    const rec = reconstruct(model, images).clamp(-1, 1);
    const rows: Tensor[] = [];
    for (let start = 0; start < images.shape[0]; start += o.columns) {
      const size = Math.min(o.columns, images.shape[0] - start);
      rows.push(images.narrow(0, start, size), rec.narrow(0, start, size));
    }
    const grid = cat(rows).contiguous();
    const labels = rows.map((_, i) => (i % 2 === 0 ? "input" : "recon"));
    saveImageGrid(path, grid.data() as Float32Array, grid.shape, { columns: o.columns, rowLabels: labels, title: o.title });
  });
}

/** The autoencoder's floor: reconstruction FID (and IS) against the reference statistics, and PSNR. */
export interface ReconstructionScores extends ImageScores {
  psnr: number;
  n: number;
}

/**
 * Scores the reconstructions of `images` [n, C, S, S] (the reference images padded to the
 * autoencoder's size): decode(posterior mean), center-cropped to `cropTo` like a latent model's
 * samples, quantized to 8 bits like every scored image; PSNR against the cropped originals.
 */
export async function evaluateReconstruction(model: AutoencoderKL, images: Tensor, o: { cropTo: number | null; features: FeatureNetwork; reference: GaussianStats; batchSize?: number }): Promise<ReconstructionScores> {
  const rec = tidy(() => quantizeImages(centerCrop(reconstruct(model, images, o.batchSize), o.cropTo)));
  try {
    const psnrDb = tidy(() => psnr(centerCrop(images, o.cropTo), rec));
    const out = await o.features.outputs(rec);
    try {
      return { ...tidy(() => scoreOutputs(out.features, out.probs, o.reference)), psnr: psnrDb, n: images.shape[0] };
    } finally {
      out.features.dispose();
      out.probs?.dispose();
    }
  } finally {
    rec.dispose();
  }
}
