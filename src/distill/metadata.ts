// What a distilled student's checkpoint says about itself (metadata "distill") and the rule it
// carries: a student refuses a w outside the range it was distilled for, and a stage-two student
// a step count other than its own N. One definition for every caller (sample, eval, export).
import { ConfigError } from "../engine/index.js";
import type { MixtureSpec } from "../diffusion/mixture.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import type { LatentRecord } from "../io/latent-record.js";

/** The guidance weights of a student: a range [wMin, wMax], or one fixed w (single-w baseline). */
export interface WRange {
  wMin: number;
  wMax: number;
}

/** The data a run distils on, recorded so that a later stage trains on the same data. */
export type DistillData = { kind: "mixture"; name: string; spec: MixtureSpec } | { kind: "images"; spec: string; latent?: LatentRecord };

export interface DistillMetadata extends WRange {
  stage: "one" | "two";
  /** The N a stage-two student was distilled for; null for stage one. */
  steps: number | null;
  /** What it was distilled from. */
  teacher: string;
  /** The run's data (absent in checkpoints written before it was recorded). */
  data?: DistillData;
}

/** One line naming the data of a run, for messages. */
export function describeData(data: DistillData): string {
  return data.kind === "mixture" ? `--mixture ${data.name}` : `--data ${data.spec}`;
}

/**
 * What a stage continuing a run trains on: the data and w range its checkpoint recorded. A value
 * given again must agree with the recorded one (an error naming both otherwise); one not given is
 * inherited. A checkpoint without recorded data needs the data given.
 * @param given the data and w range asked for (undefined: not asked)
 */
export function inheritRun(distill: DistillMetadata, from: string, given: { data?: DistillData; range?: WRange }): { data: DistillData; range: WRange } {
  const recorded = distill.data;
  if (given.data && recorded) {
    if (!sameData(given.data, recorded)) throw new ConfigError(`${describeData(given.data)}: ${from} was distilled on ${describeData(recorded)}; leave the data out to continue on it, or start a new run`);
  }
  const data = given.data ?? recorded;
  if (!data) throw new ConfigError(`${from} does not record its data (an older checkpoint): pass the data it was distilled on (--mixture or --data)`);
  const range = { wMin: distill.wMin, wMax: distill.wMax };
  if (given.range && (given.range.wMin !== range.wMin || given.range.wMax !== range.wMax)) {
    throw new ConfigError(`w range [${given.range.wMin}, ${given.range.wMax}]: ${from} was distilled for w in [${range.wMin}, ${range.wMax}]; leave --w-min/--w-max/--single-w out to continue with it`);
  }
  return { data, range };
}

/** Whether two data descriptions are the same data (a mixture by its spec, whatever its name). */
export function sameData(a: DistillData, b: DistillData): boolean {
  if (a.kind === "mixture" && b.kind === "mixture") return JSON.stringify(a.spec) === JSON.stringify(b.spec);
  // a latent run's data is its images and the autoencoder that encoded them (when both say)
  return a.kind === "images" && b.kind === "images" && a.spec === b.spec && (!a.latent || !b.latent || a.latent.autoencoder.sha256 === b.latent.autoencoder.sha256);
}

/** The distillation facts of the checkpoint at `path`, or null for a teacher (the weights are read and freed). */
export function readDistillMetadata(path: string): DistillMetadata | null {
  const checkpoint = loadCheckpoint(path);
  try {
    return distillMetadata(checkpoint.metadata);
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** The distillation facts of a checkpoint's metadata, or null for a teacher. */
export function distillMetadata(metadata: Record<string, unknown>): DistillMetadata | null {
  const d = metadata.distill as Partial<DistillMetadata> | undefined;
  if (!d || (d.stage !== "one" && d.stage !== "two")) return null;
  if (typeof d.wMin !== "number" || typeof d.wMax !== "number" || !(d.steps === null || typeof d.steps === "number")) {
    throw new ConfigError(`metadata.distill is malformed: ${JSON.stringify(d).slice(0, 160)}`);
  }
  return d as DistillMetadata;
}

/**
 * Why `distill` refuses a request (the first w outside its range, the first N not its own), or null.
 * @param who names the model in the message (a path or a table name)
 * @param flag prefixes the message with the offending flag and value ("--w 4.5: ") when set
 */
export function distilledForProblem(distill: DistillMetadata | null, who: string, request: { w?: number | number[]; steps?: number | number[] }, flag = false): string | null {
  if (!distill) return null;
  const list = (v: number | number[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const w = list(request.w).find((x) => x < distill.wMin - 1e-9 || x > distill.wMax + 1e-9);
  if (w !== undefined) return `${flag ? `--w ${w}: ` : ""}${who} was distilled for w in [${distill.wMin}, ${distill.wMax}]; pick a w in that range or distill with a wider range`;
  const n = list(request.steps).find((x) => distill.steps !== null && x !== distill.steps);
  if (n !== undefined) {
    // halving makes N0/2, N0/4, ...: only a power-of-two multiple or divisor of this N can exist
    const canExist = Number.isInteger(n) && n >= 1 && Number.isInteger(Math.log2(n / distill.steps!));
    const other = canExist ? `, or the student-N${n} checkpoint of the same run` : ` (stage two halves N, so no student of ${n} steps comes from this run)`;
    return `${flag ? `--steps ${n}: ` : ""}${who} was distilled for ${distill.steps} steps; use --steps ${distill.steps}${other}`;
  }
  return null;
}

/** Throws a ConfigError when `distill` refuses the request (see distilledForProblem). */
export function checkDistilledFor(distill: DistillMetadata | null, who: string, request: { w?: number | number[]; steps?: number | number[] }, flag = false): void {
  const problem = distilledForProblem(distill, who, request, flag);
  if (problem) throw new ConfigError(problem);
}
