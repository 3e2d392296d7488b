// bench/recipe: the distillation recipe on a family of random mixtures (src/diffusion/mixture-family.ts).
// For each seed: the mixture's exact teacher, stage one (w ~ U[0, 4]) and stage two from the
// recipe down to 1 step, with rounds to the bar (eval/distill-bar.ts) when the recipe has them,
// then the quality bar of docs/RESULTS.md (eval/distill-bar.ts barTable): for w in {0, 1, 2, 4}
// and N in {1, 2, 4}, the distilled student's N-step DDIM error to the exact teacher's DDIM-1024
// map against the exact teacher's own DDIM error at 4N steps (n pairs of noise and label).
//   OPENBLAS_NUM_THREADS=1 FEWSTEP_THREADS=1 node dist/bench/recipe/run.js --seeds 1,2,3 [--out runs/recipe]
//     --recipe '{"hidden":256}'   overrides fields of the default recipe (src/distill/recipe.ts)
//     --stage-one-only           stops after stage one and prints its DDIM-<startSteps> error over
//                                the exact teacher's DDIM-16 error per w (stage-one.jsonl)
//     --reuse-stage-one A,B      copies a finished stage one of the same seed from run folder A or B
//     --summary                  prints the Markdown table of results.jsonl for --seeds, and exits
// Writes <out>/<seed>/ (checkpoints), <out>/<seed>.json (the spec) and <out>/results.jsonl (one
// line per mixture: cells, worst cell, the rounds' verdicts, times).
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GaussianMixture } from "../../src/diffusion/mixture.js";
import { describeMixture, randomMixtureSpec } from "../../src/diffusion/mixture-family.js";
import { runStageOne, runStageTwo, savedRound, stageOnePath, stageTwoPath } from "../../src/distill/pipeline.js";
import { exactTeacherRecipe, stepsForHalving, type DistillRecipe } from "../../src/distill/recipe.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { ddimErrorTable, referenceSamples } from "../../src/eval/ddim-error.js";
import { barTable, describeCell, exactTeacherBar, type BarCell } from "../../src/eval/distill-bar.js";
import { loadMlpDenoiser } from "../../src/io/load-model.js";
import { benchArgs } from "../bench-args.js";

const args = benchArgs("bench/recipe", ["seeds", "recipe", "out", "n", "stage-one-only", "reuse-stage-one", "summary"]);
const seeds = (args.text("seeds") ?? "1,2,3").split(",").map(Number);
const out = args.text("out") ?? "runs/recipe";
const n = args.int("n", 1000, 10);
const overrides = JSON.parse(args.text("recipe") ?? "{}") as Partial<DistillRecipe>;
const WS = [0, 1, 2, 4];
const NS = [1, 2, 4];
mkdirSync(out, { recursive: true });
if (args.has("summary")) {
  printSummary(join(out, "results.jsonl"), seeds);
  process.exit(0);
}

