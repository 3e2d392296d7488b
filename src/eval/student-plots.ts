// Scatter plots of a distillation run for a 2-D mixture: the exact teacher's DDIM-1024 samples
// beside each student's N-step samples, from the same noise and labels, one PNG per w.
import { join } from "node:path";
import { tidy, type Tensor } from "../engine/index.js";
import type { GaussianMixture } from "../diffusion/mixture.js";
import { sampleGuided } from "../diffusion/sample.js";
import { loadMlpDenoiser } from "../io/load-mlp-denoiser.js";
import { tableInputs } from "./ddim-error.js";
import { saveScatterPng, type ScatterPanel } from "./scatter-plot.js";

/**
 * Writes `samples-w<w>.png` in outDir for each w: reference | student N=... (deterministic).
 * @param students checkpoint path by the N it was distilled for (null N: a stage-one student, sampled with 16 steps)
 * @returns the files written
 */
export function writeStudentPlots(outDir: string, mixture: GaussianMixture, students: { steps: number | null; path: string }[], ws: number[], opts: { n?: number; seed?: number } = {}): string[] {
  if (mixture.dim !== 2) return [];
  const files: string[] = [];
  for (const w of ws) {
    tidy(() => {
      const { z, labels } = tableInputs(mixture, opts.n ?? 1000, opts.seed ?? 0);
      const labelValues = labels.toNumbers();
      const points = (t: Tensor) => t.to("float64").data() as Float64Array;
      const panels: ScatterPanel[] = [
        { title: "Exact teacher DDIM-1024", points: points(sampleGuided(mixture.denoiser, z, { sampler: "ddim", steps: 1024, w, nullLabel: mixture.nullLabel, labels })), labels: labelValues },
      ];
      for (const student of students) {
        const model = loadMlpDenoiser(student.path);
        const steps = student.steps ?? 16;
        panels.push({
          title: student.steps === null ? "Stage one, DDIM-16" : `Student ${steps} step${steps > 1 ? "s" : ""}`,
          points: points(sampleGuided(model.denoiser, z.to("float32"), { sampler: "ddim", steps, w, guidance: "input", nullLabel: mixture.nullLabel, labels })),
          labels: labelValues,
        });
        model.dispose();
      }
      const file = join(outDir, `samples-w${w}.png`);
      saveScatterPng(file, panels, { size: 240 });
      files.push(file);
    });
  }
  return files;
}
