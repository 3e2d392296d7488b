// `fewstep distill stage-one` and `fewstep distill stage-two`: guided distillation of a teacher
// (the exact mixture teacher or a trained checkpoint) into w-conditioned few-step students.
// Each run folder gets config.json, log.jsonl and its checkpoints; Ctrl-C saves and stops;
// --resume continues from the last checkpoint.
import { checkTrainMemory } from "../../engine/bounds.js";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, FlagSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

const common: FlagSpec[] = [
  DEVICE_FLAG,
  { name: "out-dir", kind: "path", meta: "DIR", default: "runs/distill", help: "run folder for checkpoints, config.json and log.jsonl" },
  { name: "batch-size", kind: "int", meta: "B", min: 1, help: "examples per step (default 256 for a mixture, 64 for images)" },
  { name: "lr", kind: "number", meta: "LR", min: 0, help: "starting learning rate, annealed linearly to 0 (default: the recipe's on a mixture: 2e-3 for stage one from the exact teacher, 1e-3 for stage two; otherwise 1e-4)" },
  { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of every random draw" },
  { name: "checkpoint-every", kind: "int", meta: "K", min: 0, default: 500, help: "steps between checkpoints" },
  { name: "resume", kind: "boolean", default: false, help: "continue from the run folder's checkpoints" },
  {
    name: "rounds",
    kind: "int",
    meta: "R",
    min: 1,
    help: "mixture data: rounds a stage may train to meet its bar, measured against the exact teacher (1: no check; default: the recipe's, src/distill/recipe.ts)",
  },
  { name: "w-edge-fraction", kind: "number", meta: "F", min: 0, max: 1, help: "share of each batch drawn at exactly --w-min or --w-max (default: the recipe's for mixtures, 0 for images)" },
];

export const stageOneSpec: CommandSpec = {
  name: "distill stage-one",
  summary: "stage one: a student that takes w and matches the guided teacher in one call",
  usage: "fewstep distill stage-one [--teacher ckpt] [--mixture NAME] [--out-dir DIR] [flags]",
  flags: [
    { name: "teacher", kind: "path", meta: "FILE", help: "a trained teacher checkpoint; without it the exact mixture teacher (student trained from scratch)" },
    { name: "steps", kind: "int", meta: "N", min: 1, help: "optimizer steps (default: the recipe's for the exact teacher, 4000 from a trained teacher)" },
    { name: "hidden", kind: "int", meta: "H", min: 1, help: "student width (exact teacher only, default: the recipe's; otherwise the teacher's)" },
    { name: "depth", kind: "int", meta: "D", min: 1, help: "student blocks (exact teacher only, default: the recipe's)" },
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "vector data (and, without --teacher, the exact teacher): ring2d, gauss64d or a JSON spec (default ring2d when --data is absent)" },
    { name: "data", kind: "string", meta: "SPEC", help: "image data, as for train-teacher (fashion-mnist, png:DIR, ...); padded or resized to the model's size" },
    { name: "w-min", kind: "number", meta: "W", min: 0, default: 0, help: "smallest guidance weight the student takes" },
    { name: "w-max", kind: "number", meta: "W", min: 0, default: 4, help: "largest guidance weight the student takes" },
    { name: "single-w", kind: "number", meta: "W", min: 0, help: "the single-w baseline: distill for this one w (overrides --w-min/--w-max)" },
    ...common,
  ],
  examples: ["fewstep distill stage-one --mixture ring2d --out-dir runs/ring2d-distill", "fewstep distill stage-one --teacher runs/ring2d-teacher/teacher.safetensors --out-dir runs/ring2d-distill"],
};

