// `fewstep train-autoencoder`: trains the KL autoencoder of a latent diffusion model on images
// (latent diffusion's loss: summed L1, optional L2, KL at weight 1e-6, optionally its PatchGAN
// discriminator from --disc-start on; no LPIPS, whose VGG weights cannot be fetched offline). The run folder gets config.json,
// log.jsonl (with the reconstruction and KL terms), autoencoder.safetensors (weights, EMA,
// optimizer, generator; the scaling factor estimated from data at every save) and
// reconstruction grids grids/step-<K>.png. Ctrl-C saves and stops; --resume continues exactly.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

export const trainAutoencoderSpec: CommandSpec = {
  name: "train-autoencoder",
  summary: "train the KL autoencoder of a latent diffusion model (diffusers' AutoencoderKL layout) on images",
  usage: "fewstep train-autoencoder --data fashion-mnist|SPEC [--size S] [--out-dir DIR] [flags]",
  flags: [
    DEVICE_FLAG,
    { name: "data", kind: "string", meta: "SPEC", default: "fashion-mnist", help: "image data: fashion-mnist[:train|test], idx:IMAGES,LABELS, cifar10:BATCH[,BATCH...], png:DIR, npy:IMAGES,LABELS" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "side of the images the autoencoder takes; smaller images are padded (centered, background -1), larger resized; must divide by the down factor (default: the images' own size; Fashion-MNIST: use 32 for 8x8 latents at factor 4)" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/autoencoder", help: "run folder: config.json, log.jsonl, autoencoder.safetensors, grids/" },
    { name: "widths", kind: "numbers", meta: "C,C,...", default: "32,64,64", help: "block_out_channels: width per level; the down factor is 2^(levels - 1)" },
    { name: "layers-per-block", kind: "int", meta: "K", min: 1, default: 1, help: "ResNet blocks per encoder level (the decoder has one more)" },
    { name: "latent-channels", kind: "int", meta: "L", min: 1, default: 4, help: "channels of the latent" },
    { name: "groups", kind: "int", meta: "G", min: 1, default: 8, help: "GroupNorm groups (norm_num_groups); every width must divide by it" },
    { name: "no-attention", kind: "boolean", default: false, help: "leave the mid blocks' self-attention out (mid_block_add_attention false)" },
    { name: "steps", kind: "int", meta: "N", min: 1, default: 6000, help: "optimizer steps" },
    { name: "batch-size", kind: "int", meta: "B", min: 1, default: 32, help: "images per step" },
    { name: "lr", kind: "number", meta: "LR", min: 0, default: 5e-4, help: "peak AdamW learning rate, linear warmup over 100 steps" },
    { name: "kl-weight", kind: "number", meta: "W", min: 0, default: 1e-6, help: "weight of the KL term (latent diffusion's 1e-6, with its sum-per-image reductions)" },
    { name: "l2-weight", kind: "number", meta: "W", min: 0, default: 0, help: "weight of an added summed squared error" },
    { name: "disc-start", kind: "int", meta: "S", min: 0, help: "train LDM's PatchGAN discriminator (hinge loss, adaptive weight) from this step on; off when absent (the default at CPU scale)" },
    { name: "disc-weight", kind: "number", meta: "W", min: 0, default: 0.5, help: "with --disc-start: LDM's discriminator_weight, times the adaptive weight" },
    { name: "disc-width", kind: "int", meta: "C", min: 1, default: 64, help: "with --disc-start: channels of the discriminator's first conv (ndf)" },
    { name: "disc-layers", kind: "int", meta: "L", min: 1, default: 3, help: "with --disc-start: its stride-2 convs (n_layers)" },
    { name: "ema-decay", kind: "number", meta: "D", min: 0, default: 0.999, help: "EMA decay of the weights one encodes and decodes with" },
    { name: "scale-images", kind: "int", meta: "N", min: 2, default: 4096, help: "training images the latent scaling factor (1 / std of the latents) is estimated on" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of initialisation, data and posterior samples" },
    { name: "checkpoint-every", kind: "int", meta: "K", min: 0, default: 1000, help: "steps between checkpoints (0: only at the end)" },
    { name: "grid-every", kind: "int", meta: "K", min: 0, default: 1000, help: "steps between reconstruction grids in grids/ (0: only at the end)" },
    { name: "resume", kind: "boolean", default: false, help: "continue from the run folder's autoencoder.safetensors" },
  ],
  examples: [
    "fewstep train-autoencoder --data fashion-mnist --size 32 --out-dir runs/ae",
    "fewstep train-autoencoder --data png:my-images --size 64 --widths 32,64,128,128 --out-dir runs/ae-f8",
    "fewstep train-autoencoder --out-dir runs/ae --data fashion-mnist --size 32 --resume",
  ],
};

export async function runTrainAutoencoder(flags: ParsedFlags): Promise<void> {
  const outDir = flags["out-dir"] as string;
  const checkpointPath = join(outDir, "autoencoder.safetensors");
  const resume = flags.resume === true;
  if (!resume && existsSync(checkpointPath)) throw new FewstepError(`${checkpointPath} exists: pass --resume to continue it, or choose another --out-dir`);
  if (resume && !existsSync(checkpointPath)) throw new FewstepError(`--resume: ${checkpointPath} does not exist; drop --resume to start a new run`);
  const device = await deviceFlag(flags);
  if (resume) {
    const { checkResumeFlags } = await import("../run-folder.js");
    checkResumeFlags(outDir, "config.json", flags, ["steps", "grid-every"]);
  }
  const { openImageDataset } = await import("../../io/datasets.js");
  const { ImageTensorDataset } = await import("../../diffusion/image-dataset.js");
  const { resolveAutoencoderConfig, downFactor } = await import("../../nn/autoencoder.js");
  const model = {
    block_out_channels: flags.widths as number[],
    layers_per_block: flags["layers-per-block"] as number,
    latent_channels: flags["latent-channels"] as number,
    norm_num_groups: flags.groups as number,
    mid_block_add_attention: flags["no-attention"] !== true,
  };
  const host = openImageDataset(flags.data as string);
  const size = (flags.size as number | undefined) ?? Math.max(host.height, host.width);
  // every architecture and size problem before the run folder exists or the data is scaled
  const config = resolveAutoencoderConfig({ ...model, in_channels: host.channels, sample_size: size });
  const f = downFactor(config);
  if (size % f !== 0) throw new FewstepError(`image size ${size} does not divide by the autoencoder's down factor ${f} (${config.block_out_channels.length} levels): pass --size ${Math.ceil(size / f) * f}`);
  const dataset = new ImageTensorDataset(host, { size });
  console.error(`fewstep train-autoencoder: ${host.count} images [${dataset.exampleShape}] from ${host.source}; latents [${config.latent_channels}, ${size / f}, ${size / f}]`);
  const { openRunFolder } = await import("../run-folder.js");
  const run = await openRunFolder(outDir, "config.json", "train-autoencoder", flags);
  const { trainAutoencoder } = await import("../../latent/train-autoencoder.js");
  const { writeReconstructionGrid } = await import("../../eval/reconstruction.js");
  const { Generator, keep } = await import("../../engine/index.js");
  const gridDir = join(outDir, "grids");
  mkdirSync(gridDir, { recursive: true });
  // the same 24 training images in every grid
  const gridImages = keep(dataset.sample(24, new Generator(flags.seed as number)).x);
  let gridFailures = 0;
  try {
    const result = await trainAutoencoder({
      dataset,
      model,
      device,
      steps: flags.steps as number,
      batchSize: flags["batch-size"] as number,
      lr: flags.lr as number,
      klWeight: flags["kl-weight"] as number,
      l2Weight: flags["l2-weight"] as number,
      emaDecay: flags["ema-decay"] as number,
      scaleImages: flags["scale-images"] as number,
      seed: flags.seed as number,
      checkpointPath,
      checkpointEvery: flags["checkpoint-every"] as number,
      resume,
      signal: run.signal,
      onProgress: (p) => {
        run.onProgress({ ...p, stage: "autoencoder" });
        run.log({ step: p.step, rec: p.rec, kl: p.kl });
      },
      metadata: { data: { spec: flags.data, size } },
      discriminator: flags["disc-start"] === undefined ? undefined : { start: flags["disc-start"] as number, weight: flags["disc-weight"] as number, width: flags["disc-width"] as number, layers: flags["disc-layers"] as number },
      snapshot: {
        every: (flags["grid-every"] as number) || (flags.steps as number),
        fn: (step, ema) => {
          const path = join(gridDir, `step-${String(step).padStart(6, "0")}.png`);
          try {
            writeReconstructionGrid(path, ema, gridImages, { columns: 8, title: `autoencoder (EMA) step ${step}: inputs above reconstructions` });
            run.log({ step, grid: path });
          } catch (err) {
            gridFailures++;
            console.error(`fewstep train-autoencoder: warning: the grid at step ${step} failed (${(err as Error).message}); training goes on`);
          }
        },
      },
    });
    console.error(`fewstep train-autoencoder: ${result.stopped ? "stopped" : "finished"} at step ${result.step}; checkpoint ${checkpointPath} (scaling factor ${result.scalingFactor.toPrecision(5)})`);
    result.dispose();
    if (gridFailures > 0) throw new FewstepError(`${gridFailures} reconstruction grid(s) failed (see the warnings above); the checkpoint was saved at ${checkpointPath}`);
  } finally {
    gridImages.dispose();
    run.close();
    dataset.dispose();
  }
}

export const command: Command = { spec: trainAutoencoderSpec, run: runTrainAutoencoder };
