// A tiny latent model on disk: an autoencoder checkpoint (factor 2, [1, 8, 8] images -> [2, 4, 4]
// latents) and a 2-step U-Net student on its latents whose metadata records it as a latent
// student does (metadata.distill.data.latent), with a center crop of decoded images to 6 x 6.
import { join } from "node:path";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import type { LatentRecord } from "../../src/io/latent-record.js";
import { autoencoderHash } from "../../src/io/load-autoencoder.js";
import { AutoencoderKL } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { perturbWeights } from "./onnx-parity.js";

export const LATENT_AE_CONFIG = { in_channels: 1, block_out_channels: [8, 16], latent_channels: 2, norm_num_groups: 4, sample_size: 8, scaling_factor: 0.6 };
export const LATENT_IMAGE_SHAPE = [1, 8, 8];
export const LATENT_CROP = 6;

/** Writes an autoencoder checkpoint at `path` (weights from `seed`); returns its content hash. */
export function writeAutoencoder(path: string, seed: number): string {
  const ae = new AutoencoderKL(new ParamStore({ seed }), LATENT_AE_CONFIG);
  try {
    perturbWeights(ae, seed + 1, 0.3, (name) => /norm/.test(name));
    saveCheckpoint(path, { params: ae.named(), metadata: { model: ae.metadata() } });
    return autoencoderHash(ae);
  } finally {
    ae.dispose();
  }
}

/**
 * Writes ae.safetensors and student.safetensors into `dir`; the student's record names the
 * autoencoder at `recordedPath` (default: the file written) with the written file's hash.
 */
export function writeLatentStudent(dir: string, opts: { recordedPath?: string } = {}): { aePath: string; studentPath: string; sha256: string; record: LatentRecord } {
  const aePath = join(dir, "ae.safetensors");
  const sha256 = writeAutoencoder(aePath, 4);
  const record: LatentRecord = { autoencoder: { path: opts.recordedPath ?? aePath, sha256 }, imageShape: LATENT_IMAGE_SHAPE, cropTo: LATENT_CROP, posterior: "mean" };
  const student = new UNet(new ParamStore({ seed: 6 }), { channels: 2, size: 4, numClasses: 3, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attentionResolutions: [], fourierFeatures: 8, wInput: true, wMax: 4 });
  const studentPath = join(dir, "student.safetensors");
  try {
    perturbWeights(student, 7);
    const distill = { stage: "two", steps: 2, wMin: 0, wMax: 4, teacher: "t", data: { kind: "images", spec: "fashion-mnist", latent: record } };
    saveCheckpoint(studentPath, { params: student.named(), metadata: { model: student.metadata(), distill, dataset: { classNames: ["a", "b", "c"] } } });
  } finally {
    student.dispose();
  }
  return { aePath, studentPath, sha256, record };
}
