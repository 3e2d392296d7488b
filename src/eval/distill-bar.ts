// The quality bar a distillation run on an exact mixture teacher trains to (distill/pipeline.ts
// QualityBar): measured against the exact teacher's DDIM-1024 map, from noise and labels of a seed
// of their own (not the pairs a report scores), at every w of the student's range that is checked.
//   stage one:  the student's DDIM error at the first stage-two teacher's steps (startSteps) at
//               most floorFraction (0.6) x the exact teacher's own DDIM error at floorSteps: stage one
//               is the floor every later student sits on, so it must leave room below the
//               tightest bar (N = 4 against the teacher's DDIM-16).
//   stage two:  the N-step student (N <= 4) at most margin x the exact teacher's DDIM error at 4N
//               steps: the bar of docs/RESULTS.md, with a margin for the scoring pairs differing.
import type { QualityBar, QualityVerdict } from "../distill/pipeline.js";
import type { GaussianMixture } from "../diffusion/mixture.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { loadMlpDenoiser } from "../io/load-model.js";
import type { Tensor } from "../engine/index.js";
import { ddimErrorTable, referenceSamples } from "./ddim-error.js";

export interface ExactBarOptions {
  /** The run's w range: the bar checks the weights of {0, 1, 2, 4} inside it (barWeights). */
  range: { wMin: number; wMax: number };
  /** Steps of the first stage-two teacher (stage one is checked there). */
  startSteps: number;
  /** Rounds per stage at most; 1: no check, and no bar (exactTeacherBar returns undefined). */
  maxRounds: number;
  /** @default 16 */
  floorSteps?: number;
  /** @default 0.6 */
  floorFraction?: number;
  /** Students of at most this many steps are checked against the teacher at 4N. @default 4 */
  checkedUpTo?: number;
  /** @default 0.95 */
  margin?: number;
  /** Pairs of noise and label. @default 500 */
  n?: number;
  /** Seed of those pairs: 1, apart from the reports' 0. @default 1 */
  seed?: number;
  onVerdict?: QualityBar["onVerdict"];
}

/** The weights of {0, 1, 2, 4} inside the run's range, or its ends when none is (a single-w run: its w). */
export function barWeights(range: { wMin: number; wMax: number }): number[] {
  const inside = [0, 1, 2, 4].filter((w) => w >= range.wMin && w <= range.wMax);
  return inside.length > 0 ? inside : [...new Set([range.wMin, range.wMax])];
}

/** The pairs an error is measured on: weights, count, seed and the exact teacher's DDIM-1024 samples for them. */
interface Pairs {
  ws: number[];
  n: number;
  seed: number;
  references: Map<number, Tensor>;
}

/** The exact teacher's own DDIM error at `steps` (mean distance to its DDIM-1024 map), by w. */
function teacherErrors(mixture: GaussianMixture, steps: number, p: Pairs): Map<number, number> {
  return new Map(ddimErrorTable(mixture, mixture, { ...p, steps: [steps] }).map((c) => [c.w, c.meanDistance]));
}

/** The student at `path` sampled with DDIM at `steps`: its mean distance to the exact teacher's DDIM-1024 map, by w. */
function studentErrors(mixture: GaussianMixture, path: string, steps: number, p: Pairs): Map<number, number> {
  const model = loadMlpDenoiser(path);
  try {
    return new Map(ddimErrorTable(denoiserOf(model), mixture, { ...p, steps: [steps], guidance: "input", modelDType: "float32" }).map((c) => [c.w, c.meanDistance]));
  } finally {
    model.dispose();
  }
}