export const stageTwoSpec: CommandSpec = {
  name: "distill stage-two",
  summary: "stage two: progressive distillation of the stage-one student, halving N down to the target",
  usage: "fewstep distill stage-two [--out-dir DIR] [--from stage-one.safetensors] [flags]",
  flags: [
    { name: "from", kind: "path", meta: "FILE", help: "the stage-one checkpoint (default: <out-dir>/stage-one.safetensors)" },
    { name: "start-steps", kind: "int", meta: "N0", min: 2, help: "steps of the first teacher; the first student has N0/2 (default: the recipe's for mixtures, 1024 for images)" },
    { name: "target-steps", kind: "int", meta: "N", min: 1, default: 1, help: "the last student's steps" },
    {
      name: "steps-per-halving",
      kind: "int",
      meta: "K",
      min: 1,
      help: "optimizer steps per halving, the same for every N (default: the recipe's for mixtures, longer for the last halvings; 1000 for images)",
    },
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "only to confirm: the run's data comes from the --from checkpoint; a different mixture is an error" },
    { name: "data", kind: "string", meta: "SPEC", help: "only to confirm: the run's image data comes from the --from checkpoint; needed only for checkpoints that do not record it" },
    { name: "w-min", kind: "number", meta: "W", min: 0, help: "only to confirm: the w range comes from the --from checkpoint" },
    { name: "w-max", kind: "number", meta: "W", min: 0, help: "only to confirm: the w range comes from the --from checkpoint" },
    { name: "single-w", kind: "number", meta: "W", min: 0, help: "only to confirm: a single-w run's w comes from the --from checkpoint" },
    ...common,
  ],
  examples: ["fewstep distill stage-two --out-dir runs/ring2d-distill --start-steps 64 --target-steps 1"],
};

/** The w range the flags ask for; undefined when none of them is given (stage two: inherit). */
function range(flags: ParsedFlags): { wMin: number; wMax: number } | undefined {
  if (flags["single-w"] !== undefined) return { wMin: flags["single-w"] as number, wMax: flags["single-w"] as number };
  if (flags["w-min"] === undefined && flags["w-max"] === undefined) return undefined;
  const r = { wMin: (flags["w-min"] as number | undefined) ?? 0, wMax: (flags["w-max"] as number | undefined) ?? 4 };
  if (r.wMax < r.wMin) throw new FewstepError(`--w-max ${r.wMax} is below --w-min ${r.wMin}`);
  return r;
}

/** The data the flags name (--mixture with its spec, or --data); undefined when neither is given. */
async function dataFromFlags(flags: ParsedFlags): Promise<import("../../distill/metadata.js").DistillData | undefined> {
  if (flags.mixture !== undefined && flags.data !== undefined) throw new FewstepError("give --mixture (vector data) or --data (images), not both");
  if (flags.data !== undefined) return { kind: "images", spec: flags.data as string };
  if (flags.mixture === undefined) return undefined;
  const { loadMixture } = await import("../../diffusion/mixture.js");
  const mixture = loadMixture(flags.mixture as string);
  const spec = mixture.spec;
  mixture.dispose();
  return { kind: "mixture", name: flags.mixture as string, spec };
}

/**
 * The data, then the run folder: a mixture (exact teacher plus float32 samples), or images sized
 * like the model in `modelPath` (the teacher or the stage-one checkpoint). The folder (and its
 * config) is made only once the data and the model's header have loaded.
 */
