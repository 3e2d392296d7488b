// Running the stages: where students come from, where checkpoints go, what their metadata says.
//   stage one:  <outDir>/stage-one.safetensors        (w-input student, any number of steps)
//   stage two:  <outDir>/student-N<N>.safetensors      (one per halving, N0/2 ... target N)
// Metadata "distill" = { stage, steps (N, or null for stage one), wMin, wMax, teacher } lets a
// checkpoint refuse a w or N it was not distilled for (metadata.ts).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, type Device, type Generator, type Tensor } from "../engine/index.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import type { ConditionedDataset } from "../diffusion/dataset.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import type { TrainProgress } from "../diffusion/train-loop.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { loadModel } from "../io/load-model.js";
import { MlpDenoiser } from "../nn/mlp-denoiser.js";
import type { DenoiserModel } from "../nn/model.js";
import { ParamStore } from "../nn/param-store.js";
import { distillLoop } from "./loop.js";
import type { DistillData, DistillMetadata, WRange } from "./metadata.js";
import { stageOneLoss } from "./stage-one.js";
import { stageTwoLoss } from "./stage-two.js";

/** Where the stage-one teacher comes from: the exact mixture, or a trained checkpoint. */
export type StageOneTeacher = { kind: "exact"; model: CondDenoiser; name: string } | { kind: "checkpoint"; path: string };

interface Common {
  dataset: ConditionedDataset;
  outDir: string;
  range: WRange;
  batchSize?: number;
  lr?: number;
  seed?: number;
  resume?: boolean;
  checkpointEvery?: number;
  /** Steps between progress reports (and Ctrl-C checks). @default 100 */
  progressEvery?: number;
  onProgress?: ((p: TrainProgress & { stage: string }) => void) | null;
  signal?: AbortSignal;
  /** Where teacher, student and every training draw live. @default "cpu" */
  device?: Device;
  /** Fraction of each batch at exactly wMin or wMax (stage-one.ts sampleW). @default 0 */
  wEdgeFraction?: number;
  /** The data's description, recorded in every checkpoint so later stages continue on it. @default not recorded */
  data?: DistillData;
  /**
   * A measured bar a stage must meet (eval/distill-bar.ts: the exact teacher's DDIM error). A
   * stage that ends below it trains again, up to `maxRounds` rounds in all: each extra round starts
   * from the last weights with a fresh optimizer, the same steps and half the previous lr.
   * @default none (one round)
   */
  quality?: QualityBar;
}

/** What a student must reach at the end of a stage. */
export interface QualityBar {
  /** Scores the stage-one student (`steps` null) or the N-step student; undefined: no check for it. */
  check: (path: string, steps: number | null) => QualityVerdict | undefined;
  /** Rounds a stage may train for, the first included. */
  maxRounds: number;
  /** Told each verdict (the CLI logs it). */
  onVerdict?: (stage: string, round: number, verdict: QualityVerdict) => void;
  /** Frees what the checks hold (reference samples). */
  dispose?(): void;
}

export interface QualityVerdict {
  met: boolean;
  /** One line: what was measured against what. */
  summary: string;
}

export interface StageOneOptions extends Common {
  teacher: StageOneTeacher;
  steps: number;
  /** Architecture of a student trained from scratch (exact teacher). @default hidden 256, depth 4 */
  student?: { hidden?: number; depth?: number };
}

function checkRange(range: WRange): void {
  if (!(range.wMin >= 0 && range.wMax >= range.wMin)) throw new ConfigError(`w range must satisfy 0 <= wMin <= wMax, got [${range.wMin}, ${range.wMax}]`);
}

export const stageOnePath = (outDir: string) => join(outDir, "stage-one.safetensors");
export const stageTwoPath = (outDir: string, steps: number) => join(outDir, `student-N${steps}.safetensors`);

