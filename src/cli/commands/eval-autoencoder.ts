// `fewstep eval-autoencoder`: the floor a latent model cannot beat, measured as `fewstep eval`
// measures models: reconstruction FID (and IS) of the reference images' reconstructions with the
// same feature network and reference statistics, plus PSNR. Writes results.json to --out-dir.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

export const evalAutoencoderSpec: CommandSpec = {
  name: "eval-autoencoder",
  summary: "reconstruction FID, IS and PSNR of an autoencoder on held-out images (the floor of its latent models)",
  usage: "fewstep eval-autoencoder --autoencoder A [--classifier FILE] [--reference SPEC] [--n N] [--out-dir DIR]",
  flags: [
    DEVICE_FLAG,
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "a fewstep autoencoder checkpoint or a diffusers AutoencoderKL folder" },
    { name: "classifier", kind: "path", meta: "FILE", default: "models/fashion-mnist/classifier.safetensors", help: "feature network from fewstep train-classifier (FID features, IS probabilities)" },
    { name: "reference", kind: "string", meta: "SPEC", default: "fashion-mnist:test", help: "the held-out images, reconstructed and compared with themselves" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "side the images are padded or resized to before encoding (default: the autoencoder's sample_size)" },
    { name: "n", kind: "int", meta: "N", min: 2, default: 10000, help: "images (the first N of a seeded permutation)" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/eval-autoencoder", help: "where results.json goes" },
    { name: "cache-dir", kind: "path", meta: "DIR", default: "runs/fid-cache", help: "cached reference statistics (shared with fewstep eval)" },
  ],
  examples: ["fewstep eval-autoencoder --autoencoder models/fashion-mnist-latent/autoencoder.safetensors --n 10000"],
};

export async function runEvalAutoencoder(flags: ParsedFlags): Promise<void> {
  const aePath = flags.autoencoder as string | undefined;
  if (!aePath) throw new FewstepError("give --autoencoder (a checkpoint from fewstep train-autoencoder, or a diffusers AutoencoderKL folder)");
  if (!existsSync(aePath)) throw new FewstepError(`--autoencoder ${aePath}: no such file or folder`);
  const classifierPath = flags.classifier as string;
  if (!existsSync(classifierPath)) throw new FewstepError(`--classifier ${classifierPath}: no such file; train one with fewstep train-classifier`);
  const device = await deviceFlag(flags);
  const { loadAutoencoder } = await import("../../io/load-autoencoder.js");
  const { loadClassifierCheckpoint } = await import("../../io/load-classifier.js");
  const { classifierFeatures } = await import("../../eval/feature-network.js");
  const { loadReferenceImages, referenceStats } = await import("../../eval/reference-stats.js");
  const { evaluateReconstruction } = await import("../../eval/reconstruction.js");
  const { openImageDataset } = await import("../../io/datasets.js");
  const { writeFileAtomic } = await import("../../io/atomic.js");
  const network = classifierFeatures(loadClassifierCheckpoint(classifierPath).classifier, classifierPath);
  const autoencoder = loadAutoencoder(aePath, { device });
  try {
    const size = (flags.size as number | undefined) ?? autoencoder.model.config.sample_size;
    const host = openImageDataset(flags.reference as string);
    const side = Math.max(host.height, host.width);
    const cropTo = side < size ? side : null;
    autoencoder.model.latentShape([host.channels, size, size]);
    const why = network.incompatibility([host.channels, cropTo ?? size, cropTo ?? size]);
    if (why) throw new FewstepError(`--classifier: the reconstructions are [${host.channels}, ${cropTo ?? size}, ${cropTo ?? size}] but ${why}`);
    const n = flags.n as number;
    const reference = await referenceStats({ features: network, size: cropTo ?? size, reference: flags.reference as string, n, cacheDir: flags["cache-dir"] as string });
    const images = loadReferenceImages(flags.reference as string, size, n);
    const started = performance.now();
    let scores;
    try {
      scores = await evaluateReconstruction(autoencoder.model, images, { cropTo, features: network, reference: reference.stats });
    } finally {
      images.dispose();
      reference.stats.mean.dispose();
      reference.stats.cov.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    const outDir = flags["out-dir"] as string;
    mkdirSync(outDir, { recursive: true });
    const results = { autoencoder: { path: aePath, sha256: autoencoder.sha256, config: autoencoder.model.config }, reference: flags.reference, classifier: classifierPath, imageSize: size, cropTo, ...scores, seconds };
    writeFileAtomic(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`fewstep eval-autoencoder: ${scores.n} images of ${flags.reference}: reconstruction FID ${scores.fid.toFixed(2)}, IS ${scores.isMean?.toFixed(2)} +- ${scores.isStd?.toFixed(2)}, PSNR ${scores.psnr.toFixed(2)} dB (${seconds.toFixed(0)} s); ${join(outDir, "results.json")}`);
  } finally {
    autoencoder.model.dispose();
    network.dispose();
  }
}

export const command: Command = { spec: evalAutoencoderSpec, run: runEvalAutoencoder };
