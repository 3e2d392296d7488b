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
import { ddimErrorTable, referenceSamples } from "./ddim-error.js";

export interface ExactBarOptions {
  /** Guidance weights checked. @default [0, 1, 2, 4] (within the run's range) */
  ws: number[];
  /** Steps of the first stage-two teacher (stage one is checked there). */
  startSteps: number;
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
  /** Rounds per stage at most. @default 3 */
  maxRounds?: number;
  onVerdict?: QualityBar["onVerdict"];
}

/** The weights of {0, 1, 2, 4} inside the run's range, or its ends when none is (a single-w run: its w). */
export function barWeights(range: { wMin: number; wMax: number }): number[] {
  const inside = [0, 1, 2, 4].filter((w) => w >= range.wMin && w <= range.wMax);
  return inside.length > 0 ? inside : [...new Set([range.wMin, range.wMax])];
}

/** The bar for a run distilling the exact teacher `mixture` (see the file header). */
export function exactTeacherBar(mixture: GaussianMixture, o: ExactBarOptions): QualityBar {
  const n = o.n ?? 500;
  const seed = o.seed ?? 1;
  const floorSteps = o.floorSteps ?? 16;
  const floorFraction = o.floorFraction ?? 0.6;
  const margin = o.margin ?? 0.95;
  const checkedUpTo = o.checkedUpTo ?? 4;
  let references: ReturnType<typeof referenceSamples> | undefined;
  const teacherError = new Map<string, number>();
  const refs = () => (references ??= referenceSamples(mixture, o.ws, { n, seed }));
  // the exact teacher's own DDIM error at `steps`, per w (computed once per step count)
  const teacherAt = (steps: number): Map<number, number> => {
    const missing = o.ws.filter((w) => !teacherError.has(`${w}:${steps}`));
    if (missing.length) {
      for (const c of ddimErrorTable(mixture, mixture, { ws: missing, steps: [steps], n, seed, references: refs() })) teacherError.set(`${c.w}:${steps}`, c.meanDistance);
    }
    return new Map(o.ws.map((w) => [w, teacherError.get(`${w}:${steps}`)!]));
  };
  const studentAt = (path: string, steps: number): Map<number, number> => {
    const model = loadMlpDenoiser(path);
    try {
      const cells = ddimErrorTable(denoiserOf(model), mixture, { ws: o.ws, steps: [steps], n, seed, references: refs(), guidance: "input", modelDType: "float32" });
      return new Map(cells.map((c) => [c.w, c.meanDistance]));
    } finally {
      model.dispose();
    }
  };
  const verdict = (student: Map<number, number>, bar: Map<number, number>, factor: number, what: string): QualityVerdict => {
    const ratios = o.ws.map((w) => student.get(w)! / bar.get(w)!);
    const met = ratios.every((r) => r <= factor);
    return { met, summary: `${what}: ${o.ws.map((w, i) => `w=${w} ${ratios[i].toFixed(2)}`).join(", ")} (bar ${factor}) ${met ? "met" : "not met"}` };
  };
  return {
    maxRounds: o.maxRounds ?? 3,
    onVerdict: o.onVerdict,
    check(path, steps) {
      if (steps === null) return verdict(studentAt(path, o.startSteps), teacherAt(floorSteps), floorFraction, `DDIM-${o.startSteps} error / exact teacher's DDIM-${floorSteps}`);
      if (steps > checkedUpTo) return undefined;
      return verdict(studentAt(path, steps), teacherAt(4 * steps), margin, `${steps}-step error / exact teacher's DDIM-${4 * steps}`);
    },
    dispose() {
      for (const r of references?.values() ?? []) r.dispose();
      references = undefined;
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
  const references = referenceSamples(mixture, ws, { n, seed });
  try {
    const teacher = ddimErrorTable(mixture, mixture, { ws, steps: Ns.map((N) => 4 * N), n, seed, references });
    const cells: BarCell[] = [];
    for (const N of Ns) {
      const model = loadMlpDenoiser(studentPath(N));
      try {
        for (const c of ddimErrorTable(denoiserOf(model), mixture, { ws, steps: [N], n, seed, references, guidance: "input", modelDType: "float32" })) {
          const bar = teacher.find((t) => t.w === c.w && t.steps === 4 * N)!.meanDistance;
          cells.push({ w: c.w, N, student: c.meanDistance, teacher: bar, met: c.meanDistance <= bar });
        }
      } finally {
        model.dispose();
      }
    }
    return cells;
  } finally {
    for (const r of references.values()) r.dispose();
  }
}

/** "w=0 N=1 0.2390 vs 0.2942 (-19%)": a cell for logs and tables. */
export function describeCell(c: BarCell): string {
  return `w=${c.w} N=${c.N} ${c.student.toFixed(4)} vs ${c.teacher.toFixed(4)} (${c.student >= c.teacher ? "+" : ""}${((c.student / c.teacher - 1) * 100).toFixed(0)}%)`;
}
