// `fewstep train-teacher`: trains a class-conditional teacher with condition dropout for guidance:
// an MLP on a Gaussian mixture (--mixture) or a U-Net on images (--data, e.g. Fashion-MNIST).
// The run folder gets config.json, log.jsonl, teacher.safetensors and, for images, sample grids
// grids/step-<K>.png every --grid-every steps; Ctrl-C saves a checkpoint and stops; --resume
// continues exactly.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { checkTrainMemory } from "../../engine/bounds.js";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";

/** Defaults that differ between vector data (MLP) and images (U-Net), each with its reason. */
export const TRAIN_DEFAULTS = {
  mixture: { steps: 10000, batchSize: 256, lr: 1e-3 },
  // Fashion-MNIST on 2 CPU cores: ~0.4 s per step of batch 64 with the default U-Net (measured),
  // so 8000 steps is about an hour; lr 5e-4 with warmup is stable for this small U-Net.
  images: { steps: 8000, batchSize: 64, lr: 5e-4 },
} as const;

export const trainTeacherSpec: CommandSpec = {
  name: "train-teacher",
  summary: "train a class-conditional teacher (with condition dropout): an MLP on a Gaussian mixture or a U-Net on images",
  usage: "fewstep train-teacher (--mixture NAME|spec.json | --data fashion-mnist|SPEC) [--out-dir DIR] [flags]",
  flags: [
    DEVICE_FLAG,
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "vector data: built-in ring2d, gauss64d, or a JSON spec (default ring2d when --data is absent)" },
    { name: "data", kind: "string", meta: "SPEC", help: "image data: fashion-mnist[:train|test], idx:IMAGES,LABELS, cifar10:BATCH[,BATCH...], png:DIR, npy:IMAGES,LABELS; with --autoencoder also a latent cache (.safetensors from fewstep encode)" },
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "a latent teacher: train on this autoencoder's latents of --data (encoded now, or read from a latent cache); the checkpoint records the autoencoder and its hash" },
    { name: "posterior", kind: "string", meta: "mean|sample", choices: ["mean", "sample"], default: "mean", help: "with --autoencoder: encode each image to its posterior mean, or to one posterior sample" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/teacher", help: "run folder: config.json, log.jsonl, teacher.safetensors, grids/" },
    { name: "steps", kind: "int", meta: "N", min: 1, help: `optimizer steps (default ${TRAIN_DEFAULTS.mixture.steps} for a mixture, ${TRAIN_DEFAULTS.images.steps} for images)` },
    { name: "batch-size", kind: "int", meta: "B", min: 1, help: `examples per step (default ${TRAIN_DEFAULTS.mixture.batchSize} / ${TRAIN_DEFAULTS.images.batchSize})` },
    { name: "lr", kind: "number", meta: "LR", min: 0, help: `peak AdamW learning rate, linear warmup over 100 steps (default ${TRAIN_DEFAULTS.mixture.lr} / ${TRAIN_DEFAULTS.images.lr})` },
    { name: "hidden", kind: "int", meta: "H", min: 1, default: 256, help: "MLP width" },
    { name: "depth", kind: "int", meta: "D", min: 1, default: 4, help: "residual MLP blocks" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "images: side the U-Net takes; smaller images are padded, larger resized (default: the images' own size); with --autoencoder: the side of the images it encodes (default: its sample_size)" },
    { name: "base-channels", kind: "int", meta: "C", min: 8, default: 24, help: "U-Net channels of the first level (a multiple of 8)" },
    { name: "channel-mults", kind: "numbers", meta: "M,M,...", default: "1,2,2", help: "U-Net channel multiplier per level (the size must divide by 2^(levels - 1))" },
    { name: "attention", kind: "numbers", meta: "R,...", help: "U-Net resolutions with self-attention, plus the middle block (default 7 for images; for latents: 8 where the net has it)" },
    { name: "res-blocks", kind: "int", meta: "K", min: 1, default: 1, help: "U-Net residual blocks per level" },
    { name: "dropout", kind: "number", meta: "P", min: 0, default: 0.1, help: "U-Net dropout in the residual blocks while training" },
    { name: "p-uncond", kind: "number", meta: "P", min: 0, default: 0.1, help: "condition dropout probability (label -> null class)" },
    { name: "ema-decay", kind: "number", meta: "D", min: 0, default: 0.999, help: "EMA decay of the weights sampled with" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of initialisation, data, times, noise and dropout" },
    { name: "checkpoint-every", kind: "int", meta: "K", min: 0, default: 1000, help: "steps between checkpoints (0: only at the end)" },
    { name: "grid-every", kind: "int", meta: "K", min: 0, default: 1000, help: "images: steps between sample grids in grids/ (0: only at the end)" },
    { name: "grid-ws", kind: "numbers", meta: "W,...", min: 0, default: "0,1,4", help: "images: guidance weights of the grids (one block of columns each)" },
    { name: "grid-steps", kind: "int", meta: "N", min: 1, max: MAX_SAMPLING_STEPS, default: 32, help: "images: DDIM steps of the grids" },
    { name: "resume", kind: "boolean", default: false, help: "continue from the run folder's teacher.safetensors" },
  ],
  examples: [
    "fewstep train-teacher --mixture ring2d --steps 10000 --out-dir runs/ring2d-teacher",
    "fewstep train-teacher --data fashion-mnist --out-dir runs/fmnist-teacher",
    "fewstep train-teacher --data png:my-images --size 32 --channel-mults 1,2,2 --attention 8 --out-dir runs/mine",
    "fewstep train-teacher --out-dir runs/fmnist-teacher --data fashion-mnist --resume",
    "fewstep train-teacher --data fashion-mnist --autoencoder runs/fmnist-ae/autoencoder.safetensors --out-dir runs/fmnist-latent-teacher",
  ],
};

