// `fewstep grids`: the guided image teacher with DDIM at several N next to its distilled students
// (deterministic and stochastic) from the same noise, one PNG per w (eval/distill-grids.ts).
import { existsSync, mkdirSync } from "node:fs";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";

export const gridsSpec: CommandSpec = {
  name: "grids",
  summary: "image grids: the guided teacher's DDIM at several N next to the distilled students, same noise, one PNG per w",
  usage: "fewstep grids --teacher teacher.safetensors --run DIR [--out-dir DIR] [flags]",
  flags: [
    { name: "teacher", kind: "path", meta: "FILE", help: "the image teacher checkpoint (default: the one the run's stage-one.safetensors records; a different one is an error)" },
    { name: "run", kind: "path", meta: "DIR", help: "folder with the stage-two students student-N<N>.safetensors (required)" },
    { name: "out-dir", kind: "path", meta: "DIR", help: "where compare-w<w>.png go (default: --run)" },
    { name: "ws", kind: "numbers", meta: "W,...", default: "0,1,2,4", help: "guidance weights, one PNG each" },
    { name: "teacher-steps", kind: "numbers", meta: "N,...", min: 1, max: MAX_SAMPLING_STEPS, default: "8,16,32,64,128,256", help: "teacher DDIM step counts (rows)" },
    { name: "student-steps", kind: "numbers", meta: "N,...", default: "1,2,4,8", help: "students to show (rows: DDIM and stochastic each)" },
    { name: "seeds", kind: "int", meta: "S", min: 1, default: 2, help: "columns per class" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of the noise" },
    { name: "class-names", kind: "string", meta: "NAMES", help: "column labels: fashion-mnist, or a comma-separated list (default: the names the teacher saved from its data, else class numbers)" },
  ],
  examples: ["fewstep grids --teacher models/fashion-mnist/teacher.safetensors --run models/fashion-mnist --out-dir runs/grids --class-names fashion-mnist"],
};

export async function runGrids(flags: ParsedFlags): Promise<void> {
  if (flags.run === undefined) throw new FewstepError("--run is required: the folder with student-N<N>.safetensors");
  const teacherPath = await runTeacher(flags.run as string, flags.teacher as string | undefined);
  for (const [flag, list] of [["teacher-steps", flags["teacher-steps"]], ["student-steps", flags["student-steps"]]] as const) {
    const bad = (list as number[]).find((n) => !Number.isInteger(n) || n < 1);
    if (bad !== undefined) throw new FewstepError(`--${flag}: ${bad} is not a positive integer`);
  }
  const outDir = (flags["out-dir"] as string | undefined) ?? (flags.run as string);
  if (!existsSync(outDir)) mkdirSync(outDir, { recursive: true });
  const { writeDistillGrids } = await import("../../eval/distill-grids.js");
  const { FASHION_MNIST_CLASSES } = await import("../../io/datasets.js");
  const started = performance.now();
  const paths = writeDistillGrids(outDir, {
    teacherPath,
    runDir: flags.run as string,
    ws: flags.ws as number[],
    teacherSteps: flags["teacher-steps"] as number[],
    studentSteps: flags["student-steps"] as number[],
    seedsPerClass: flags.seeds as number,
    seed: flags.seed as number,
    classNames: flags["class-names"] === undefined ? await savedClassNames(teacherPath) : flags["class-names"] === "fashion-mnist" ? [...FASHION_MNIST_CLASSES] : String(flags["class-names"]).split(","),
    onRow: (label, w) => console.error(`grids: w=${w} ${label} (${((performance.now() - started) / 1000).toFixed(0)} s)`),
  });
  console.error(`fewstep grids: wrote ${paths.join(", ")}`);
}

/**
 * The teacher of the run: the one its stage-one checkpoint records (metadata.distill.teacher),
 * which --teacher may only confirm (the same file); --teacher alone for a run without one.
 */
async function runTeacher(runDir: string, given: string | undefined): Promise<string> {
  const { realpathSync } = await import("node:fs");
  const { join } = await import("node:path");
  const stageOne = join(runDir, "stage-one.safetensors");
  let recorded: string | undefined;
  if (existsSync(stageOne)) {
    const { readDistillMetadata } = await import("../../distill/metadata.js");
    const teacher = readDistillMetadata(stageOne)?.teacher;
    if (teacher?.startsWith("exact:")) throw new FewstepError(`--run ${runDir} was distilled from the exact teacher of a mixture (${teacher}); grids draws image runs: use eval-mixture for it`);
    recorded = teacher;
  }
  const usable = recorded !== undefined && existsSync(recorded);
  if (given === undefined) {
    if (usable) return recorded!;
    throw new FewstepError(`--teacher is required: ${recorded ? `the run's stage one records ${recorded}, which does not exist here; pass the image teacher checkpoint` : `${stageOne} is not there to say which teacher the run has; pass the image teacher checkpoint`}`);
  }
  if (usable && existsSync(given) && realpathSync(given) !== realpathSync(recorded!)) {
    throw new FewstepError(`--teacher ${given}: the run ${runDir} was distilled from ${recorded}; leave --teacher out to use it`);
  }
  return given;
}

/** Class names a teacher checkpoint saved from its data (metadata.dataset.classNames), if any. */
async function savedClassNames(path: string): Promise<string[] | undefined> {
  const { disposeCheckpoint, loadCheckpoint } = await import("../../io/checkpoint.js");
  const checkpoint = loadCheckpoint(path);
  try {
    const names = (checkpoint.metadata.dataset as { classNames?: unknown } | undefined)?.classNames;
    return Array.isArray(names) && names.every((n) => typeof n === "string") ? names : undefined;
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: gridsSpec, run: runGrids };