for (const seed of seeds) {
  const spec = randomMixtureSpec(seed);
  const exact = new GaussianMixture(spec);
  const data = new GaussianMixture(spec, { dtype: "float32" });
  const recipe = { ...exactTeacherRecipe(spec), ...overrides };
  const dir = join(out, String(seed));
  writeFileSync(join(dir + ".json"), JSON.stringify(spec));
  const t0 = performance.now();
  const range = { wMin: 0, wMax: 4 };
  const teacher = { kind: "exact" as const, model: exact, name: `family-${seed}` };
  const verdicts: string[] = [];
  const quality = exactTeacherBar(exact, {
    range,
    startSteps: recipe.startSteps,
    maxRounds: recipe.maxRounds,
    onVerdict: (stage, round, v) => {
      verdicts.push(`${stage} round ${round + 1}: ${v.summary}`);
      console.error(`  seed ${seed} ${verdicts.at(-1)}`);
    },
  });
  const common = { dataset: data, seed: 0, onProgress: null, outDir: dir, range, batchSize: recipe.batchSize, quality, wEdgeFraction: recipe.wEdgeFraction };
  // --reuse-stage-one A,B: a finished stage one of the same seed from an earlier run folder (to compare stage-two settings)
  const reused = (args.text("reuse-stage-one") ?? "").split(",").filter(Boolean).map((d) => join(d, String(seed), "stage-one.safetensors")).find((p) => existsSync(p) && savedRound(p).complete);
  if (reused) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(reused, stageOnePath(dir));
  }
  const one = reused ? { path: stageOnePath(dir) } : await runStageOne({ ...common, teacher, steps: recipe.stageOneSteps, student: { hidden: recipe.hidden, depth: recipe.depth }, lr: recipe.stageOneLr });
  const tOne = (performance.now() - t0) / 1000;
  // stage one's floor: its DDIM error at 16 and at startSteps steps, beside the exact teacher's DDIM-16
  const references = referenceSamples(exact, WS, { n, seed: 0 });
  const stageOneModel = loadMlpDenoiser(one.path);
  const floorCells = ddimErrorTable(denoiserOf(stageOneModel), exact, { ws: WS, steps: [16, recipe.startSteps], n, seed: 0, references, guidance: "input", modelDType: "float32" });
  stageOneModel.dispose();
  const teacher16 = ddimErrorTable(exact, exact, { ws: WS, steps: [16], n, seed: 0, references });
  for (const r of references.values()) r.dispose();
  if (args.has("stage-one-only")) {
    const ratio = (w: number) => floorCells.find((c) => c.w === w && c.steps === recipe.startSteps)!.meanDistance / teacher16.find((c) => c.w === w)!.meanDistance;
    const line = { seed, mixture: describeMixture(spec), recipe, floorRatios: WS.map(ratio), seconds: tOne };
    appendFileSync(join(out, "stage-one.jsonl"), JSON.stringify(line) + "\n");
    console.log(`seed ${seed} (${describeMixture(spec)}): stage-one DDIM-${recipe.startSteps} / teacher DDIM-16 at w = ${WS.join(", ")}: ${WS.map((w) => ratio(w).toFixed(2)).join(" ")}, ${tOne.toFixed(0)} s`);
    quality?.dispose?.();
    exact.dispose();
    data.dispose();
    continue;
  }
  await runStageTwo({ ...common, from: one.path, startSteps: recipe.startSteps, targetSteps: 1, stepsPerHalving: (N) => stepsForHalving(recipe, N), lr: recipe.stageTwoLr });
  const seconds = (performance.now() - t0) / 1000;
  const cells = barTable(exact, (N) => stageTwoPath(dir, N), { ws: WS, Ns: NS, n });
  const met = cells.filter((c) => c.met).length;
  const worst = cells.reduce((a, b) => (b.student / b.teacher > a.student / a.teacher ? b : a));
  const floor = Object.fromEntries(floorCells.map((c) => [`w${c.w}-N${c.steps}`, Number(c.meanDistance.toFixed(4))]));
  quality?.dispose?.();
  const line = { seed, mixture: describeMixture(spec), recipe, met, worst, cells, floor, verdicts, seconds: { stageOne: tOne, total: seconds } };
  appendFileSync(join(out, "results.jsonl"), JSON.stringify(line) + "\n");
  console.log(
    `seed ${seed} (${describeMixture(spec)}): ${met}/12, worst ${describeCell(worst)}, ` +
      `misses ${cells.filter((c) => !c.met).map((c) => `w${c.w}N${c.N}:${((c.student / c.teacher - 1) * 100).toFixed(0)}%`).join(" ") || "none"}, ${seconds.toFixed(0)} s (stage one ${tOne.toFixed(0)} s)`,
  );
  exact.dispose();
  data.dispose();
}


/** --summary: the Markdown table of docs/RESULTS.md from results.jsonl (the newest line per seed among --seeds). */
function printSummary(path: string, wanted: number[]): void {
  type Line = { seed: number; mixture: string; met: number; worst: BarCell; cells: BarCell[]; verdicts?: string[]; seconds: { total: number } };
  const lines = new Map<number, Line>();
  for (const text of readFileSync(path, "utf8").split("\n").filter(Boolean)) {
    const line = JSON.parse(text) as Line;
    if (wanted.includes(line.seed)) lines.set(line.seed, line);
  }
  console.log("| seed | mixture | cells met | worst cell: student vs teacher DDIM-4N | extra rounds | time |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const seed of wanted) {
    const l = lines.get(seed);
    if (!l) continue;
    const extra = (l.verdicts ?? []).filter((v) => / round [2-9]/.test(v)).map((v) => v.split(":")[0].replace(/ round /, " r")).join(", ") || "none";
    console.log(`| ${seed} | ${l.mixture} | ${l.met}/12 | ${describeCell(l.worst)} | ${extra} | ${l.seconds.total.toFixed(0)} s |`);
  }
}
