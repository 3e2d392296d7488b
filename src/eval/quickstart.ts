// The quick start: the whole method on the built-in 2-D mixture with its exact teacher, on CPU in
// minutes. Stage one (w in [0, 4]) and stage two (N0 -> 1), plus the single-w baselines (both
// stages at one fixed w, for each reported w), then a report: the mean distance of every
// method's N-step samples to the exact teacher's DDIM-1024 samples from the same noise and labels,
// the sliced W1 to the limit of the method's sampler (DDIM-1024, or stochastic-1024 drawn with its
// own noise) beside that metric's noise floor at n, and scatter plots of teacher and students.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "../engine/index.js";
import { GaussianMixture, loadMixture } from "../diffusion/mixture.js";
import type { SamplerName } from "../diffusion/sample.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import type { TrainProgress } from "../diffusion/train-loop.js";
import { runStageOne, runStageTwo, stageOnePath, stageTwoPath } from "../distill/pipeline.js";
import { loadMlpDenoiser } from "../io/load-model.js";
import { exactTeacherRecipe, stepsForHalving } from "../distill/recipe.js";
import { exactTeacherBar } from "./distill-bar.js";
import { SLICED_PROJECTIONS, ddimErrorTable, noiseFloor, referenceSamples } from "./ddim-error.js";
import { writeComparisonPlots, type ComparedSampler } from "./comparison-plots.js";

export interface QuickstartOptions {
  /** @default "runs/quickstart" */
  outDir?: string;
  /** A built-in mixture (or JSON spec path) with its exact teacher; plots only for 2-D. @default "ring2d" */
  mixture?: string;
  /** Guidance weights in the report. @default [0, 1, 2, 4] */
  ws?: number[];
  /** Step counts in the report. @default [1, 2, 4, 8, 16] */
  steps?: number[];
  /** Student width and depth. @default the recipe's (distill/recipe.ts exactTeacherRecipe) */
  hidden?: number;
  depth?: number;
  /** Stage-one steps (of one round). @default the recipe's */
  stageOneSteps?: number;
  /** Steps of the first stage-two teacher. @default the recipe's */
  startSteps?: number;
  /** Steps of every halving. @default the recipe's (longer for the last halvings) */
  stepsPerHalving?: number;
  /** Rounds a stage may train to meet its bar against the exact teacher (eval/distill-bar.ts); 1: no check. @default the recipe's */
  rounds?: number;
  /** Train and score the single-w baselines. @default true */
  baselines?: boolean;
  /** Budgets of each single-w baseline (half the main run's). @default 1500, 500 */
  baselineStageOneSteps?: number;
  baselineStepsPerHalving?: number;
  /** Pairs of (noise, label) scored. @default 1000 */
  n?: number;
  seed?: number;
  onProgress?: ((p: TrainProgress & { stage: string }) => void) | null;
  log?: (line: string) => void;
}

interface Row {
  method: string;
  steps: number;
  calls: string;
  /** Mean paired distance to the reference samples, by w. */
  errors: Map<number, number>;
  /** Sliced W1 to the limit of `reference` (the exact teacher with that sampler at 1024 steps), by w. */
  distribution: Map<number, number>;
  /** The sampler whose limit `distribution` is measured against: the row's own sampler. */
  reference: SamplerName;
}

/** Sliced W1 between two independent draws of each limit at n, by w: the resolution of the distribution table. */
type NoiseFloors = Record<"ddim" | "stochastic", Map<number, number>>;