export async function runTrainTeacher(flags: ParsedFlags): Promise<void> {
  if (flags.mixture !== undefined && flags.data !== undefined) throw new FewstepError("give --mixture (vector data) or --data (images), not both");
  const latent = flags.autoencoder !== undefined;
  if (latent && flags.data === undefined) throw new FewstepError("--autoencoder trains a latent teacher on images: give --data (e.g. fashion-mnist, or a latent cache from fewstep encode)");
  const { isLatentCache } = await import("../latent-data.js");
  if (!latent && flags.data !== undefined && isLatentCache(flags.data as string)) throw new FewstepError(`--data ${flags.data} is a latent cache: pass the --autoencoder that made it`);
  const images = flags.data !== undefined;
  const defaults = images ? TRAIN_DEFAULTS.images : TRAIN_DEFAULTS.mixture;
  const outDir = flags["out-dir"] as string;
  const checkpointPath = join(outDir, "teacher.safetensors");
  const resume = flags.resume === true;
  if (!resume && existsSync(checkpointPath)) {
    throw new FewstepError(`${checkpointPath} exists: pass --resume to continue it, or choose another --out-dir`);
  }
  if (resume && !existsSync(checkpointPath)) throw new FewstepError(`--resume: ${checkpointPath} does not exist; drop --resume to start a new run`);
  // Validate first: everything used only later (the device, the grids' flags) is checked before
  // the run folder exists and before the first step (--grid-ws and --grid-steps by their specs).
  const device = await deviceFlag(flags);
  const { trainTeacher } = await import("../../diffusion/train-teacher.js");
  // The saved config holds only the flags that apply to this kind of data.
  const otherKind = images ? ["hidden", "depth", ...(latent ? [] : ["posterior"])] : ["size", "base-channels", "channel-mults", "attention", "res-blocks", "dropout", "grid-every", "grid-ws", "grid-steps", "posterior"];
  const applicable = Object.fromEntries(Object.entries(flags).filter(([k]) => !otherKind.includes(k)));
  const resolved: ParsedFlags = { ...applicable, steps: flags.steps ?? defaults.steps, "batch-size": flags["batch-size"] ?? defaults.batchSize, lr: flags.lr ?? defaults.lr };
  // pixel images keep the old default (attention at 7x7); latents take the U-Net's own (8x8 where the net has it)
  if (images && !latent && resolved.attention === undefined) resolved.attention = [7];
  if (resume) {
    // The teacher's rate is constant after warmup, so a longer --steps extends the run exactly;
    // the grids are outputs only.
    const { checkResumeFlags } = await import("../run-folder.js");
    checkResumeFlags(outDir, "config.json", resolved, ["steps", "grid-every", "grid-ws", "grid-steps"]);
  }
  let dataset: { numClasses: number; exampleShape: number[]; dispose(): void } & Parameters<typeof trainTeacher>[0]["dataset"];
  let model: Record<string, unknown>;
  let classNames: string[] | undefined;
  // the U-Net's settings, the same for pixel images and latents
  const unetSettings = {
    baseChannels: flags["base-channels"],
    channelMults: flags["channel-mults"],
    attentionResolutions: resolved.attention,
    numResBlocks: flags["res-blocks"],
    dropout: flags.dropout,
  };
  let latentSpace: import("../../latent/latent-space.js").LatentSpace | undefined;
  if (latent) {
    const { loadAutoencoder } = await import("../../io/load-autoencoder.js");
    const { openLatentData } = await import("../latent-data.js");
    const { latentSpaceOf } = await import("../../latent/latent-space.js");
    const autoencoder = loadAutoencoder(flags.autoencoder as string, { device });
    let opened;
    try {
      opened = await openLatentData(flags.data as string, autoencoder, { size: flags.size as number | undefined, posterior: flags.posterior as "mean" | "sample", seed: flags.seed as number });
    } catch (err) {
      autoencoder.model.dispose();
      throw err;
    }
    latentSpace = latentSpaceOf(autoencoder, opened.record);
    if (resume) {
      // the run continues only on the latents it started on
      const { loadCheckpoint, disposeCheckpoint } = await import("../../io/checkpoint.js");
      const { latentRecordOf } = await import("../../io/latent-record.js");
      const saved = loadCheckpoint(checkpointPath);
      const before = latentRecordOf(saved.metadata, checkpointPath);
      disposeCheckpoint(saved);
      if (before?.autoencoder.sha256 !== opened.record.autoencoder.sha256) {
        latentSpace.dispose();
        opened.dataset.dispose();
        throw new FewstepError(`--resume: ${checkpointPath} was trained ${before ? `on latents of another autoencoder (sha256 ${before.autoencoder.sha256.slice(0, 12)}...)` : "on pixels"}, not on ${flags.autoencoder} (sha256 ${opened.record.autoencoder.sha256.slice(0, 12)}...); resume with its own data`);
      }
    }
    dataset = opened.dataset;
    classNames = opened.dataset.classNames;
    model = unetSettings;
    console.error(`fewstep train-teacher: ${opened.dataset.count} latents [${dataset.exampleShape}] of ${opened.imageSpec} through ${flags.autoencoder} (images [${opened.record.imageShape}])`);
  } else if (images) {
    const { openImageDataset } = await import("../../io/datasets.js");
    const { ImageTensorDataset } = await import("../../diffusion/image-dataset.js");
    const host = openImageDataset(flags.data as string);
    classNames = host.classNames;
    dataset = new ImageTensorDataset(host, { size: flags.size as number | undefined });
    model = unetSettings;
    console.error(`fewstep train-teacher: ${host.count} images [${dataset.exampleShape}] in ${host.numClasses} classes from ${host.source}`);
  } else {
    const { loadMixture } = await import("../../diffusion/mixture.js");
    dataset = loadMixture((flags.mixture as string | undefined) ?? "ring2d", { dtype: "float32" });
    model = { hidden: flags.hidden, depth: flags.depth };
  }
  const batchSize = resolved["batch-size"] as number;
  const width = (images ? flags["base-channels"] : flags.hidden) as number;
  try {
    checkTrainMemory(batchSize, dataset.exampleShape, width, "training");
  } catch (error) {
    dataset.dispose();
    latentSpace?.dispose();
    throw error;
  }
  const { openRunFolder } = await import("../run-folder.js");
  const run = await openRunFolder(outDir, "config.json", "train-teacher", resolved);
  let snapshot: Parameters<typeof trainTeacher>[0]["snapshot"];
  // A grid that fails costs neither the run nor its checkpoint: one warning line, training goes
  // on, and the command exits 1 at the end saying where the checkpoint was saved.
  let gridFailures = 0;
  if (images) {
    const { writeClassGrid } = await import("../../eval/class-grid.js");
    const { denoiserOf } = await import("../../diffusion/parameterization.js");
    const gridDir = join(outDir, "grids");
    mkdirSync(gridDir, { recursive: true });
    const every = (flags["grid-every"] as number) || (resolved.steps as number);
    snapshot = {
      every,
      fn: (step, ema) => {
        const path = join(gridDir, `step-${String(step).padStart(6, "0")}.png`);
        try {
          writeClassGrid(path, denoiserOf(ema), {
          exampleShape: dataset.exampleShape,
          numClasses: dataset.numClasses,
          guidance: "teacher",
          ws: flags["grid-ws"] as number[],
          seedsPerClass: 6,
          steps: flags["grid-steps"] as number,
          title: `teacher (EMA) step ${step}, DDIM ${flags["grid-steps"]} steps; rows: classes, columns: seeds per w`,
          classNames,
          decode: latentSpace?.decode,
          });
        } catch (err) {
          gridFailures++;
          console.error(`fewstep train-teacher: warning: the grid at step ${step} failed (${(err as Error).message}); training goes on`);
          run.log({ step, gridFailed: (err as Error).message });
          return;
        }
        run.log({ step, grid: path });
      },
    };
  }
  try {
    const result = await trainTeacher({
      device,
      dataset,
      architecture: images ? "unet" : "mlp-denoiser",
      steps: resolved.steps as number,
      batchSize: resolved["batch-size"] as number,
      lr: resolved.lr as number,
      model,
      pUncond: flags["p-uncond"] as number,
      emaDecay: flags["ema-decay"] as number,
      seed: flags.seed as number,
      checkpointPath,
      checkpointEvery: flags["checkpoint-every"] as number,
      resume,
      signal: run.signal,
      onProgress: run.onProgress,
      snapshot,
      metadata: latentSpace ? { latent: latentSpace.record } : undefined,
    });
    const { describeModel } = await import("../../nn/registry.js");
    console.error(`fewstep train-teacher: ${result.stopped ? "stopped" : "finished"} at step ${result.step}; checkpoint ${checkpointPath} (${describeModel(result.model.metadata())})`);
    result.dispose();
    if (gridFailures > 0) throw new FewstepError(`${gridFailures} sample grid(s) failed (see the warnings above); the checkpoint was saved at ${checkpointPath}`);
  } finally {
    run.close();
    dataset.dispose();
    latentSpace?.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: trainTeacherSpec, run: runTrainTeacher };