async function prepare(flags: ParsedFlags, command: string, modelPath: string | undefined, source: import("../../distill/metadata.js").DistillData) {
  const { openRunFolder } = await import("../run-folder.js");
  const outDir = flags["out-dir"] as string;
  if (source.kind === "images") {
    if (!modelPath) throw new FewstepError("image data needs a trained teacher: pass --teacher runs/.../teacher.safetensors (there is no exact teacher for images)");
    const { loadCheckpoint, disposeCheckpoint } = await import("../../io/checkpoint.js");
    const { modelMetadataFromCheckpoint } = await import("../../io/load-model.js");
    const { latentRecordOf } = await import("../../io/latent-record.js");
    const checkpoint = loadCheckpoint(modelPath);
    let meta, record;
    try {
      meta = modelMetadataFromCheckpoint(modelPath, checkpoint.metadata);
      record = latentRecordOf(checkpoint.metadata, modelPath);
    } finally {
      disposeCheckpoint(checkpoint);
    }
    if (meta.kind !== "unet") throw new FewstepError(`--data gives images but ${modelPath} holds a ${meta.kind}; use --mixture for vector models`);
    let data: import("../../diffusion/image-dataset.js").TensorDataset;
    let classNames: string[] | undefined;
    let latent;
    if (record) {
      // a latent teacher: its own autoencoder (checked by hash) encodes the images, as for the teacher
      const { openLatentSpace } = await import("../../latent/latent-space.js");
      const { isLatentCache, openLatentData } = await import("../latent-data.js");
      latent = openLatentSpace(record, modelPath, { device: await deviceFlag(flags) });
      try {
        const opened = await openLatentData(source.spec, latent.autoencoder, { size: isLatentCache(source.spec) ? undefined : record.imageShape[1], posterior: record.posterior, seed: flags.seed as number });
        data = opened.dataset;
        classNames = data.classNames;
      } catch (err) {
        latent.dispose();
        throw err;
      }
    } else {
      const { isLatentCache } = await import("../latent-data.js");
      if (isLatentCache(source.spec)) throw new FewstepError(`--data ${source.spec} is a latent cache, but ${modelPath} is a pixel-space model; give it images`);
      const { openImageDataset } = await import("../../io/datasets.js");
      const { ImageTensorDataset } = await import("../../diffusion/image-dataset.js");
      const host = openImageDataset(source.spec);
      data = new ImageTensorDataset(host, { size: meta.config.size });
      classNames = host.classNames;
    }
    try {
      checkBatchMemory(flags, 64, data, Number((meta.config as { baseChannels?: unknown }).baseChannels) || 64);
    } catch (err) {
      latent?.dispose();
      throw err;
    }
    const run = await openRunFolder(outDir, `config-${command}.json`, `distill ${command}`, flags);
    const recorded: typeof source = record ? { ...source, latent: record } : source;
    return { mixture: null, data, classNames, outDir, run, source: recorded, latent };
  }
  const { GaussianMixture } = await import("../../diffusion/mixture.js");
  const mixture = new GaussianMixture(source.spec);
  const data = new GaussianMixture(source.spec, { dtype: "float32" });
  checkBatchMemory(flags, 256, data, Math.max((flags.hidden as number | undefined) ?? 256, 256));
  const run = await openRunFolder(outDir, `config-${command}.json`, `distill ${command}`, flags);
  return { mixture, data, classNames: undefined, outDir, run, source, latent: undefined };
}

/**
 * Refuses a --batch-size whose training activations (bounds.ts trainMemory: a rough upper bound,
 * width being the U-Net's base channels or the MLP's hidden width) exceed the memory available.
 */
function checkBatchMemory(flags: ParsedFlags, fallback: number, data: { exampleShape: readonly number[]; dispose(): void }, width: number): void {
  const batchSize = (flags["batch-size"] as number | undefined) ?? fallback;
  try {
    checkTrainMemory(batchSize, data.exampleShape, width, "distilling");
  } catch (error) {
    data.dispose();
    throw error;
  }
}

/**
 * After a stage (its checkpoints already saved): scatter plots (2-D mixtures) or class grids
 * (images) of its students. A figure that fails costs no checkpoint: the command exits 1 with one
 * line that names the failure and where the checkpoint was saved.
 */
async function writeStageFigures(prepared: Awaited<ReturnType<typeof prepare>>, students: { steps: number | null; path: string }[], ws: number[]): Promise<void> {
  let written: string[];
  try {
    if (prepared.mixture) {
      const { writeStudentPlots } = await import("../../eval/comparison-plots.js");
      written = writeStudentPlots(prepared.outDir, prepared.mixture, students, ws);
    } else {
      const { writeStudentGrids } = await import("../../eval/class-grid.js");
      written = writeStudentGrids(prepared.outDir, students, ws, prepared.classNames);
    }
  } catch (err) {
    const saved = students.map((s) => s.path).join(", ");
    throw new FewstepError(`the figures failed (${(err as Error).message}); the checkpoint was saved at ${saved || prepared.outDir}`);
  }
  if (written.length > 0) console.error(`figures: ${written.join(", ")}`);
}

