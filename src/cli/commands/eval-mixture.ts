// `fewstep eval-mixture`: the exact-teacher error table. For each w and N, the mean distance of a
// model's N-step samples to the exact mixture teacher's 1024-step DDIM map from the same noise and
// labels, the sliced W1 to the limit of the scored sampler (the exact teacher with it at 1024 steps)
// beside that metric's noise floor, plus 2-D scatter plots (reference | model) for a person to look at.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";
import type { SamplerName } from "../../diffusion/sample.js";

export const evalMixtureSpec: CommandSpec = {
  name: "eval-mixture",
  summary: "error table of a sampler/model against the exact mixture teacher's 1024-step map (DDIM, or the sampler's own limit)",
  usage: "fewstep eval-mixture --mixture NAME|spec.json [--model ckpt] [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "the exact teacher: built-in ring2d, gauss64d, or a JSON spec (default: the mixture a distilled --model records, else ring2d; a different one is an error)" },
    { name: "model", kind: "path", meta: "FILE", help: "score a trained model (with --sampler) instead of the exact teacher" },
    { name: "ws", kind: "numbers", meta: "W,W", min: 0, default: "0,1,4", help: "guidance weights" },
    { name: "steps", kind: "numbers", meta: "N,N", min: 1, max: MAX_SAMPLING_STEPS, default: "1,2,4,8,16,64,256", help: "step counts" },
    { name: "sampler", kind: "string", meta: "NAME", choices: ["ddim", "stochastic", "ddpm"], default: "ddim", help: "sampler of the scored model" },
    {
      name: "reference",
      kind: "string",
      meta: "NAME",
      choices: ["ddim", "stochastic", "ddpm"],
      help: "sampler whose limit (exact teacher, 1024 steps) sliced W1 is measured against; default: --sampler (with guidance a stochastic sampler's limit is not DDIM's)",
    },
    { name: "n", kind: "int", meta: "N", min: 1, default: 1000, help: "number of (noise, label) pairs" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of noise and labels" },
    { name: "out-dir", kind: "path", meta: "DIR", help: "write table.md, table.json and (2-D) scatter PNGs here" },
  ],
  examples: [
    "fewstep eval-mixture --mixture ring2d --out-dir runs/exact-table",
    "fewstep eval-mixture --mixture ring2d --model runs/teacher/teacher.safetensors --out-dir runs/mlp-table",
    "fewstep eval-mixture --mixture ring2d --sampler stochastic --ws 0,2 --steps 4,16,64,256 --n 2000",
  ],
};

