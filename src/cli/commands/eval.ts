// `fewstep eval`: FID and Inception Score of image teachers and distilled students across samplers,
// step counts N and guidance weights w (the paper's tables and FID/IS curves), with fewstep's own
// classifier as the feature network (`fewstep train-classifier`). Reference statistics are cached
// per (reference, classifier, size, n). The out-dir gets results.json, results.csv and table.md
// (rewritten after every cell, so a stopped run keeps what it finished) and, at the end,
// fid-vs-w-N<N>.png per N and fid-vs-is.png.
import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

const SAMPLER_NAMES = ["ddim", "stochastic", "ddpm"] as const;

export const evalSpec: CommandSpec = {
  name: "eval",
  summary: "FID and IS of image teachers and distilled students across samplers, N and w: JSON, CSV, a table and plots",
  usage: "fewstep eval --model ckpt[,ckpt...] --classifier ckpt [--reference fashion-mnist:test] [flags]",
  flags: [
    { name: "model", kind: "string", meta: "FILE,...", help: "checkpoints to evaluate, comma-separated: teachers (guided with two predictions), stage-one students (any N), student-N<N> files (their own N only)" },
    { name: "classifier", kind: "path", meta: "FILE", help: "feature network from fewstep train-classifier (its classifier.safetensors)" },
    { name: "reference", kind: "string", meta: "SPEC", default: "fashion-mnist:test", help: "real images for FID: a data set (fashion-mnist[:train|test], idx:..., npy:IMAGES,LABELS, png:DIR, cifar10:...) or a .npy of images" },
    { name: "ws", kind: "numbers", meta: "W,W", min: 0, default: "0,0.5,1,2,4", help: "guidance weights (paper's convention: 0 = no guidance)" },
    { name: "steps", kind: "numbers", meta: "N,N", min: 1, default: "1,2,4", help: "sampling step counts N" },
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
  ],
};

