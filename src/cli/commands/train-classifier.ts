// `fewstep train-classifier`: trains the feature network of `fewstep eval` (FID from its
// penultimate layer, IS from its softmax) on labeled images, then measures its test accuracy.
// The run folder gets config.json, log.jsonl, classifier.safetensors (weights and architecture,
// with the test accuracy in its metadata) and accuracy.json.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

/** The test accuracy below which the command warns: FID/IS need a classifier that knows the classes. */
export const MIN_TEST_ACCURACY = 0.9;

export const trainClassifierSpec: CommandSpec = {
  name: "train-classifier",
  summary: "train the small CNN whose features and softmax give fewstep eval's FID and IS; reports its test accuracy",
  usage: "fewstep train-classifier [--data fashion-mnist] [--test-data fashion-mnist:test] [--out-dir DIR] [flags]",
  flags: [
    DEVICE_FLAG,
    { name: "data", kind: "string", meta: "SPEC", default: "fashion-mnist", help: "training images: fashion-mnist[:train|test], idx:IMAGES,LABELS, cifar10:BATCH[,BATCH...], png:DIR, npy:IMAGES,LABELS" },
    { name: "test-data", kind: "string", meta: "SPEC", default: "fashion-mnist:test", help: "held-out images for the accuracy (same forms)" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/classifier", help: "run folder: config.json, log.jsonl, classifier.safetensors, accuracy.json" },
    // Defaults as CLASSIFIER_TRAIN_DEFAULTS (eval/train-classifier.ts says why and what was
    // measured: ~7-9 minutes on 2 busy CPU cores for the 10 epochs, estimated 91-92% accuracy).
    { name: "steps", kind: "int", meta: "N", min: 1, default: 4700, help: "optimizer steps (469 are one epoch of Fashion-MNIST at batch 128)" },
    { name: "batch-size", kind: "int", meta: "B", min: 1, default: 128, help: "images per step" },
    { name: "lr", kind: "number", meta: "LR", min: 0, default: 4e-3, help: "peak AdamW learning rate: linear warmup over 100 steps (5% of a shorter run), cosine decay to 0" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "side of the images the classifier takes: pad smaller, resize larger (default: the images' own; set it to the diffusion model's size)" },
    { name: "widths", kind: "numbers", meta: "C,C", default: "32,64", help: "channels per level (multiples of 8); each level halves the resolution, so the size must divide by 2^levels" },
    { name: "final-width", kind: "int", meta: "C", min: 0, default: 128, help: "channels of one more conv at the lowest resolution (0: none)" },
    { name: "feature-dim", kind: "int", meta: "D", min: 1, default: 128, help: "width of the penultimate layer: FID's features" },
    { name: "dropout", kind: "number", meta: "P", min: 0, default: 0, help: "dropout on the features while training" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of initialisation and batches" },
  ],
  examples: [
    "fewstep train-classifier --data fashion-mnist --test-data fashion-mnist:test --out-dir runs/classifier",
    "fewstep train-classifier --data png:my-images --test-data png:my-test --size 32 --out-dir runs/my-classifier",
  ],
};

export async function runTrainClassifier(flags: ParsedFlags): Promise<void> {
  const outDir = flags["out-dir"] as string;
  const checkpointPath = join(outDir, "classifier.safetensors");
  if (existsSync(checkpointPath)) throw new FewstepError(`${checkpointPath} exists: choose another --out-dir (or delete it to train again)`);
  const widths = flags.widths as number[];
  const bad = widths.find((w) => !Number.isInteger(w) || w < 8 || w % 8 !== 0);
  if (bad !== undefined) throw new FewstepError(`--widths: ${bad} is not a multiple of 8 (GroupNorm uses 8 groups); e.g. --widths 32,64`);
  if ((flags["final-width"] as number) % 8 !== 0) throw new FewstepError(`--final-width must be 0 or a multiple of 8, got ${flags["final-width"]}`);
  if (!((flags.dropout as number) < 1)) throw new FewstepError(`--dropout must be below 1, got ${flags.dropout}`);
  // Validate first: the device too is checked before the data loads and the run folder exists.
  const device = await deviceFlag(flags);

  const { openImageDataset, toTensorBatch } = await import("../../io/datasets.js");
  const { ImageTensorDataset } = await import("../../diffusion/image-dataset.js");
  const { trainClassifier, classifierAccuracy } = await import("../../eval/train-classifier.js");
  const { saveCheckpoint } = await import("../../io/checkpoint.js");
  const open = (flag: string) => {
    try {
      return openImageDataset(flags[flag] as string);
    } catch (err) {
      throw new FewstepError(`--${flag}: ${(err as Error).message}`);
    }
  };
  const host = open("data");
  const testHost = open("test-data");
  const size = (flags.size as number | undefined) ?? host.height;
  if (host.height !== host.width && flags.size === undefined) throw new FewstepError(`--data images are ${host.width}x${host.height}: give --size S for square inputs`);
  if (size % 2 ** widths.length !== 0) throw new FewstepError(`--size ${size} must divide by 2^${widths.length} for ${widths.length} levels (--widths ${widths.join(",")}); pad with --size ${Math.ceil(size / 2 ** widths.length) * 2 ** widths.length}`);
  if (testHost.channels !== host.channels) throw new FewstepError(`--test-data has ${testHost.channels} channel(s) but --data has ${host.channels}`);
  if (testHost.numClasses > host.numClasses) throw new FewstepError(`--test-data has ${testHost.numClasses} classes but --data only ${host.numClasses}`);
  const dataset = new ImageTensorDataset(host, { size });
  console.error(`fewstep train-classifier: ${host.count} images [${dataset.exampleShape}] in ${host.numClasses} classes from ${host.source}; test: ${testHost.count} from ${testHost.source}`);

  const { openRunFolder } = await import("../run-folder.js");
  const run = await openRunFolder(outDir, "config.json", "train-classifier", flags);
  try {
    const meta = { data: flags.data, testData: flags["test-data"], classNames: host.classNames ?? null };
    const result = await trainClassifier({
      device,
      dataset,
      model: { widths, finalWidth: flags["final-width"] as number, featureDim: flags["feature-dim"] as number, dropout: flags.dropout as number },
      steps: flags.steps as number,
      batchSize: flags["batch-size"] as number,
      lr: flags.lr as number,
      seed: flags.seed as number,
      checkpointPath,
      metadata: meta,
      onProgress: run.onProgress,
      signal: run.signal,
    });
    try {
      const test = toTensorBatch(testHost, Array.from({ length: testHost.count }, (_, i) => i), { size });
      const accuracy = classifierAccuracy(result.classifier, test.x, test.labels);
      test.x.dispose();
      test.labels.dispose();
      const report = { testAccuracy: accuracy.accuracy, correct: accuracy.correct, count: accuracy.count, perClass: accuracy.perClass, testData: flags["test-data"], step: result.step, stopped: result.stopped };
      // The accuracy travels with the weights (fewstep eval reports it), so the file is rewritten once.
      saveCheckpoint(checkpointPath, {
        params: result.classifier.named(),
        metadata: { ...meta, model: result.classifier.metadata(), stage: "classifier", step: result.step, testAccuracy: accuracy.accuracy },
      });
      writeFileSync(join(outDir, "accuracy.json"), `${JSON.stringify(report, null, 2)}\n`);
      run.log({ event: "accuracy", ...report });
      const pct = (100 * accuracy.accuracy).toFixed(2);
      console.error(`fewstep train-classifier: ${result.stopped ? "stopped" : "finished"} at step ${result.step}; test accuracy ${pct}% (${accuracy.correct}/${accuracy.count}); wrote ${checkpointPath} and accuracy.json`);
      if (accuracy.accuracy < MIN_TEST_ACCURACY) {
        console.error(`fewstep train-classifier: warning: test accuracy ${pct}% is below ${100 * MIN_TEST_ACCURACY}%; train longer (--steps) before using it for FID/IS`);
      }
    } catch (err) {
      // the trained weights are already on disk: say so instead of losing them to the report
      if (existsSync(checkpointPath)) throw new FewstepError(`the test accuracy failed (${(err as Error).message}); the checkpoint was saved at ${checkpointPath}`);
      throw err;
    } finally {
      result.classifier.dispose();
    }
  } finally {
    run.close();
    dataset.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: trainClassifierSpec, run: runTrainClassifier };