/** The bar for a run distilling the exact teacher `mixture` (see the file header); undefined when maxRounds is 1. */
export function exactTeacherBar(mixture: GaussianMixture, o: ExactBarOptions): QualityBar | undefined {
  if (o.maxRounds <= 1) return undefined;
  const ws = barWeights(o.range);
  const n = o.n ?? 500;
  const seed = o.seed ?? 1;
  const floorSteps = o.floorSteps ?? 16;
  const floorFraction = o.floorFraction ?? 0.6;
  const margin = o.margin ?? 0.95;
  const checkedUpTo = o.checkedUpTo ?? 4;
  let pairs: Pairs | undefined;
  const pairsNow = (): Pairs => (pairs ??= { ws, n, seed, references: referenceSamples(mixture, ws, { n, seed }) });
  // the exact teacher's own error per step count, computed once
  const teacherCache = new Map<number, Map<number, number>>();
  const teacherAt = (steps: number) => teacherCache.get(steps) ?? teacherCache.set(steps, teacherErrors(mixture, steps, pairsNow())).get(steps)!;
  const verdict = (student: Map<number, number>, bar: Map<number, number>, factor: number, what: string): QualityVerdict => {
    const ratios = ws.map((w) => student.get(w)! / bar.get(w)!);
    const met = ratios.every((r) => r <= factor);
    return { met, summary: `${what}: ${ws.map((w, i) => `w=${w} ${ratios[i].toFixed(2)}`).join(", ")} (bar ${factor}) ${met ? "met" : "not met"}` };
  };
  return {
    maxRounds: o.maxRounds,
    onVerdict: o.onVerdict,
    check(path, steps) {
      if (steps === null) return verdict(studentErrors(mixture, path, o.startSteps, pairsNow()), teacherAt(floorSteps), floorFraction, `DDIM-${o.startSteps} error / exact teacher's DDIM-${floorSteps}`);
      if (steps > checkedUpTo) return undefined;
      return verdict(studentErrors(mixture, path, steps, pairsNow()), teacherAt(4 * steps), margin, `${steps}-step error / exact teacher's DDIM-${4 * steps}`);
    },
    dispose() {
      for (const r of pairs?.references.values() ?? []) r.dispose();
      pairs = undefined;
    },
  };
}

export interface BarCell {
  w: number;
  /** The student's steps. */
  N: number;
  /** The N-step student's mean distance to the exact teacher's DDIM-1024 map. */
  student: number;
  /** The exact teacher's own DDIM error at 4N steps (2 calls per step: 8N calls to the student's N). */
  teacher: number;
  met: boolean;
}

/**
 * The quality bar of docs/RESULTS.md, scored: for each w and N, the distilled student at N steps
 * (`studentPath(N)`) against the exact teacher's DDIM at 4N steps, both as mean distance to the
 * exact teacher's DDIM-1024 samples from the same n pairs of noise and label (seed 0: the
 * reports' pairs, not the bar's training-time checks).
 */
export function barTable(mixture: GaussianMixture, studentPath: (N: number) => string, o: { ws?: number[]; Ns?: number[]; n?: number; seed?: number } = {}): BarCell[] {
  const ws = o.ws ?? [0, 1, 2, 4];
  const Ns = o.Ns ?? [1, 2, 4];
  const n = o.n ?? 1000;
  const seed = o.seed ?? 0;
  const p: Pairs = { ws, n, seed, references: referenceSamples(mixture, ws, { n, seed }) };
  try {
    return Ns.flatMap((N) => {
      const teacher = teacherErrors(mixture, 4 * N, p);
      const student = studentErrors(mixture, studentPath(N), N, p);
      return ws.map((w) => ({ w, N, student: student.get(w)!, teacher: teacher.get(w)!, met: student.get(w)! <= teacher.get(w)! }));
    });
  } finally {
    for (const r of p.references.values()) r.dispose();
  }
}

/** "w=0 N=1 0.2390 vs 0.2942 (-19%)": a cell for logs and tables. */
export function describeCell(c: BarCell): string {
  return `w=${c.w} N=${c.N} ${c.student.toFixed(4)} vs ${c.teacher.toFixed(4)} (${c.student >= c.teacher ? "+" : ""}${((c.student / c.teacher - 1) * 100).toFixed(0)}%)`;
}
