// The exact-teacher error table (DESIGN.md section 5): for each guidance weight w and step count
// N, the mean per-sample distance between a model's N-step samples and the exact mixture
// teacher's 1024-step DDIM samples from the same noise z_1 and labels, and the sliced W1 to the
// limit of a chosen sampler (the exact teacher with that sampler at 1024 steps).
// With guidance (w > 0) a stochastic and a deterministic sampler of the same guided x-hat have
// different limits (x-hat^w is not the score of one distribution), so a stochastic sampler is
// scored against its own limit, drawn with its own noise, not against DDIM-1024.
import { Generator, keep, randn, tidy, type Tensor } from "../engine/index.js";
import { ConfigError } from "../engine/errors.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import type { GaussianMixture } from "../diffusion/mixture.js";
import { sampleGuided, type SamplerName } from "../diffusion/sample.js";
import { meanDistance, slicedWasserstein } from "./vector-metrics.js";

/** Random directions of the table's sliced W1 (and of its noise floor, which must use the same). */
export const SLICED_PROJECTIONS = 128;

export interface ReferenceOptions {
  /** Number of (noise, label) pairs. @default 1000 */
  n?: number;
  /** Seed of the table's noise and labels. @default 0 */
  seed?: number;
  /** Steps of the reference sampler. @default 1024 */
  referenceSteps?: number;
  /** Sampler whose limit the references are: "ddim" (paired with the scored samples) or a stochastic one (drawn apart, see referenceSeed). @default "ddim" */
  referenceSampler?: SamplerName;
}

export interface ErrorTableOptions extends ReferenceOptions {
  ws: number[];
  steps: number[];
  /** @default "ddim" */
  sampler?: SamplerName;
  /** "teacher": the model is guided by combining two predictions; "input": w goes in as cond.w. @default "teacher" */
  guidance?: "teacher" | "input";
  /** DDIM reference samples by w (paired, for meanDistance; and for slicedW1 when referenceSampler is "ddim"), computed once by referenceSamples() and shared across models. @default computed here */
  references?: Map<number, Tensor>;
  /** The referenceSampler's limit samples by w, from referenceSamples(..., { referenceSampler }), when it is not "ddim". @default computed here */
  limitReferences?: Map<number, Tensor>;
  /** Precision the scored model runs in (trained models: float32). @default "float64" */
  modelDType?: "float32" | "float64";
  onCell?: (cell: ErrorCell) => void;
}

