// `fewstep eval`: FID and Inception Score of image teachers and distilled students across samplers,
// step counts N and guidance weights w (the paper's tables and FID/IS curves), with fewstep's own
// classifier as the feature network (`fewstep train-classifier`) or a user's ONNX network
// (--features, e.g. InceptionV3 for the standard FID). Reference statistics are cached per
// (reference, feature network and its preprocessing, size, n). The out-dir gets results.json, results.csv and table.md
// (rewritten after every cell, so a stopped run keeps what it finished) and, at the end,
// fid-vs-w-N<N>.png per N and fid-vs-is.png.
import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { deviceFlag } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";

const SAMPLER_NAMES = ["ddim", "stochastic", "ddpm"] as const;

export const evalSpec: CommandSpec = {
  name: "eval",
  summary: "FID and IS of image teachers and distilled students across samplers, N and w: JSON, CSV, a table and plots",
  usage: "fewstep eval --model ckpt[,ckpt...] (--classifier ckpt | --features net.onnx [--features-*]) [--reference fashion-mnist:test] [flags]",
  flags: [
    { name: "model", kind: "string", meta: "FILE,...", help: "checkpoints to evaluate, comma-separated: teachers (guided with two predictions), stage-one students (any N), student-N<N> files (their own N only)" },
    { name: "classifier", kind: "path", meta: "FILE", help: "feature network from fewstep train-classifier (its classifier.safetensors): penultimate layer for FID, softmax for IS" },
    { name: "features", kind: "path", meta: "FILE", help: "instead of --classifier: an ONNX feature extractor or classifier (one float32 NCHW image input [n, C, H, W]), run by onnxruntime; images are prepared in this order: grey repeated to 3 channels if it takes 3, bilinear resize (align_corners false, no antialias) to --features-size, [-1, 1] mapped to --features-range, then (x - mean) / std" },
    { name: "features-output", kind: "string", meta: "NAME", help: "the ONNX output used as FID features, [n, d] or [n, d, 1, 1] (flattened); default: the network's first output" },
    { name: "logits-output", kind: "string", meta: "NAME", help: "an ONNX output of class logits [n, K]: their softmax gives the Inception Score (without it or --probs-output, no IS)" },
    { name: "probs-output", kind: "string", meta: "NAME", help: "instead of --logits-output: an ONNX output that is already probabilities (ends in softmax), used as is" },
    { name: "features-size", kind: "numbers", meta: "H[,W]", min: 1, help: "resize the images to H x W (one value: square) for the ONNX network; default: its declared input size when static, else the images' own" },
    { name: "features-range", kind: "numbers", meta: "LO,HI", default: "-1,1", help: "pixel range the ONNX network expects, e.g. 0,1 or -1,1 or 0,255 (fewstep's images are in [-1, 1])" },
    { name: "features-mean", kind: "numbers", meta: "M[,M,M]", help: "per-channel mean subtracted after --features-range (ImageNet: 0.485,0.456,0.406); needs --features-std" },
    { name: "features-std", kind: "numbers", meta: "S[,S,S]", help: "per-channel std divided by after --features-mean (ImageNet: 0.229,0.224,0.225)" },
    { name: "features-batch", kind: "int", meta: "B", min: 1, default: 64, help: "images per ONNX run" },
    { name: "reference", kind: "string", meta: "SPEC", default: "fashion-mnist:test", help: "real images for FID: a data set (fashion-mnist[:train|test], idx:..., npy:IMAGES,LABELS, png:DIR, cifar10:...) or a .npy of images" },
    { name: "ws", kind: "numbers", meta: "W,W", min: 0, default: "0,0.5,1,2,4", help: "guidance weights (paper's convention: 0 = no guidance)" },
    { name: "steps", kind: "numbers", meta: "N,N", min: 1, max: MAX_SAMPLING_STEPS, default: "1,2,4", help: "sampling step counts N" },
    { name: "sampler", kind: "string", meta: "NAME,...", default: "ddim", help: `samplers, comma-separated: ${SAMPLER_NAMES.join(", ")}` },
    { name: "n", kind: "int", meta: "N", min: 2, default: 10000, help: "samples per cell, and at most this many reference images" },
    { name: "batch-size", kind: "int", meta: "B", min: 1, default: 250, help: "samples per sampler and classifier batch" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of the noise (the same noise and labels for every cell)" },
    { name: "splits", kind: "int", meta: "K", min: 1, default: 10, help: "Inception Score chunks (the published convention is 10)" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/eval", help: "results.json, results.csv, table.md, fid-vs-w-N<N>.png, fid-vs-is.png" },
    { name: "cache-dir", kind: "path", meta: "DIR", default: "runs/fid-cache", help: "cached reference statistics" },
    { name: "device", kind: "string", meta: "DEV", default: "cpu", help: "where the models sample: cpu, cuda or cuda:N (needs the addon built against a CUDA libtorch); noise is drawn on the CPU, so results match across devices up to rounding; the classifier runs on the CPU" },
  ],
  examples: [
    "fewstep eval --model runs/teacher/teacher.safetensors,runs/distill/student-N4.safetensors,runs/distill/student-N2.safetensors,runs/distill/student-N1.safetensors --classifier runs/classifier/classifier.safetensors --steps 1,2,4 --out-dir runs/eval",
    "fewstep eval --model runs/distill/stage-one.safetensors --classifier runs/classifier/classifier.safetensors --ws 0,1,2,4 --steps 8,16 --sampler ddim,stochastic --n 2000",
    "fewstep eval --model runs/cifar/teacher.safetensors --reference cifar10:cifar-10-batches-bin/test_batch.bin --features inception-v3.onnx --features-output pool3 --logits-output logits --features-size 299 --features-range 0,1 --features-mean 0.485,0.456,0.406 --features-std 0.229,0.224,0.225",
  ],
};

/** The --features-* flags (all but --features-batch, which has a default) that only an ONNX network takes. */
const ONNX_FLAGS = ["features-output", "logits-output", "probs-output", "features-size", "features-mean", "features-std"] as const;

/** Checks the flags that need no files; returns the parsed lists. */
export function checkEvalFlags(flags: ParsedFlags): { models: string[]; samplers: string[]; steps: number[]; ws: number[] } {
  if (flags.model === undefined) throw new FewstepError("--model is required: one or more checkpoints, comma-separated (e.g. --model runs/teacher/teacher.safetensors)");
  if (flags.classifier === undefined && flags.features === undefined) {
    throw new FewstepError("--classifier or --features is required: the feature network, a fewstep classifier checkpoint (train one with fewstep train-classifier) or an ONNX file");
  }
  if (flags.classifier !== undefined && flags.features !== undefined) throw new FewstepError("--classifier and --features are two feature networks: give one");
  if (flags.features === undefined) {
    const onnxOnly = ONNX_FLAGS.find((f) => flags[f] !== undefined) ?? (String(flags["features-range"]) !== "-1,1" ? "features-range" : undefined);
    if (onnxOnly) throw new FewstepError(`--${onnxOnly} applies to an ONNX network: add --features net.onnx (or drop --${onnxOnly})`);
  } else {
    checkOnnxFlags(flags);
  }
  const models = String(flags.model).split(",").filter((m) => m !== "");
  if (models.length === 0) throw new FewstepError("--model: give at least one checkpoint");
  const duplicate = models.find((m, i) => models.indexOf(m) !== i);
  if (duplicate) throw new FewstepError(`--model: ${duplicate} is listed twice`);
  const samplers = String(flags.sampler).split(",");
  const badSampler = samplers.find((s) => !(SAMPLER_NAMES as readonly string[]).includes(s));
  if (badSampler !== undefined) throw new FewstepError(`--sampler: '${badSampler}' is not a sampler; use one or more of ${SAMPLER_NAMES.join(", ")}, comma-separated`);
  const steps = flags.steps as number[];
  const badSteps = steps.find((s) => !Number.isInteger(s));
  if (badSteps !== undefined) throw new FewstepError(`--steps: ${badSteps} is not an integer; e.g. --steps 1,2,4`);
  const ws = flags.ws as number[];
  for (const [name, list] of [["steps", steps], ["ws", ws], ["sampler", samplers]] as const) {
    const repeated = (list as readonly (string | number)[]).find((v, i) => list.indexOf(v as never) !== i);
    if (repeated !== undefined) throw new FewstepError(`--${name}: ${repeated} is listed twice`);
  }
  const network = flags.features !== undefined ? "features" : "classifier";
  for (const [flag, path] of [...models.map((m) => ["model", m]), [network, flags[network] as string]]) {
    if (!existsSync(path)) throw new FewstepError(`--${flag}: ${path} does not exist`);
  }
  return { models, samplers, steps, ws };
}

/** The --features-* values' counts and signs (what needs the ONNX file is checked when it loads). */
function checkOnnxFlags(flags: ParsedFlags): void {
  const list = (name: string) => flags[name] as number[] | undefined;
  const size = list("features-size");
  if (size && (size.length > 2 || !size.every(Number.isInteger))) throw new FewstepError(`--features-size: give H or H,W as integers (e.g. 299), got ${size.join(",")}`);
  const range = list("features-range")!;
  if (range.length !== 2 || !(range[0] < range[1])) throw new FewstepError(`--features-range: give LO,HI with LO < HI (e.g. 0,1 or -1,1 or 0,255), got ${range.join(",")}`);
  const [mean, std] = [list("features-mean"), list("features-std")];
  if ((mean === undefined) !== (std === undefined)) throw new FewstepError(`--features-${mean ? "mean needs --features-std" : "std needs --features-mean"} (per channel, e.g. ImageNet's --features-mean 0.485,0.456,0.406 --features-std 0.229,0.224,0.225)`);
  if (mean && std && mean.length !== std.length) throw new FewstepError(`--features-mean has ${mean.length} value(s) but --features-std has ${std.length}: give one per channel (or one for all)`);
  if (std && !std.every((s) => s > 0)) throw new FewstepError(`--features-std: every value must be > 0, got ${std.join(",")}`);
  if (flags["logits-output"] !== undefined && flags["probs-output"] !== undefined) throw new FewstepError("--logits-output and --probs-output both give IS's probabilities: give one");
}

/** The ONNX options of the --features-* flags. */
function onnxOptions(flags: ParsedFlags): import("../../eval/onnx-features.js").OnnxFeatureOptions {
  const size = flags["features-size"] as number[] | undefined;
  const str = (name: string) => (flags[name] === undefined ? undefined : String(flags[name]));
  return {
    featuresOutput: str("features-output"),
    logitsOutput: str("logits-output"),
    probsOutput: str("probs-output"),
    size: size && [size[0], size[1] ?? size[0]],
    range: flags["features-range"] as [number, number],
    mean: flags["features-mean"] as number[] | undefined,
    std: flags["features-std"] as number[] | undefined,
    batchSize: flags["features-batch"] as number,
  };
}

/** Short, distinct names: the file name without .safetensors, with its folder when two collide. */
export function modelNames(paths: string[]): string[] {
  const base = (p: string) => basename(p).replace(/\.safetensors$/i, "");
  const names = paths.map(base);
  return names.map((name, i) => (names.filter((n) => n === name).length > 1 ? `${basename(dirname(paths[i]))}/${name}` : name));
}

export async function runEval(flags: ParsedFlags): Promise<void> {
  const { models: modelPaths, samplers, steps, ws } = checkEvalFlags(flags);
  const { disposeCheckpoint, loadCheckpoint } = await import("../../io/checkpoint.js");
  const { modelFromCheckpoint } = await import("../../io/load-model.js");
  const { loadClassifierCheckpoint } = await import("../../io/load-classifier.js");
  const { classifierFeatures } = await import("../../eval/feature-network.js");
  const { distillMetadata } = await import("../../distill/metadata.js");
  const { latentSpaceFor } = await import("../../latent/latent-space.js");
  const { denoiserOf } = await import("../../diffusion/parameterization.js");
  const device = await deviceFlag(flags);
  const { evaluateModel, checkEvalRequest } = await import("../../eval/image-metrics.js");
  const { referenceStats } = await import("../../eval/reference-stats.js");
  const { resultsCsv, resultsTable, writeEvalPlots } = await import("../../eval/eval-report.js");
  const { writeFileAtomic } = await import("../../io/atomic.js");

  // The feature network: fewstep's classifier (--classifier) or an ONNX file (--features).
  const onnx = flags.features !== undefined;
  const networkFlag = onnx ? "--features" : "--classifier";
  const networkPath = (onnx ? flags.features : flags.classifier) as string;
  let network: import("../../eval/feature-network.js").FeatureNetwork;
  let testAccuracy: number | null = null;
  try {
    if (onnx) {
      const { loadOnnxFeatures } = await import("../../eval/onnx-features.js");
      network = await loadOnnxFeatures(networkPath, onnxOptions(flags));
    } else {
      const loaded = loadClassifierCheckpoint(networkPath);
      testAccuracy = typeof loaded.metadata.testAccuracy === "number" ? loaded.metadata.testAccuracy : null;
      network = classifierFeatures(loaded.classifier, networkPath, flags["batch-size"] as number);
    }
  } catch (err) {
    throw new FewstepError(`${networkFlag}: ${(err as Error).message}`);
  }
  const names = modelNames(modelPaths);
  type Loaded = import("../../eval/image-metrics.js").EvalModel & { path: string; dispose(): void };
  const models: Loaded[] = [];
  try {
    for (const [i, path] of modelPaths.entries()) {
      const checkpoint = loadCheckpoint(path);
      try {
        const model = modelFromCheckpoint(path, checkpoint, { device });
        const distill = distillMetadata(checkpoint.metadata);
        let latent;
        try {
          latent = latentSpaceFor(checkpoint.metadata, path, { device }) ?? undefined;
        } catch (err) {
          model.dispose();
          throw err;
        }
        models.push({
          name: names[i],
          path,
          model: denoiserOf(model),
          exampleShape: model.exampleShape,
          ...(latent ? { decode: latent.decode, imageShape: latent.imageShape } : {}),
          numClasses: model.config.numClasses,
          guidance: model.config.wInput ? "input" : "teacher",
          distill,
          device,
          dispose: () => {
            latent?.dispose();
            model.dispose();
          },
        });
      } catch (err) {
        throw new FewstepError(`--model: ${(err as Error).message}`);
      } finally {
        disposeCheckpoint(checkpoint);
      }
    }
    // Every cell a model can run; what it cannot (another N, a w outside its range) is named now.
    const plan: { model: Loaded; sampler: string; steps: number; w: number }[] = [];
    for (const model of models) {
      const images = model.imageShape ?? model.exampleShape;
      if (images.length !== 3) throw new FewstepError(`--model: ${model.path} makes vectors [${model.exampleShape}], not images; use fewstep eval-mixture for mixture models`);
      const why = network.incompatibility(images);
      if (why !== null) {
        throw new FewstepError(
          onnx
            ? `--model ${model.path} makes images [${images}] but --features ${why}`
            : `--model ${model.path} makes images [${images}] but --classifier ${networkPath} takes [${network.imageSize === null ? "?" : `${images[0]},${network.imageSize},${network.imageSize}`}]: train the classifier with --size ${images[1]}`,
        );
      }
      // One reference statistics for all models: they must make images of one size (pixel and latent models may mix).
      const first = models[0].imageShape ?? models[0].exampleShape;
      if (images.join() !== first.join()) {
        throw new FewstepError(`--model: ${model.path} makes images [${images}] but ${models[0].path} makes [${first}]; evaluate models of one image size together`);
      }
      const d = model.distill;
      if (d?.stage === "two" && d.steps !== null && !steps.includes(d.steps)) {
        throw new FewstepError(`--steps ${steps.join(",")}: ${model.path} was distilled for N = ${d.steps}; add ${d.steps} to --steps (it is evaluated at its own N only)`);
      }
      const skipped: string[] = [];
      for (const sampler of samplers) {
        for (const n of steps) {
          for (const w of ws) {
            try {
              checkEvalRequest(model, network, n, w);
              plan.push({ model, sampler, steps: n, w });
            } catch {
              skipped.push(`N = ${n}, w = ${w}`);
            }
          }
        }
      }
      if (!plan.some((p) => p.model === model)) throw new FewstepError(`--ws ${ws.join(",")}: ${model.path} was distilled for w in [${d?.wMin}, ${d?.wMax}], so it has no cell to evaluate; pick ws in that range`);
      if (skipped.length > 0) {
        const why = d?.stage === "two" ? `distilled for N = ${d.steps}, w in [${d.wMin}, ${d.wMax}]` : `distilled for w in [${d?.wMin}, ${d?.wMax}]`;
        console.error(`fewstep eval: ${model.name} (${why}) skips ${[...new Set(skipped)].length} cell(s) per sampler: ${[...new Set(skipped)].join("; ")}`);
      }
    }

    const n = flags.n as number;
    const outDir = flags["out-dir"] as string;
    mkdirSync(outDir, { recursive: true });
    const started = performance.now();
    let reference;
    try {
      reference = await referenceStats({ features: network, size: (models[0].imageShape ?? models[0].exampleShape)[1], reference: flags.reference as string, n, cacheDir: flags["cache-dir"] as string });
    } catch (err) {
      // a reference that cannot be read says "reference '...'"; anything else is the network's
      const message = (err as Error).message;
      throw new FewstepError(`${message.startsWith("reference '") ? "--reference" : networkFlag}: ${message}`);
    }
    const accuracyNote = testAccuracy !== null ? `, test accuracy ${(100 * testAccuracy).toFixed(2)}%` : "";
    const how = reference.fromCache ? "read from" : `computed in ${((performance.now() - started) / 1000).toFixed(1)} s, cached in`;
    console.error(`fewstep eval: reference statistics of ${flags.reference} (${reference.count} images; ${network.description}${accuracyNote}) ${how} ${reference.cachePath}`);

    const cells: import("../../eval/eval-report.js").ReportCell[] = [];
    const write = () => {
      const results = {
        command: "eval",
        ...(onnx ? {} : { classifier: { path: networkPath, sha256: network.key.sha256, testAccuracy } }),
        features: { path: networkPath, description: network.description, ...network.key },
        reference: { spec: flags.reference, images: reference.count, cache: reference.cachePath },
        n,
        seed: flags.seed,
        batchSize: flags["batch-size"],
        splits: flags.splits,
        models: models.map((m) => ({ name: m.name, path: m.path, guidance: m.guidance, distill: m.distill })),
        cells,
      };
      writeFileAtomic(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
      writeFileAtomic(join(outDir, "results.csv"), resultsCsv(cells));
      const caption = `${network.hasProbs ? "FID (IS)" : "FID"} of n = ${n} samples against ${flags.reference} (${reference.count} images); features: ${network.description}${testAccuracy !== null ? ` (test accuracy ${(100 * testAccuracy).toFixed(2)}%)` : ""}; seed ${flags.seed}.`;
      writeFileAtomic(join(outDir, "table.md"), `${caption}\n\n${resultsTable(cells, ws)}\n`);
    };
    const tty = process.stderr.isTTY;
    for (const [i, cell] of plan.entries()) {
      const label = `[${i + 1}/${plan.length}] ${cell.model.name} ${cell.sampler} N=${cell.steps} w=${cell.w}`;
      const result = await evaluateModel(cell.model, {
        sampler: cell.sampler as (typeof SAMPLER_NAMES)[number],
        steps: cell.steps,
        w: cell.w,
        n,
        seed: flags.seed as number,
        batchSize: flags["batch-size"] as number,
        splits: flags.splits as number,
        features: network,
        reference: reference.stats,
        onBatch: tty ? (done, total) => process.stderr.write(`\r${label}: ${done}/${total} samples\x1b[K`) : undefined,
      });
      cells.push({ model: cell.model.name, sampler: cell.sampler, steps: cell.steps, w: cell.w, ...result });
      const is = result.isMean === null ? "" : `  IS ${result.isMean.toFixed(2)} +- ${result.isStd!.toFixed(2)}`;
      process.stderr.write(`${tty ? "\r" : ""}${label}: FID ${result.fid.toFixed(2)}${is}  (${result.seconds.toFixed(1)} s)${tty ? "\x1b[K" : ""}\n`);
      write(); // atomic writes: a Ctrl-C leaves the files of the last finished cell
    }
    const plots = writeEvalPlots(outDir, cells, `n = ${n}, ${flags.reference}`);
    console.log(resultsTable(cells, ws));
    console.error(`fewstep eval: ${plan.length} cells in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote results.json, results.csv, table.md and ${plots.map((p) => basename(p)).join(", ")} to ${outDir}`);
  } finally {
    for (const m of models) m.dispose();
    network.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: evalSpec, run: runEval };