/** Checks the flags that need no files; returns the parsed lists. */
export function checkEvalFlags(flags: ParsedFlags): { models: string[]; samplers: string[]; steps: number[]; ws: number[] } {
  if (flags.model === undefined) throw new FewstepError("--model is required: one or more checkpoints, comma-separated (e.g. --model runs/teacher/teacher.safetensors)");
  if (flags.classifier === undefined) throw new FewstepError("--classifier is required: the feature network's checkpoint (train one with fewstep train-classifier)");
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
  for (const [flag, path] of [...models.map((m) => ["model", m]), ["classifier", flags.classifier as string]]) {
    if (!existsSync(path)) throw new FewstepError(`--${flag}: ${path} does not exist`);
  }
  return { models, samplers, steps, ws };
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
  const { distillMetadata } = await import("../../distill/pipeline.js");
  const { resolveDevice } = await import("../../engine/index.js");
  let device: import("../../engine/index.js").Device;
  try {
    device = resolveDevice(String(flags.device));
  } catch (err) {
    throw new FewstepError(`--device: ${(err as Error).message}`);
  }
  const { evaluateModel, checkEvalRequest } = await import("../../eval/image-metrics.js");
  const { referenceStats } = await import("../../eval/reference-stats.js");
  const { resultsCsv, resultsTable, writeEvalPlots } = await import("../../eval/eval-report.js");
  const { writeFileAtomic } = await import("../../io/atomic.js");

  const classifierPath = flags.classifier as string;
  let loaded;
  try {
    loaded = loadClassifierCheckpoint(classifierPath);
  } catch (err) {
    throw new FewstepError(`--classifier: ${(err as Error).message}`);
  }
  const { classifier } = loaded;
  const testAccuracy = typeof loaded.metadata.testAccuracy === "number" ? loaded.metadata.testAccuracy : null;
  const names = modelNames(modelPaths);
  type Loaded = import("../../eval/image-metrics.js").EvalModel & { path: string; dispose(): void };
  const models: Loaded[] = [];
  try {
    for (const [i, path] of modelPaths.entries()) {
      const checkpoint = loadCheckpoint(path);
      try {
        const model = modelFromCheckpoint(path, checkpoint, { device });
        const distill = distillMetadata(checkpoint.metadata);
        models.push({
          name: names[i],
          path,
          denoiser: model.denoiser,
          exampleShape: model.exampleShape,
          numClasses: model.config.numClasses,
          guidance: model.config.wInput ? "input" : "teacher",
          distill: distill && { stage: distill.stage, steps: distill.steps, wMin: distill.wMin, wMax: distill.wMax },
          device,
          dispose: () => model.dispose(),
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
      if (model.exampleShape.length !== 3) throw new FewstepError(`--model: ${model.path} makes vectors [${model.exampleShape}], not images; use fewstep eval-mixture for mixture models`);
      if (model.exampleShape.join() !== classifier.exampleShape.join()) {
        throw new FewstepError(`--model ${model.path} makes images [${model.exampleShape}] but --classifier ${classifierPath} takes [${classifier.exampleShape}]: train the classifier with --size ${model.exampleShape[1]}`);
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
              checkEvalRequest(model, classifier, n, w);
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
      reference = referenceStats({ classifier, classifierPath, reference: flags.reference as string, n, cacheDir: flags["cache-dir"] as string, batchSize: flags["batch-size"] as number });
    } catch (err) {
      throw new FewstepError(`--reference: ${(err as Error).message}`);
    }
    const accuracyNote = testAccuracy !== null ? `, test accuracy ${(100 * testAccuracy).toFixed(2)}%` : "";
    const how = reference.fromCache ? "read from" : `computed in ${((performance.now() - started) / 1000).toFixed(1)} s, cached in`;
    console.error(`fewstep eval: reference statistics of ${flags.reference} (${reference.count} images; classifier ${classifierPath}${accuracyNote}) ${how} ${reference.cachePath}`);

    const cells: import("../../eval/eval-report.js").ReportCell[] = [];
    const write = () => {
      const results = {
        command: "eval",
        classifier: { path: classifierPath, sha256: reference.key.classifierSha256, testAccuracy },
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
      const caption = `FID (IS) of n = ${n} samples against ${flags.reference} (${reference.count} images); features: ${classifierPath}${testAccuracy !== null ? ` (test accuracy ${(100 * testAccuracy).toFixed(2)}%)` : ""}; seed ${flags.seed}.`;
      writeFileAtomic(join(outDir, "table.md"), `${caption}\n\n${resultsTable(cells, ws)}\n`);
    };
    const tty = process.stderr.isTTY;
    for (const [i, cell] of plan.entries()) {
      const label = `[${i + 1}/${plan.length}] ${cell.model.name} ${cell.sampler} N=${cell.steps} w=${cell.w}`;
      const result = evaluateModel(cell.model, {
        sampler: cell.sampler as (typeof SAMPLER_NAMES)[number],
        steps: cell.steps,
        w: cell.w,
        n,
        seed: flags.seed as number,
        batchSize: flags["batch-size"] as number,
        splits: flags.splits as number,
        classifier,
        reference: reference.stats,
        onBatch: tty ? (done, total) => process.stderr.write(`\r${label}: ${done}/${total} samples\x1b[K`) : undefined,
      });
      cells.push({ model: cell.model.name, sampler: cell.sampler, steps: cell.steps, w: cell.w, ...result });
      process.stderr.write(`${tty ? "\r" : ""}${label}: FID ${result.fid.toFixed(2)}  IS ${result.isMean.toFixed(2)} +- ${result.isStd.toFixed(2)}  (${result.seconds.toFixed(1)} s)${tty ? "\x1b[K" : ""}\n`);
      write(); // atomic writes: a Ctrl-C leaves the files of the last finished cell
    }
    const plots = writeEvalPlots(outDir, cells, `n = ${n}, ${flags.reference}`);
    console.log(resultsTable(cells, ws));
    console.error(`fewstep eval: ${plan.length} cells in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote results.json, results.csv, table.md and ${plots.map((p) => basename(p)).join(", ")} to ${outDir}`);
  } finally {
    for (const m of models) m.dispose();
    classifier.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: evalSpec, run: runEval };
