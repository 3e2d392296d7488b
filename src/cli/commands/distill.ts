// `fewstep distill stage-one` and `fewstep distill stage-two`: guided distillation of a teacher
// (the exact mixture teacher or a trained checkpoint) into w-conditioned few-step students.
// Each run folder gets config.json, log.jsonl and its checkpoints; Ctrl-C saves and stops;
// --resume continues from the last checkpoint.
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, FlagSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

const common: FlagSpec[] = [
  DEVICE_FLAG,
  { name: "mixture", kind: "string", meta: "NAME|FILE", help: "vector data (and, without --teacher, the exact teacher): ring2d, gauss64d or a JSON spec (default ring2d when --data is absent)" },
  { name: "data", kind: "string", meta: "SPEC", help: "image data, as for train-teacher (fashion-mnist, png:DIR, ...); padded or resized to the model's size" },
  { name: "out-dir", kind: "path", meta: "DIR", default: "runs/distill", help: "run folder for checkpoints, config.json and log.jsonl" },
  { name: "w-min", kind: "number", meta: "W", min: 0, default: 0, help: "smallest guidance weight the student takes" },
  { name: "w-max", kind: "number", meta: "W", min: 0, default: 4, help: "largest guidance weight the student takes" },
  { name: "single-w", kind: "number", meta: "W", min: 0, help: "the single-w baseline: distill for this one w (overrides --w-min/--w-max)" },
  { name: "batch-size", kind: "int", meta: "B", min: 1, help: "examples per step (default 256 for a mixture, 64 for images)" },
  { name: "lr", kind: "number", meta: "LR", min: 0, help: "starting learning rate, annealed linearly to 0 (default: 1e-4; 1e-3 for a stage-one student trained from scratch)" },
  { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of every random draw" },
  { name: "checkpoint-every", kind: "int", meta: "K", min: 0, default: 500, help: "steps between checkpoints" },
  { name: "resume", kind: "boolean", default: false, help: "continue from the run folder's checkpoints" },
];

export const stageOneSpec: CommandSpec = {
  name: "distill stage-one",
  summary: "stage one: a student that takes w and matches the guided teacher in one call",
  usage: "fewstep distill stage-one [--teacher ckpt] [--mixture NAME] [--out-dir DIR] [flags]",
  flags: [
    { name: "teacher", kind: "path", meta: "FILE", help: "a trained teacher checkpoint; without it the exact mixture teacher (student trained from scratch)" },
    { name: "steps", kind: "int", meta: "N", min: 1, default: 4000, help: "optimizer steps" },
    { name: "hidden", kind: "int", meta: "H", min: 1, default: 256, help: "student width (exact teacher only; otherwise the teacher's)" },
    { name: "depth", kind: "int", meta: "D", min: 1, default: 4, help: "student blocks (exact teacher only)" },
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
    { name: "start-steps", kind: "int", meta: "N0", min: 2, default: 1024, help: "steps of the first teacher; the first student has N0/2" },
    { name: "target-steps", kind: "int", meta: "N", min: 1, default: 1, help: "the last student's steps" },
    { name: "steps-per-halving", kind: "int", meta: "K", min: 1, default: 1000, help: "optimizer steps per halving" },
    ...common,
  ],
  examples: ["fewstep distill stage-two --out-dir runs/ring2d-distill --start-steps 64 --target-steps 1"],
};

function range(flags: ParsedFlags): { wMin: number; wMax: number } {
  if (flags["single-w"] !== undefined) return { wMin: flags["single-w"] as number, wMax: flags["single-w"] as number };
  const r = { wMin: flags["w-min"] as number, wMax: flags["w-max"] as number };
  if (r.wMax < r.wMin) throw new FewstepError(`--w-max ${r.wMax} is below --w-min ${r.wMin}`);
  return r;
}

/**
 * The run folder and the data: a mixture (exact teacher plus float32 samples), or images sized
 * like the model in `modelPath` (the teacher or the stage-one checkpoint).
 */
async function prepare(flags: ParsedFlags, command: string, modelPath: string | undefined) {
  if (flags.mixture !== undefined && flags.data !== undefined) throw new FewstepError("give --mixture (vector data) or --data (images), not both");
  const { openRunFolder } = await import("../run-folder.js");
  const outDir = flags["out-dir"] as string;
  if (flags.data !== undefined) {
    if (!modelPath) throw new FewstepError("image data needs a trained teacher: pass --teacher runs/.../teacher.safetensors (there is no exact teacher for images)");
    const { openImageDataset } = await import("../../io/datasets.js");
    const { ImageTensorDataset } = await import("../../diffusion/image-dataset.js");
    const { loadCheckpoint, disposeCheckpoint } = await import("../../io/checkpoint.js");
    const { modelMetadataFromCheckpoint } = await import("../../io/load-model.js");
    const checkpoint = loadCheckpoint(modelPath);
    const meta = modelMetadataFromCheckpoint(modelPath, checkpoint.metadata);
    disposeCheckpoint(checkpoint);
    if (meta.kind !== "unet") throw new FewstepError(`--data gives images but ${modelPath} holds a ${meta.kind}; use --mixture for vector models`);
    const host = openImageDataset(flags.data as string);
    const data = new ImageTensorDataset(host, { size: meta.config.size });
    const run = await openRunFolder(outDir, `config-${command}.json`, `distill ${command}`, flags);
    return { mixture: null, data, classNames: host.classNames, outDir, run };
  }
  const { loadMixture, GaussianMixture } = await import("../../diffusion/mixture.js");
  const mixture = loadMixture((flags.mixture as string | undefined) ?? "ring2d");
  const data = new GaussianMixture(mixture.spec, { dtype: "float32" });
  const run = await openRunFolder(outDir, `config-${command}.json`, `distill ${command}`, flags);
  return { mixture, data, classNames: undefined, outDir, run };
}

/** After a stage: scatter plots (2-D mixtures) or class grids (images) of its students. */
async function writeStageFigures(prepared: Awaited<ReturnType<typeof prepare>>, students: { steps: number | null; path: string }[], ws: number[]): Promise<void> {
  let written: string[];
  if (prepared.mixture) {
    const { writeStudentPlots } = await import("../../eval/comparison-plots.js");
    written = writeStudentPlots(prepared.outDir, prepared.mixture, students, ws);
  } else {
    const { writeStudentGrids } = await import("../../eval/class-grid.js");
    written = writeStudentGrids(prepared.outDir, students, ws, prepared.classNames);
  }
  if (written.length > 0) console.error(`figures: ${written.join(", ")}`);
}

export async function runStageOneCommand(flags: ParsedFlags): Promise<void> {
  const { runStageOne } = await import("../../distill/pipeline.js");
  const prepared = await prepare(flags, "stage-one", flags.teacher as string | undefined);
  const { mixture, data, outDir, run } = prepared;
  try {
    const result = await runStageOne({
      device: await deviceFlag(flags),
      teacher: flags.teacher !== undefined ? { kind: "checkpoint", path: flags.teacher as string } : { kind: "exact", model: mixture!, name: (flags.mixture as string | undefined) ?? "ring2d" },
      dataset: data,
      outDir,
      range: range(flags),
      steps: flags.steps as number,
      student: { hidden: flags.hidden as number, depth: flags.depth as number },
      batchSize: (flags["batch-size"] as number | undefined) ?? (mixture ? 256 : 64),
      lr: flags.lr as number | undefined,
      seed: flags.seed as number,
      resume: flags.resume === true,
      checkpointEvery: flags["checkpoint-every"] as number,
      onProgress: run.onProgress,
      signal: run.signal,
    });
    console.error(`fewstep distill stage-one: ${result.stopped ? "stopped; resume with --resume" : "done"}: ${result.path}`);
    if (!result.stopped) {
      const r = range(flags);
      await writeStageFigures(prepared, [{ steps: null, path: result.path }], [...new Set([r.wMin, r.wMax])]);
    }
  } finally {
    run.close();
    data.dispose();
    mixture?.dispose();
  }
}

export async function runStageTwoCommand(flags: ParsedFlags): Promise<void> {
  const { runStageTwo, stageOnePath } = await import("../../distill/pipeline.js");
  const from = (flags.from as string | undefined) ?? stageOnePath(flags["out-dir"] as string);
  const prepared = await prepare(flags, "stage-two", from);
  const { mixture, data, outDir, run } = prepared;
  try {
    const result = await runStageTwo({
      device: await deviceFlag(flags),
      from,
      dataset: data,
      outDir,
      range: range(flags),
      startSteps: flags["start-steps"] as number,
      targetSteps: flags["target-steps"] as number,
      stepsPerHalving: flags["steps-per-halving"] as number,
      batchSize: (flags["batch-size"] as number | undefined) ?? (mixture ? 256 : 64),
      lr: flags.lr as number | undefined,
      seed: flags.seed as number,
      resume: flags.resume === true,
      checkpointEvery: flags["checkpoint-every"] as number,
      onProgress: run.onProgress,
      signal: run.signal,
    });
    const list = [...result.paths.entries()].map(([n, p]) => `N=${n}: ${p}`).join(", ");
    console.error(`fewstep distill stage-two: ${result.stopped ? "stopped; resume with --resume" : "done"}: ${list}`);
    if (!result.stopped) {
      const r = range(flags);
      const shown = [...result.paths.entries()].filter(([n]) => n <= 4).map(([steps, path]) => ({ steps, path }));
      await writeStageFigures(prepared, shown, [...new Set([r.wMin, r.wMax])]);
    }
  } finally {
    run.close();
    data.dispose();
    mixture?.dispose();
  }
}

export const stageOneCommand: Command = { spec: stageOneSpec, run: runStageOneCommand };
export const stageTwoCommand: Command = { spec: stageTwoSpec, run: runStageTwoCommand };