/** Stage one; returns the checkpoint path. */
export async function runStageOne(o: StageOneOptions): Promise<{ path: string; stopped: boolean }> {
  checkRange(o.range);
  mkdirSync(o.outDir, { recursive: true });
  const path = stageOnePath(o.outDir);
  const fromTeacher = o.teacher.kind === "checkpoint";
  // A student initialised from a teacher checkpoint starts right: a small lr refines it (released
  // setting 1e-4). From scratch (exact teacher) it must learn everything: 1e-3.
  const lr = o.lr ?? (fromTeacher ? 1e-4 : 1e-3);
  const device = o.device ?? "cpu";
  let teacher: DenoiserModel | undefined;
  let student: DenoiserModel;
  let guidedTeacher: CondDenoiser;
  let teacherDType: "float32" | "float64";
  if (o.teacher.kind === "checkpoint") {
    teacher = loadModel(o.teacher.path, { wInput: false, device });
    student = loadModel(o.teacher.path, { wInput: true, seed: o.seed ?? 0, device });
    guidedTeacher = denoiserOf(teacher);
    teacherDType = "float32";
  } else {
    if (o.dataset.exampleShape.length !== 1) throw new ConfigError("stage one from the exact teacher needs vector data (a Gaussian mixture)");
    student = new MlpDenoiser(new ParamStore({ seed: o.seed ?? 0, device }), {
      dim: o.dataset.exampleShape[0],
      numClasses: o.dataset.numClasses,
      hidden: o.student?.hidden ?? 256,
      depth: o.student?.depth ?? 4,
      wInput: true,
      wMax: Math.max(o.range.wMax, 1),
    });
    guidedTeacher = o.teacher.model;
    teacherDType = "float64";
  }
  const meta: DistillMetadata = { stage: "one", steps: null, ...o.range, teacher: o.teacher.kind === "checkpoint" ? o.teacher.path : `exact:${o.teacher.name}`, ...(o.data ? { data: o.data } : {}) };
  try {
    if (teacher) checkDataFits(o.dataset, teacher, (o.teacher as { path: string }).path);
    const stopped = await trainInRounds({
      run: o,
      path,
      label: "stage one",
      steps: null,
      student,
      loss: (generator) => stageOneLoss({ teacher: guidedTeacher, teacherDType, student, dataset: o.dataset, range: o.range, batchSize: o.batchSize ?? 256, wEdgeFraction: o.wEdgeFraction }, generator),
      loopSteps: o.steps,
      lr,
      seed: o.seed ?? 0,
      meta,
    });
    return { path, stopped };
  } finally {
    teacher?.dispose();
    student.dispose();
  }
}

// Each round's data stream apart from the others' (and from stage two's seed + N streams).
const ROUND_SEED_STRIDE = 1_000_003;

/**
 * Runs a stage's rounds: round 0, then while the quality bar is not met, another (see QualityBar).
 * On resume, a checkpoint mid-round continues that round; a finished one is scored again and
 * the rounds go on from there. Returns whether it was stopped (Ctrl-C).
 */
async function trainInRounds(o: {
  run: Common;
  path: string;
  /** "stage one", "stage two N=4": for progress and verdicts. */
  label: string;
  /** The student's N (null: stage one), as the bar is asked. */
  steps: number | null;
  student: DenoiserModel;
  loss: (generator: Generator) => Tensor;
  /** Optimizer steps of one round, its starting lr (halved each round) and data seed. */
  loopSteps: number;
  lr: number;
  seed: number;
  meta: DistillMetadata;
}): Promise<boolean> {
  const { run } = o;
  const maxRounds = run.quality?.maxRounds ?? 1;
  const train = (round: number, resume: boolean) =>
    distillLoop({
      student: o.student,
      loss: o.loss,
      steps: o.loopSteps,
      lr: o.lr / 2 ** round,
      seed: o.seed + ROUND_SEED_STRIDE * round,
      metadata: { distill: { ...o.meta, ...(round > 0 ? { round } : {}) } },
      checkpointPath: o.path,
      checkpointEvery: run.checkpointEvery,
      progressEvery: run.progressEvery,
      resume,
      onProgress: run.onProgress === null ? null : (p) => run.onProgress?.({ ...p, stage: round > 0 ? `${o.label} (round ${round + 1})` : o.label }),
      signal: run.signal,
    });
  const judge = (round: number): boolean => {
    const verdict = run.quality?.check(o.path, o.steps);
    if (!verdict) return true;
    run.quality?.onVerdict?.(o.label, round, verdict);
    return verdict.met;
  };
  let round = 0;
  let resume = (run.resume ?? false) && existsSync(o.path);
  if (resume) {
    const saved = savedRound(o.path);
    round = saved.round;
    if (saved.complete) {
      if (!run.quality) return false;
      loadSavedWeights(o.path, o.student);
      resume = false;
      if (judge(round)) return false;
      round += 1;
    }
  }
  for (; round < maxRounds; round++) {
    const result = await train(round, resume);
    resume = false;
    if (result.stopped) return true;
    if (!run.quality || judge(round)) return false;
  }
  return false;
}

