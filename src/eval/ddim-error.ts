// The exact-teacher error table (DESIGN.md section 5): for each guidance weight w and step count
// N, the mean per-sample distance between a model's N-step samples and the exact mixture
// teacher's 1024-step DDIM samples from the same noise z_1 and labels.
import { Generator, keep, randn, tidy, type Tensor } from "../engine/index.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import type { GaussianMixture } from "../diffusion/mixture.js";
import { sampleGuided, type SamplerName } from "../diffusion/sample.js";
import { meanDistance, slicedWasserstein } from "./vector-metrics.js";

export interface ErrorTableOptions {
  ws: number[];
  steps: number[];
  /** Number of (noise, label) pairs. @default 1000 */
  n?: number;
  /** @default 0 */
  seed?: number;
  /** Steps of the reference map. @default 1024 */
  referenceSteps?: number;
  /** @default "ddim" */
  sampler?: SamplerName;
  /** "teacher": the model is guided by combining two predictions; "input": w goes in as cond.w. @default "teacher" */
  guidance?: "teacher" | "input";
  /** Reference samples by w, computed once by referenceSamples() and shared across models. @default computed here */
  references?: Map<number, Tensor>;
  /** Precision the scored model runs in (trained models: float32). @default "float64" */
  modelDType?: "float32" | "float64";
  onCell?: (cell: ErrorCell) => void;
}

export interface ErrorCell {
  w: number;
  steps: number;
  /** mean_i ||x_i - x_ref,i||: paired, so it only makes sense for deterministic samplers. */
  meanDistance: number;
  /** Sliced W1 between the samples and the reference samples: a distribution distance, fair to stochastic samplers too. */
  slicedW1: number;
}

/** Fixed noise and labels for the table: the same for every model compared. */
export function tableInputs(mixture: GaussianMixture, n: number, seed: number): { z: Tensor; labels: Tensor } {
  return tidy(() => {
    const generator = new Generator(seed);
    const z = randn([n, mixture.dim], generator, { dtype: "float64" });
    const { labels } = mixture.sample(n, generator);
    return { z, labels };
  });
}

/** The exact teacher's guided DDIM samples (referenceSteps, default 1024) for each w, from tableInputs(n, seed). */
export function referenceSamples(mixture: GaussianMixture, ws: number[], opts: { n?: number; seed?: number; referenceSteps?: number } = {}): Map<number, Tensor> {
  const { z, labels } = tableInputs(mixture, opts.n ?? 1000, opts.seed ?? 0);
  const out = new Map(ws.map((w) => [w, keep(sampleGuided(mixture, z, { sampler: "ddim", steps: opts.referenceSteps ?? 1024, w, cond: { labels } }))]));
  z.dispose();
  labels.dispose();
  return out;
}

/** Mean distance of `model`'s samples to the exact teacher's reference map, per (w, N). */
export function ddimErrorTable(model: CondDenoiser, mixture: GaussianMixture, opts: ErrorTableOptions): ErrorCell[] {
  const n = opts.n ?? 1000;
  const { z, labels } = tableInputs(mixture, n, opts.seed ?? 0);
  const cells: ErrorCell[] = [];
  for (const w of opts.ws) {
    const given = opts.references?.get(w);
    const reference = given ?? keep(sampleGuided(mixture, z, { sampler: "ddim", steps: opts.referenceSteps ?? 1024, w, cond: { labels } }));
    for (const steps of opts.steps) {
      const distance = tidy(() => {
        const x = sampleGuided(model, z.to(opts.modelDType ?? "float64"), {
          sampler: opts.sampler ?? "ddim",
          steps,
          w,
          guidance: opts.guidance,
          cond: { labels },
          seed: opts.seed,
        });
        return [meanDistance(x, reference), slicedWasserstein(x, reference, { projections: 128 })];
      });
      const cell = { w, steps, meanDistance: distance[0], slicedW1: distance[1] };
      cells.push(cell);
      opts.onCell?.(cell);
    }
    if (!given) reference.dispose();
  }
  z.dispose();
  labels.dispose();
  return cells;
}

/** The table as Markdown: rows N, columns w. */
export function errorTableMarkdown(cells: ErrorCell[], title = "N \\ w"): string {
  const ws = [...new Set(cells.map((c) => c.w))];
  const steps = [...new Set(cells.map((c) => c.steps))];
  const value = (w: number, s: number) => cells.find((c) => c.w === w && c.steps === s)?.meanDistance;
  return [
    `| ${title} | ${ws.map((w) => `w = ${w}`).join(" | ")} |`,
    `| --- | ${ws.map(() => "---").join(" | ")} |`,
    ...steps.map((s) => `| ${s} | ${ws.map((w) => formatDistance(value(w, s))).join(" | ")} |`),
  ].join("\n");
}

function formatDistance(v: number | undefined): string {
  if (v === undefined) return "-";
  return v >= 0.01 ? v.toFixed(4) : v.toExponential(2);
}