export async function runEvalMixture(flags: ParsedFlags): Promise<void> {
  const { GaussianMixture, loadMixture } = await import("../../diffusion/mixture.js");
  const { ddimErrorTable, errorTableMarkdown, noiseFloor, referenceSamples } = await import("../../eval/ddim-error.js");
  const { loadModelForSampling } = await import("../model-loading.js");
  const parseList = (value: unknown): number[] => (Array.isArray(value) ? value : String(value).split(",").map(Number));
  const ws = parseList(flags.ws);
  const steps = parseList(flags.steps).map((s) => {
    if (!Number.isInteger(s)) throw new FewstepError(`--steps: ${s} is not an integer`);
    return s;
  });
  // a distilled student is scored against the mixture it was distilled on (recorded in its checkpoint)
  const recorded = flags.model !== undefined ? await recordedMixture(flags.model as string, flags.mixture as string | undefined) : undefined;
  const mixtureName = recorded?.name ?? (flags.mixture as string | undefined) ?? "ring2d";
  const mixture = recorded ? new GaussianMixture(recorded.spec) : loadMixture(mixtureName);
  const source = flags.model !== undefined ? loadModelForSampling(flags.model as string, { w: ws, steps }) : undefined;
  if (source && source.exampleShape.join() !== String(mixture.dim)) throw new FewstepError(`--model takes examples of shape [${source.exampleShape}] but --mixture ${mixtureName} has ${mixture.dim}`);
  const outDir = flags["out-dir"] as string | undefined;
  if (outDir && !existsSync(outDir)) mkdirSync(outDir, { recursive: true });
  const label = source ? `model ${flags.model}` : `exact teacher`;
  const sampler = flags.sampler as SamplerName;
  const referenceSampler = (flags.reference as SamplerName | undefined) ?? sampler;
  const n = flags.n as number;
  const seed = flags.seed as number;
  console.error(`fewstep eval-mixture: ${label}, ${sampler} on ${mixtureName}, n = ${n}, reference: exact teacher DDIM-1024 (mean distance), ${referenceSampler}-1024 (sliced W1)`);
  const started = performance.now();
  const references = referenceSamples(mixture, ws, { n, seed });
  const limits = referenceSampler === "ddim" ? references : referenceSamples(mixture, ws, { n, seed, referenceSampler });
  try {
    const floor = noiseFloor(mixture, ws, { n, seed, referenceSampler, references: limits });
    const cells = ddimErrorTable(source?.model ?? mixture, mixture, {
      ws,
      steps,
      n,
      seed,
      sampler,
      references,
      referenceSampler,
      limitReferences: limits,
      guidance: source?.guidance ?? "teacher",
      modelDType: source?.dtype ?? "float64",
      onCell: (c) => console.error(`  w = ${c.w}  N = ${c.steps}: mean distance ${c.meanDistance.toPrecision(4)}, sliced W1 ${c.slicedW1.toPrecision(4)}`),
    });
    // a stochastic sample is not a function of z_1, so its paired distance measures nothing
    const pairedNote = sampler === "ddim" ? "" : `(${sampler} adds fresh noise: its samples are not a function of z_1, so this paired distance says nothing about quality; read the sliced W1 table)\n\n`;
    const meanTitle = `Mean distance to the exact teacher's DDIM-1024 samples from the same noise and labels`;
    const swTitle = `Sliced W1 to the exact teacher's ${referenceSampler}-1024 samples${referenceSampler === "ddim" ? "" : " (drawn with their own noise and labels)"}; noise floor: two independent draws of that limit at n = ${n}`;
    const markdown = `${meanTitle}\n\n${pairedNote}${errorTableMarkdown(cells)}\n\n${swTitle}\n\n${errorTableMarkdown(cells, "N \\ w", "slicedW1", [{ label: "noise floor", values: floor }])}`;
    console.log(markdown);
    console.error(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (outDir) {
      writeFileSync(join(outDir, "table.md"), `${label}, ${sampler}, ${mixtureName}, n = ${n}, seed ${seed}\n\n${markdown}\n`);
      writeFileSync(
        join(outDir, "table.json"),
        JSON.stringify({ mixture: mixtureName, model: flags.model ?? null, sampler, referenceSampler, n, seed, noiseFloor: Object.fromEntries(floor), cells }, null, 2),
      );
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
          sampler,
        })),
        ws,
        { n: flags.n as number, seed: flags.seed as number, size: 320 },
      );
      console.error(`wrote ${outDir}/table.md, table.json${mixture.dim === 2 ? " and scatter-w*.png" : ""}`);
    }
  } finally {
    for (const t of new Set([...references.values(), ...limits.values()])) t.dispose();
    source?.dispose();
    mixture.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: evalMixtureSpec, run: runEvalMixture };

/**
 * The mixture a distilled checkpoint records (metadata.distill.data), checked against --mixture
 * when both are there; undefined for a checkpoint that records none (a teacher, an older student).
 */
async function recordedMixture(modelPath: string, given: string | undefined): Promise<{ name: string; spec: import("../../diffusion/mixture.js").MixtureSpec } | undefined> {
  const { readDistillMetadata, sameData } = await import("../../distill/metadata.js");
  const recorded = readDistillMetadata(modelPath)?.data;
  if (!recorded) return undefined;
  if (recorded.kind !== "mixture") throw new FewstepError(`--model ${modelPath} was distilled on image data (--data ${recorded.spec}); eval-mixture scores vector models against a mixture's exact teacher`);
  if (given !== undefined) {
    const { loadMixture } = await import("../../diffusion/mixture.js");
    const m = loadMixture(given);
    const same = sameData({ kind: "mixture", name: given, spec: m.spec }, recorded);
    m.dispose();
    if (!same) throw new FewstepError(`--mixture ${given}: ${modelPath} was distilled on --mixture ${recorded.name}; leave --mixture out to score it against the exact teacher of its own data`);
  }
  return { name: recorded.name, spec: recorded.spec };
}