export async function runQuickstart(opts: QuickstartOptions = {}): Promise<{ reportPath: string; rows: Row[]; seconds: number }> {
  const started = performance.now();
  const outDir = opts.outDir ?? "runs/quickstart";
  const ws = opts.ws ?? [0, 1, 2, 4];
  const stepsList = opts.steps ?? [1, 2, 4, 8, 16];
  const log = opts.log ?? ((line: string) => console.error(line));
  const n = opts.n ?? 1000;
  const seed = opts.seed ?? 0;
  const minSteps = Math.min(...stepsList);
  mkdirSync(outDir, { recursive: true });
  const mixtureName = opts.mixture ?? "ring2d";
  const exact = loadMixture(mixtureName);
  const recipe = exactTeacherRecipe(exact.spec);
  const student = { hidden: opts.hidden ?? recipe.hidden, depth: opts.depth ?? recipe.depth };
  const startSteps = opts.startSteps ?? recipe.startSteps;
  const stepsPerHalving = opts.stepsPerHalving ?? ((N: number) => stepsForHalving(recipe, N));
  const rounds = opts.rounds ?? recipe.maxRounds;
  const data = new GaussianMixture(exact.spec, { dtype: "float32" });
  const teacher = { kind: "exact" as const, model: exact, name: mixtureName };
  // recorded in every checkpoint, so `fewstep distill stage-two` can continue these runs on the same data
  const common = {
    dataset: data,
    seed,
    onProgress: opts.onProgress,
    data: { kind: "mixture" as const, name: mixtureName, spec: exact.spec },
    batchSize: recipe.batchSize,
    wEdgeFraction: recipe.wEdgeFraction,
  };
  const verdicts: string[] = [];
  const timings: string[] = [];
  const timed = async (label: string, fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    const s = (performance.now() - t0) / 1000;
    timings.push(`| ${label} | ${s.toFixed(1)} s |`);
    log(`quickstart: ${label} done in ${s.toFixed(1)} s`);
  };

  // 1. Distillation for w in [min, max] of the report
  const mainDir = join(outDir, "guided");
  const range = { wMin: Math.min(...ws), wMax: Math.max(...ws) };
  const quality = exactTeacherBar(exact, {
    range,
    startSteps,
    maxRounds: rounds,
    onVerdict: (stage, round, v) => {
      verdicts.push(`${stage}, round ${round + 1}: ${v.summary}`);
      log(`quickstart: ${verdicts.at(-1)}`);
    },
  });
  const main = { ...common, outDir: mainDir, range, quality };
  try {
    await timed("stage one (w range)", () => runStageOne({ ...main, teacher, steps: opts.stageOneSteps ?? recipe.stageOneSteps, lr: recipe.stageOneLr, student }));
    await timed("stage two (w range)", () => runStageTwo({ ...main, from: stageOnePath(mainDir), startSteps, targetSteps: minSteps, stepsPerHalving, lr: recipe.stageTwoLr }));
  } finally {
    quality?.dispose?.();
  }
  // 2. Single-w baselines
  for (const w of opts.baselines === false ? [] : ws) {
    const dir = join(outDir, `single-w${w}`);
    const fixed = { wMin: w, wMax: w };
    await timed(`single-w baseline w=${w}`, async () => {
      await runStageOne({ ...common, teacher, outDir: dir, range: fixed, steps: opts.baselineStageOneSteps ?? 1500, lr: recipe.stageOneLr, student });
      await runStageTwo({ ...common, from: stageOnePath(dir), outDir: dir, range: fixed, startSteps, targetSteps: minSteps, stepsPerHalving: opts.baselineStepsPerHalving ?? 500 });
    });
  }

  // 3. Scores against the exact teacher's DDIM-1024 (paired) and each sampler's own limit
  log("quickstart: scoring against the exact teacher's DDIM-1024 and stochastic-1024 samples");
  const t0 = performance.now();
  const references = referenceSamples(exact, ws, { n, seed });
  const stochasticReferences = referenceSamples(exact, ws, { n, seed, referenceSampler: "stochastic" });
  const floors: NoiseFloors = {
    ddim: noiseFloor(exact, ws, { n, seed, references }),
    stochastic: noiseFloor(exact, ws, { n, seed, referenceSampler: "stochastic", references: stochasticReferences }),
  };
  type Scores = Pick<Row, "errors" | "distribution" | "reference">;
  const score = (path: string | null, steps: number, sampler: SamplerName, wsHere: number[]): Scores => {
    const model = path ? loadMlpDenoiser(path) : null;
    try {
      const cells = ddimErrorTable(model ? denoiserOf(model) : exact, exact, {
        ws: wsHere,
        steps: [steps],
        n,
        seed,
        sampler,
        references,
        // a stochastic sampler's distribution is scored against its own limit (with guidance it is not DDIM's)
        referenceSampler: sampler,
        limitReferences: sampler === "stochastic" ? stochasticReferences : undefined,
        guidance: model ? "input" : "teacher",
        modelDType: model ? "float32" : "float64",
      });
      return { errors: new Map(cells.map((c) => [c.w, c.meanDistance])), distribution: new Map(cells.map((c) => [c.w, c.slicedW1])), reference: sampler };
    } finally {
      model?.dispose();
    }
  };
  const rows: Row[] = [];
  for (const steps of stepsList) {
    const distilled = steps < startSteps ? stageTwoPath(mainDir, steps) : null;
    rows.push({ method: "teacher DDIM", steps, calls: `${2 * steps}`, ...score(null, steps, "ddim", ws) });
    rows.push({ method: "stage-one student, DDIM", steps, calls: `${steps}`, ...score(stageOnePath(mainDir), steps, "ddim", ws) });
    if (distilled) {
      rows.push({ method: "distilled student, deterministic", steps, calls: `${steps}`, ...score(distilled, steps, "ddim", ws) });
      rows.push({ method: "distilled student, stochastic", steps, calls: `${steps}`, ...score(distilled, steps, "stochastic", ws) });
      const baseline: Scores = { errors: new Map(), distribution: new Map(), reference: "ddim" };
      for (const w of opts.baselines === false ? [] : ws) {
        const s = score(stageTwoPath(join(outDir, `single-w${w}`), steps), steps, "ddim", [w]);
        baseline.errors.set(w, s.errors.get(w)!);
        baseline.distribution.set(w, s.distribution.get(w)!);
      }
      if (opts.baselines !== false) rows.push({ method: "single-w baseline, deterministic", steps, calls: `${steps}`, ...baseline });
    }
  }
  timings.push(`| scoring | ${((performance.now() - t0) / 1000).toFixed(1)} s |`);

  // 4. Plots and report
  // students shown beside the teacher: the fewest steps, and 4 steps when distilled
  const plotSteps = [...new Set([minSteps, 4])].filter((steps) => steps < startSteps && steps >= minSteps);
  const plots = exact.dim === 2 ? writePlots(outDir, exact, mainDir, ws, n, seed, references, plotSteps) : [];
  for (const r of [...references.values(), ...stochasticReferences.values()]) r.dispose();
  const seconds = (performance.now() - started) / 1000;
  const reportPath = join(outDir, "report.md");
  writeFileSync(reportPath, report(rows, ws, timings, plots, seconds, floors, { n, startSteps, student, mixture: mixtureName, verdicts }));
  writeFileSync(
    join(outDir, "report.json"),
    JSON.stringify(
      {
        ws,
        n,
        rows: rows.map((r) => ({ ...r, errors: Object.fromEntries(r.errors), distribution: Object.fromEntries(r.distribution) })),
        // sliced W1 between two independent draws of each limit at n, by w
        noiseFloor: { ddim: Object.fromEntries(floors.ddim), stochastic: Object.fromEntries(floors.stochastic) },
        seconds,
      },
      null,
      2,
    ),
  );
  data.dispose();
  exact.dispose();
  return { reportPath, rows, seconds };
}