/** The round a stage's checkpoint was written in, and whether that round finished. */
export function savedRound(path: string): { round: number; complete: boolean } {
  const checkpoint = loadCheckpoint(path);
  try {
    const { step, steps, distill } = checkpoint.metadata as { step?: number; steps?: number; distill?: { round?: number } };
    return { round: typeof distill?.round === "number" ? distill.round : 0, complete: typeof step === "number" && step === steps };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** Loads a finished round's weights into the student. */
function loadSavedWeights(path: string, student: DenoiserModel): void {
  const checkpoint = loadCheckpoint(path);
  try {
    student.loadWeights(checkpoint.params);
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

export interface StageTwoOptions extends Common {
  /** The stage-one checkpoint (a w-input model). */
  from: string;
  /** Steps of the first teacher (the stage-one student sampled with N0 steps). @default 1024 */
  startSteps?: number;
  /** Stop at this many steps. @default 1 */
  targetSteps?: number;
  /** Optimizer steps per halving: one count for all, or a count per student N. */
  stepsPerHalving: number | ((steps: number) => number);
}

/** Halves N from startSteps down to targetSteps; returns each student's checkpoint path by N. */
export async function runStageTwo(o: StageTwoOptions): Promise<{ paths: Map<number, string>; stopped: boolean }> {
  checkRange(o.range);
  const start = o.startSteps ?? 1024;
  const target = o.targetSteps ?? 1;
  const isPowerOfTwoMultiple = (a: number, b: number) => Number.isInteger(Math.log2(a / b)) && a > b;
  if (!Number.isInteger(start) || !Number.isInteger(target) || target < 1 || !isPowerOfTwoMultiple(start, target)) {
    throw new ConfigError(`stage two halves N: startSteps (${start}) must be targetSteps (${target}) times a power of two, both positive integers`);
  }
  mkdirSync(o.outDir, { recursive: true });
  const paths = new Map<number, string>();
  let teacherPath = o.from;
  for (let steps = start / 2; steps >= target; steps /= 2) {
    const path = stageTwoPath(o.outDir, steps);
    paths.set(steps, path);
    // The student starts from its teacher's weights; the teacher is frozen.
    const teacher = loadModel(teacherPath, { wInput: true, device: o.device });
    const student = loadModel(teacherPath, { wInput: true, device: o.device });
    try {
      checkDataFits(o.dataset, teacher, teacherPath);
    } catch (err) {
      teacher.dispose();
      student.dispose();
      throw err;
    }
    const meta: DistillMetadata = { stage: "two", steps, ...o.range, teacher: teacherPath, ...(o.data ? { data: o.data } : {}) };
    try {
      const stopped = await trainInRounds({
        run: o,
        path,
        label: `stage two N=${steps}`,
        steps,
        student,
        loss: (generator) => stageTwoLoss({ teacher: denoiserOf(teacher).denoiser, student, steps, dataset: o.dataset, range: o.range, batchSize: o.batchSize ?? 256, wEdgeFraction: o.wEdgeFraction }, generator),
        loopSteps: typeof o.stepsPerHalving === "number" ? o.stepsPerHalving : o.stepsPerHalving(steps),
        lr: o.lr ?? 1e-4,
        // each halving its own stream, so a resumed halving does not depend on earlier ones' draws
        seed: (o.seed ?? 0) + steps,
        meta,
      });
      if (stopped) return { paths, stopped: true };
    } finally {
      teacher.dispose();
      student.dispose();
    }
    teacherPath = path;
  }
  return { paths, stopped: false };
}

/** The data must have the model's example shape and classes (same images, same padding). */
function checkDataFits(dataset: ConditionedDataset, model: DenoiserModel, path: string): void {
  if (dataset.exampleShape.join() !== model.exampleShape.join() || dataset.numClasses !== model.config.numClasses) {
    throw new ConfigError(
      `${path} takes examples [${model.exampleShape}] in ${model.config.numClasses} classes, but the data has [${dataset.exampleShape}] in ${dataset.numClasses}: use the teacher's data (and --size)`,
    );
  }
}