export interface ErrorCell {
  w: number;
  steps: number;
  /** mean_i ||x_i - x_ref,i|| to the DDIM reference from the same z and labels: paired, so it only makes sense for deterministic samplers. */
  meanDistance: number;
  /** Sliced W1 between the samples and the referenceSampler's limit: a distribution distance, fair to stochastic samplers too. */
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

/**
 * Seed of the noise a stochastic sampler adds to samples whose z came from Generator(seed): not
 * that seed itself, whose first draw is z (the first added noise would then equal z_1, which
 * makes the stochastic 2-step sampler exactly DDIM-2), nor a small seed such as the reference's
 * seed + 1 (`fewstep sample`'s seed * 65536 + 1 is 1 at seed 0, which would make the scored noise
 * the reference's z_1). libtorch's CPU generator keeps only a seed's low 32 bits, so no offset
 * beyond 2^32 would help.
 */
export function samplerNoiseSeed(seed: number): number {
  return seed * 65_536 + 32_768;
}

/**
 * Seed of the reference draws for a table drawn with `seed`: DDIM's reference is paired with the
 * scored samples (same z and labels); a stochastic sampler's limit is drawn from seed + 1 (its own
 * z, labels and added noise), else a stochastic model and its reference would share noise.
 */
export function referenceSeed(seed: number, sampler: SamplerName): number {
  return sampler === "ddim" ? seed : seed + 1;
}

/** The exact teacher's guided samples with `sampler` at `steps` for each w: z and labels from tableInputs(n, seed), added noise from samplerNoiseSeed(seed). */
function exactSamples(mixture: GaussianMixture, ws: number[], sampler: SamplerName, steps: number, n: number, seed: number): Map<number, Tensor> {
  const { z, labels } = tableInputs(mixture, n, seed);
  try {
    return new Map(ws.map((w) => [w, keep(sampleGuided(mixture, z, { sampler, steps, w, cond: { labels }, seed: samplerNoiseSeed(seed) }))]));
  } finally {
    z.dispose();
    labels.dispose();
  }
}

/**
 * The limit of `referenceSampler` (default DDIM) for each w: the exact teacher (float64, guided by
 * combining two predictions) with that sampler at referenceSteps (default 1024). DDIM: from
 * tableInputs(n, seed), paired with the table; others: drawn from referenceSeed(seed, sampler).
 */
export function referenceSamples(mixture: GaussianMixture, ws: number[], opts: ReferenceOptions = {}): Map<number, Tensor> {
  const sampler = opts.referenceSampler ?? "ddim";
  return exactSamples(mixture, ws, sampler, opts.referenceSteps ?? 1024, opts.n ?? 1000, referenceSeed(opts.seed ?? 0, sampler));
}

/**
 * The noise floor of the table's sliced W1 at n, per w: the distance between two independent draws
 * of referenceSampler's limit (the reference, and a draw from seed + 2 with its own noise and
 * labels). A score near it is as close to the limit as n samples can tell. `references` (the
 * reference draws for the same options) saves drawing them again.
 */
export function noiseFloor(mixture: GaussianMixture, ws: number[], opts: ReferenceOptions & { references?: Map<number, Tensor> } = {}): Map<number, number> {
  const sampler = opts.referenceSampler ?? "ddim";
  const n = opts.n ?? 1000;
  const seed = opts.seed ?? 0;
  const reference = opts.references ?? referenceSamples(mixture, ws, opts);
  const other = exactSamples(mixture, ws, sampler, opts.referenceSteps ?? 1024, n, seed + 2);
  try {
    return new Map(
      ws.map((w) => {
        const r = reference.get(w);
        if (!r) throw new ConfigError(`noiseFloor: no reference samples for w = ${w}; pass references drawn for every w or leave them out`);
        return [w, slicedWasserstein(r, other.get(w)!, { projections: SLICED_PROJECTIONS })];
      }),
    );
  } finally {
    for (const t of other.values()) t.dispose();
    if (!opts.references) for (const t of reference.values()) t.dispose();
  }
}

/** Mean distance to the exact teacher's DDIM map and sliced W1 to referenceSampler's limit of `model`'s samples, per (w, N). */
export function ddimErrorTable(model: CondDenoiser, mixture: GaussianMixture, opts: ErrorTableOptions): ErrorCell[] {
  const n = opts.n ?? 1000;
  const seed = opts.seed ?? 0;
  const referenceSteps = opts.referenceSteps ?? 1024;
  const referenceSampler = opts.referenceSampler ?? "ddim";
  const { z, labels } = tableInputs(mixture, n, seed);
  const cells: ErrorCell[] = [];
  for (const w of opts.ws) {
    const given = opts.references?.get(w);
    const reference = given ?? referenceSamples(mixture, [w], { n, seed, referenceSteps }).get(w)!;
    const givenLimit = referenceSampler === "ddim" ? reference : opts.limitReferences?.get(w);
    const limit = givenLimit ?? referenceSamples(mixture, [w], { n, seed, referenceSteps, referenceSampler }).get(w)!;
    for (const steps of opts.steps) {
      const distance = tidy(() => {
        const x = sampleGuided(model, z.to(opts.modelDType ?? "float64"), {
          sampler: opts.sampler ?? "ddim",
          steps,
          w,
          guidance: opts.guidance,
          cond: { labels },
          seed: samplerNoiseSeed(seed),
        });
        return [meanDistance(x, reference), slicedWasserstein(x, limit, { projections: SLICED_PROJECTIONS })];
      });
      const cell = { w, steps, meanDistance: distance[0], slicedW1: distance[1] };
      cells.push(cell);
      opts.onCell?.(cell);
    }
    if (!given) reference.dispose();
    if (!givenLimit) limit.dispose();
  }
  z.dispose();
  labels.dispose();
  return cells;
}

/** The table as Markdown: rows N, columns w; `metric` picks the cell's value. */
export function errorTableMarkdown(cells: ErrorCell[], title = "N \\ w", metric: "meanDistance" | "slicedW1" = "meanDistance", extraRows: { label: string; values: Map<number, number> }[] = []): string {
  const ws = [...new Set(cells.map((c) => c.w))];
  const steps = [...new Set(cells.map((c) => c.steps))];
  const value = (w: number, s: number) => cells.find((c) => c.w === w && c.steps === s)?.[metric];
  return [
    `| ${title} | ${ws.map((w) => `w = ${w}`).join(" | ")} |`,
    `| --- | ${ws.map(() => "---").join(" | ")} |`,
    ...steps.map((s) => `| ${s} | ${ws.map((w) => formatDistance(value(w, s))).join(" | ")} |`),
    ...extraRows.map((r) => `| ${r.label} | ${ws.map((w) => formatDistance(r.values.get(w))).join(" | ")} |`),
  ].join("\n");
}

function formatDistance(v: number | undefined): string {
  if (v === undefined) return "-";
  return v >= 0.01 ? v.toFixed(4) : v.toExponential(2);
}
