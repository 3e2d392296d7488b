// Scatter plots that compare samplers on a 2-D mixture: the exact teacher's DDIM-1024 samples
// beside any list of (model, sampler, N) from the same noise and labels, one PNG per w.
// Used by `eval-mixture`, the distill commands and the quick start.
import { join } from "node:path";
import { tidy, type Tensor } from "../engine/index.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import type { GaussianMixture } from "../diffusion/mixture.js";
import { sampleGuided, type SamplerName } from "../diffusion/sample.js";
import { loadMlpDenoiser } from "../io/load-model.js";
import { samplerNoiseSeed, tableInputs } from "./ddim-error.js";
import { saveScatterPng, type ScatterPanel } from "./scatter-plot.js";

/** One panel beside the reference: a model sampled with `sampler` at `steps`. */
export interface ComparedSampler {
  title: string;
  model: CondDenoiser;
  /** "teacher": guidance combines two predictions; "input": the model takes w. */
  guidance: "teacher" | "input";
  dtype: "float32" | "float64";
  steps: number;
  sampler: SamplerName;
}

export interface ComparisonPlotOptions {
  /** @default 1000 */
  n?: number;
  /** Seed of noise and labels (a stochastic sampler's noise: samplerNoiseSeed(seed)). @default 0 */
  seed?: number;
  /** File name prefix: `<prefix><w>.png`. @default "scatter-w" */
  prefix?: string;
  /** Panel size in pixels. @default 240 */
  size?: number;
  /** Reference samples by w, when already computed. @default computed here (DDIM-1024) */
  references?: Map<number, Tensor>;
}

/** Writes one PNG per w (2-D mixtures only) and returns the file names (without outDir). */
export function writeComparisonPlots(outDir: string, mixture: GaussianMixture, panels: ComparedSampler[], ws: number[], opts: ComparisonPlotOptions = {}): string[] {
  if (mixture.dim !== 2) return [];
  const seed = opts.seed ?? 0;
  const files: string[] = [];
  for (const w of ws) {
    tidy(() => {
      const { z, labels } = tableInputs(mixture, opts.n ?? 1000, seed);
      const labelValues = labels.toNumbers();
      const points = (t: Tensor) => t.to("float64").data() as Float64Array;
      const sample = (p: Omit<ComparedSampler, "title">) =>
        sampleGuided(p.model, z.to(p.dtype), { sampler: p.sampler, steps: p.steps, w, guidance: p.guidance, cond: { labels }, seed: samplerNoiseSeed(seed) });
      const reference = opts.references?.get(w) ?? sample({ model: mixture, guidance: "teacher", dtype: "float64", steps: 1024, sampler: "ddim" });
      const drawn: ScatterPanel[] = [{ title: "Exact teacher DDIM-1024", points: points(reference), labels: labelValues }];
      for (const p of panels) drawn.push({ title: p.title, points: points(sample(p)), labels: labelValues });
      const file = `${opts.prefix ?? "scatter-w"}${w}.png`;
      saveScatterPng(join(outDir, file), drawn, { size: opts.size ?? 240 });
      files.push(file);
    });
  }
  return files;
}

/**
 * Plots of a distillation run: each student checkpoint at the N it was distilled for (a stage-one
 * student, N null, with 16 DDIM steps). Returns the files written, with outDir.
 */
export function writeStudentPlots(outDir: string, mixture: GaussianMixture, students: { steps: number | null; path: string }[], ws: number[], opts: ComparisonPlotOptions = {}): string[] {
  const models = students.map((s) => ({ ...s, model: loadMlpDenoiser(s.path) }));
  try {
    const panels: ComparedSampler[] = models.map(({ steps, model }) => ({
      title: steps === null ? "Stage one, DDIM-16" : `Student ${steps} step${steps > 1 ? "s" : ""}`,
      model: denoiserOf(model),
      guidance: "input",
      dtype: "float32",
      steps: steps ?? 16,
      sampler: "ddim",
    }));
    return writeComparisonPlots(outDir, mixture, panels, ws, { prefix: "samples-w", ...opts }).map((f) => join(outDir, f));
  } finally {
    for (const m of models) m.model.dispose();
  }
}