function writePlots(outDir: string, exact: GaussianMixture, mainDir: string, ws: number[], n: number, seed: number, references: Map<number, Tensor>, plotSteps: number[]): string[] {
  const students = plotSteps.map((steps) => ({ steps, model: loadMlpDenoiser(stageTwoPath(mainDir, steps)) }));
  try {
    const panels: ComparedSampler[] = [
      { title: "Teacher DDIM-4 (8 calls)", model: exact, guidance: "teacher", dtype: "float64", steps: 4, sampler: "ddim" },
      ...students.map(({ steps, model }): ComparedSampler => ({ title: `Student ${steps} step${steps > 1 ? "s" : ""}`, model: denoiserOf(model), guidance: "input", dtype: "float32", steps, sampler: "ddim" })),
    ];
    return writeComparisonPlots(outDir, exact, panels, ws, { n, seed, references, size: 260 });
  } finally {
    for (const s of students) s.model.dispose();
  }
}

function report(rows: Row[], ws: number[], timings: string[], plots: string[], seconds: number, floors: NoiseFloors, facts: { n: number; startSteps: number; student: { hidden: number; depth: number }; mixture: string; verdicts: string[] }): string {
  const fmt = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(4));
  const table = (pick: (r: Row) => Map<number, number>) =>
    [
      `| method | N | network calls | ${ws.map((w) => `w = ${w}`).join(" | ")} |`,
      `| --- | --- | --- | ${ws.map(() => "---").join(" | ")} |`,
      ...rows.map((r) => `| ${r.method} | ${r.steps} | ${r.calls} | ${ws.map((w) => fmt(pick(r).get(w))).join(" | ")} |`),
    ].join("\n");
  const limitName = (s: SamplerName) => `${s === "ddim" ? "DDIM" : s}-1024`;
  const distribution = [
    `| method | N | network calls | reference | ${ws.map((w) => `w = ${w}`).join(" | ")} |`,
    `| --- | --- | --- | --- | ${ws.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.method} | ${r.steps} | ${r.calls} | ${limitName(r.reference)} | ${ws.map((w) => fmt(r.distribution.get(w))).join(" | ")} |`),
    ...(["ddim", "stochastic"] as const).map((s) => `| noise floor (two draws of the limit) | - | - | ${limitName(s)} | ${ws.map((w) => fmt(floors[s].get(w))).join(" | ")} |`),
  ].join("\n");
  return `# fewstep quick start report

Guided distillation (Meng et al. 2023) of the exact teacher of the mixture \`${facts.mixture}\`.
Each method's N-step samples are compared with the exact teacher's guided DDIM-1024 samples x_ref
from the same ${facts.n} pairs of noise z_1 and label, at guidance weight w
(x^w = (1 + w) x(z, c) - w x(z, null)), and by distribution with the limit of their own sampler.
Lower is better in both tables.

Students: MLPs ${facts.student.hidden} wide with ${facts.student.depth} residual blocks, taking w as an input. Stage one fits the
guided exact teacher for w in [${Math.min(...ws)}, ${Math.max(...ws)}]; stage two halves from ${facts.startSteps} steps down. The single-w
baseline runs both stages with w fixed (one student per w, half the training budget).
The teacher needs 2 network calls per step (conditional and unconditional); students need 1.

### Per-sample error: mean ||x_N - x_ref|| (deterministic samplers)

${table((r) => r.errors)}

The stochastic sampler adds fresh noise, so its samples are not a function of z_1: its
per-sample distance to the deterministic reference is the distance between different samples and
says nothing about quality. Compare it in the distribution table below.

### Distribution distance: sliced W1 between the N-step samples and their sampler's limit

Each row is scored against the limit of its own sampler (column "reference"): the exact teacher
with that sampler at 1024 steps. With guidance (w > 0) the stochastic and the deterministic sampler
of the same guided x-hat converge to different distributions, so the stochastic row is scored
against stochastic-1024 samples drawn with their own noise and labels, not against DDIM-1024.
The noise-floor rows are the sliced W1 (${SLICED_PROJECTIONS} projections) between two independent draws of
each limit at n = ${facts.n}: a score near its floor is as close as n samples can tell.

${distribution}

## Training to the bar

Each stage of the guided run was judged against the exact teacher (src/eval/distill-bar.ts, its own
500 pairs of noise and label): a stage below its bar trains another round.

${facts.verdicts.length ? facts.verdicts.map((v) => `- ${v}`).join("\n") : "- (not checked: --rounds 1)"}

## Plots

${plots.length ? plots.map((p) => `![${p}](${p})`).join("\n") : "(scatter plots are drawn for 2-D mixtures only)"}

## Time

| part | time |
| --- | --- |
${timings.join("\n")}
| total | ${seconds.toFixed(1)} s |
`;
}