export async function runStageOneCommand(flags: ParsedFlags): Promise<void> {
  const { runStageOne } = await import("../../distill/pipeline.js");
  const source = (await dataFromFlags(flags)) ?? (await dataFromFlags({ mixture: "ring2d" }))!;
  const r = range(flags) ?? { wMin: 0, wMax: 4 };
  // Validate first: the device and the teacher are checked before the run folder exists.
  const device = await deviceFlag(flags);
  const { existsSync } = await import("node:fs");
  if (flags.teacher !== undefined && !existsSync(flags.teacher as string)) throw new FewstepError(`--teacher: ${flags.teacher} does not exist`);
  if (flags.resume === true) {
    // --steps too must match: the rate anneals linearly to 0 over them.
    const { checkResumeFlags } = await import("../run-folder.js");
    checkResumeFlags(flags["out-dir"] as string, "config-stage-one.json", flags);
  }
  const prepared = await prepare(flags, "stage-one", flags.teacher as string | undefined, source);
  const { mixture, data, outDir, run, latent } = prepared;
  const exactTeacher = flags.teacher === undefined && mixture !== null;
  const recipe = exactTeacher ? (await import("../../distill/recipe.js")).exactTeacherRecipe(mixture.spec) : undefined;
  const quality = recipe ? await exactBar(flags, mixture!, r, recipe) : undefined;
  try {
    const result = await runStageOne({
      data: prepared.source,
      device,
      teacher: flags.teacher !== undefined ? { kind: "checkpoint", path: flags.teacher as string } : { kind: "exact", model: mixture!, name: source.kind === "mixture" ? source.name : "" },
      dataset: data,
      outDir,
      range: r,
      steps: (flags.steps as number | undefined) ?? recipe?.stageOneSteps ?? 4000,
      student: { hidden: (flags.hidden as number | undefined) ?? recipe?.hidden, depth: (flags.depth as number | undefined) ?? recipe?.depth },
      batchSize: (flags["batch-size"] as number | undefined) ?? recipe?.batchSize ?? (mixture ? 256 : 64),
      lr: (flags.lr as number | undefined) ?? recipe?.stageOneLr,
      wEdgeFraction: (flags["w-edge-fraction"] as number | undefined) ?? recipe?.wEdgeFraction,
      quality,
      seed: flags.seed as number,
      resume: flags.resume === true,
      checkpointEvery: flags["checkpoint-every"] as number,
      onProgress: run.onProgress,
      signal: run.signal,
    });
    console.error(`fewstep distill stage-one: ${result.stopped ? "stopped; resume with --resume" : "done"}: ${result.path}`);
    if (!result.stopped) {
      await writeStageFigures(prepared, [{ steps: null, path: result.path }], [...new Set([r.wMin, r.wMax])]);
    }
  } finally {
    quality?.dispose?.();
    run.close();
    data.dispose();
    mixture?.dispose();
    latent?.dispose();
  }
}

/** The bar a run on mixture data trains to (eval/distill-bar.ts), logged as each stage is judged; undefined for --rounds 1. */
async function exactBar(flags: ParsedFlags, mixture: import("../../diffusion/mixture.js").GaussianMixture, r: { wMin: number; wMax: number }, recipe: import("../../distill/recipe.js").DistillRecipe) {
  const rounds = (flags.rounds as number | undefined) ?? recipe.maxRounds;
  const { exactTeacherBar } = await import("../../eval/distill-bar.js");
  return exactTeacherBar(mixture, {
    range: r,
    startSteps: (flags["start-steps"] as number | undefined) ?? recipe.startSteps,
    maxRounds: rounds,
    onVerdict: (stage, round, v) => console.error(`${stage}, round ${round + 1} of at most ${rounds}: ${v.summary}${v.met || round + 1 === rounds ? "" : "; training another round"}`),
  });
}

