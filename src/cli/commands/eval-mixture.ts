// `fewstep eval-mixture`: the exact-teacher error table. For each w and N, the mean distance of a
// model's N-step samples to the exact mixture teacher's 1024-step DDIM map from the same noise and
// labels, plus 2-D scatter plots (reference | model) for a person to look at.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";

export const evalMixtureSpec: CommandSpec = {
  name: "eval-mixture",
  summary: "error table of a sampler/model against the exact mixture teacher's 1024-step DDIM map",
  usage: "fewstep eval-mixture --mixture NAME|spec.json [--model ckpt] [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", default: "ring2d", help: "the exact teacher: built-in ring2d, gauss64d, or a JSON spec" },
    { name: "model", kind: "path", meta: "FILE", help: "score a trained model's DDIM instead of the exact teacher's own" },
    { name: "ws", kind: "numbers", meta: "W,W", min: 0, default: "0,1,4", help: "guidance weights" },
    { name: "steps", kind: "numbers", meta: "N,N", min: 1, max: MAX_SAMPLING_STEPS, default: "1,2,4,8,16,64,256", help: "step counts" },
    { name: "sampler", kind: "string", meta: "NAME", choices: ["ddim", "stochastic", "ddpm"], default: "ddim", help: "sampler of the scored model" },
    { name: "n", kind: "int", meta: "N", min: 1, default: 1000, help: "number of (noise, label) pairs" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of noise and labels" },
    { name: "out-dir", kind: "path", meta: "DIR", help: "write table.md, table.json and (2-D) scatter PNGs here" },
  ],
  examples: ["fewstep eval-mixture --mixture ring2d --out-dir runs/exact-table", "fewstep eval-mixture --mixture ring2d --model runs/teacher/teacher.safetensors --out-dir runs/mlp-table"],
};

export async function runEvalMixture(flags: ParsedFlags): Promise<void> {
  const { loadMixture } = await import("../../diffusion/mixture.js");
  const { ddimErrorTable, errorTableMarkdown } = await import("../../eval/ddim-error.js");
  const { loadModelForSampling } = await import("../model-loading.js");
  const parseList = (value: unknown): number[] => (Array.isArray(value) ? value : String(value).split(",").map(Number));
  const ws = parseList(flags.ws);
  const steps = parseList(flags.steps).map((s) => {
    if (!Number.isInteger(s)) throw new FewstepError(`--steps: ${s} is not an integer`);
    return s;
  });
  const mixture = loadMixture(flags.mixture as string);
  const source = flags.model !== undefined ? loadModelForSampling(flags.model as string, { w: ws, steps }) : undefined;
  if (source && source.exampleShape.join() !== String(mixture.dim)) throw new FewstepError(`--model takes examples of shape [${source.exampleShape}] but --mixture ${flags.mixture} has ${mixture.dim}`);
  const outDir = flags["out-dir"] as string | undefined;
  if (outDir && !existsSync(outDir)) mkdirSync(outDir, { recursive: true });
  const label = source ? `model ${flags.model}` : `exact teacher`;
  console.error(`fewstep eval-mixture: ${label}, ${flags.sampler} on ${flags.mixture}, n = ${flags.n}, reference: exact teacher DDIM-1024`);
  const started = performance.now();
  try {
    const cells = ddimErrorTable(source?.model ?? mixture, mixture, {
      ws,
      steps,
      n: flags.n as number,
      seed: flags.seed as number,
      sampler: flags.sampler as "ddim",
      guidance: source?.guidance ?? "teacher",
      modelDType: source?.dtype ?? "float64",
      onCell: (c) => console.error(`  w = ${c.w}  N = ${c.steps}: mean distance ${c.meanDistance.toPrecision(4)}`),
    });
    const markdown = errorTableMarkdown(cells);
    console.log(markdown);
    console.error(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (outDir) {
      writeFileSync(join(outDir, "table.md"), `Mean distance to the exact teacher's DDIM-1024 samples (${label}, ${flags.sampler}, ${flags.mixture}, n = ${flags.n}, seed ${flags.seed})\n\n${markdown}\n`);
      writeFileSync(join(outDir, "table.json"), JSON.stringify({ mixture: flags.mixture, model: flags.model ?? null, sampler: flags.sampler, n: flags.n, seed: flags.seed, cells }, null, 2));
      const { writeComparisonPlots } = await import("../../eval/comparison-plots.js");
      // the fewest steps, and 16 (or the most) steps, beside the reference
      const shown = [Math.min(...steps), steps.includes(16) ? 16 : Math.max(...steps)];
      writeComparisonPlots(
        outDir,
        mixture,
        shown.map((n) => ({
          title: `${source ? "Model" : "Teacher"} ${flags.sampler}-${n}`,
          model: source?.model ?? mixture,
          guidance: source?.guidance ?? "teacher",
          dtype: source?.dtype ?? "float64",
          steps: n,
          sampler: flags.sampler as "ddim",
        })),
        ws,
        { n: flags.n as number, seed: flags.seed as number, size: 320 },
      );
      console.error(`wrote ${outDir}/table.md, table.json${mixture.dim === 2 ? " and scatter-w*.png" : ""}`);
    }
  } finally {
    source?.dispose();
    mixture.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: evalMixtureSpec, run: runEvalMixture };