export async function runStageTwoCommand(flags: ParsedFlags): Promise<void> {
  const { runStageTwo, stageOnePath } = await import("../../distill/pipeline.js");
  const { inheritRun, readDistillMetadata } = await import("../../distill/metadata.js");
  const { existsSync } = await import("node:fs");
  const from = (flags.from as string | undefined) ?? stageOnePath(flags["out-dir"] as string);
  if (!existsSync(from)) throw new FewstepError(`--from: ${from} does not exist; run \`fewstep distill stage-one\` first or pass --from`);
  // the run's data and w range come from the checkpoint it continues
  const distill = readDistillMetadata(from);
  if (!distill) throw new FewstepError(`--from: ${from} is not a distilled student (no metadata.distill); stage two continues a stage-one or stage-two checkpoint`);
  const inherited = inheritRun(distill, from, { data: await dataFromFlags(flags), range: range(flags) });
  const r = inherited.range;
  const device = await deviceFlag(flags);
  if (flags.resume === true) {
    // The confirm-only flags were just checked against the checkpoint (inheritRun); a lower
    // --target-steps goes on halving from where the run stopped.
    const { checkResumeFlags } = await import("../run-folder.js");
    checkResumeFlags(flags["out-dir"] as string, "config-stage-two.json", flags, ["mixture", "data", "w-min", "w-max", "single-w", "target-steps"]);
  }
  const prepared = await prepare(flags, "stage-two", from, inherited.data);
  const { mixture, data, outDir, run, latent } = prepared;
  const { exactTeacherRecipe, stepsForHalving } = await import("../../distill/recipe.js");
  const recipe = mixture ? exactTeacherRecipe(mixture.spec) : undefined;
  const quality = recipe ? await exactBar(flags, mixture!, r, recipe) : undefined;
  const perHalving = flags["steps-per-halving"] as number | undefined;
  try {
    const result = await runStageTwo({
      device,
      data: prepared.source,
      from,
      dataset: data,
      outDir,
      range: r,
      startSteps: (flags["start-steps"] as number | undefined) ?? recipe?.startSteps ?? 1024,
      targetSteps: flags["target-steps"] as number,
      stepsPerHalving: perHalving ?? (recipe ? (N: number) => stepsForHalving(recipe, N) : 1000),
      batchSize: (flags["batch-size"] as number | undefined) ?? recipe?.batchSize ?? 64,
      lr: (flags.lr as number | undefined) ?? recipe?.stageTwoLr,
      wEdgeFraction: (flags["w-edge-fraction"] as number | undefined) ?? recipe?.wEdgeFraction,
      quality,
      seed: flags.seed as number,
      resume: flags.resume === true,
      checkpointEvery: flags["checkpoint-every"] as number,
      onProgress: run.onProgress,
      signal: run.signal,
    });
    const list = [...result.paths.entries()].map(([n, p]) => `N=${n}: ${p}`).join(", ");
    console.error(`fewstep distill stage-two: ${result.stopped ? "stopped; resume with --resume" : "done"}: ${list}`);
    if (!result.stopped) {
      const shown = [...result.paths.entries()].filter(([n]) => n <= 4).map(([steps, path]) => ({ steps, path }));
      await writeStageFigures(prepared, shown, [...new Set([r.wMin, r.wMax])]);
    }
  } finally {
    quality?.dispose?.();
    run.close();
    data.dispose();
    mixture?.dispose();
    latent?.dispose();
  }
}

export const stageOneCommand: Command = { spec: stageOneSpec, run: runStageOneCommand };
export const stageTwoCommand: Command = { spec: stageTwoSpec, run: runStageTwoCommand };
