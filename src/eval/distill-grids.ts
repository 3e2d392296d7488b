// The pixel-space comparison of issue 5: for each w, one PNG whose rows are the guided teacher
// with DDIM at several N (2 calls per step) and the distilled students at their own N, each with
// deterministic DDIM and the paper's stochastic sampler, all from the same noise and labels;
// columns are classes x seeds. Rows can be compared by eye column by column.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cat, noGrad, tidy, type Tensor } from "../engine/index.js";
import { FewstepError } from "../engine/errors.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { sampleGuided } from "../diffusion/sample.js";
import { loadModel } from "../io/load-model.js";
import { disposeCheckpoint, loadCheckpoint } from "../io/checkpoint.js";
import { latentRecordOf } from "../io/latent-record.js";
import { openCheckpointLatentSpace } from "../latent/latent-space.js";
import type { DenoiserModel } from "../nn/model.js";
import { classGridInputs } from "./class-grid.js";
import { saveImageGrid } from "./image-grid.js";

export interface DistillGridOptions {
  teacherPath: string;
  /** The stage-two run folder with student-N<N>.safetensors. */
  runDir: string;
  ws: number[];
  /** @default [8, 16, 32, 64, 128, 256] */
  teacherSteps?: number[];
  /** @default [1, 2, 4, 8] */
  studentSteps?: number[];
  /** Columns per class. @default 2 */
  seedsPerClass?: number;
  /** @default 0 */
  seed?: number;
  classNames?: string[];
  /** Called after each row, for progress. */
  onRow?: (label: string, w: number) => void;
}

/**
 * Writes <outDir>/compare-w<w>.png for each w; returns the paths.
 * @throws FewstepError naming a missing student checkpoint
 */
export function writeDistillGrids(outDir: string, o: DistillGridOptions): string[] {
  const teacherSteps = o.teacherSteps ?? [8, 16, 32, 64, 128, 256];
  const studentSteps = o.studentSteps ?? [1, 2, 4, 8];
  const S = o.seedsPerClass ?? 2;
  for (const n of studentSteps) {
    const path = join(o.runDir, `student-N${n}.safetensors`);
    if (!existsSync(path)) throw new FewstepError(`no student for N=${n}: ${path} is missing; run \`fewstep distill stage-two\` down to N=${Math.min(...studentSteps)} or pass --student-steps`);
  }
  const teacher = loadModel(o.teacherPath, { wInput: false });
  const models: DenoiserModel[] = [teacher];
  // a latent teacher's rows are decoded through its autoencoder; its students must share it
  const latent = openCheckpointLatentSpace(o.teacherPath);
  try {
    const students = studentSteps.map((n) => {
      const path = join(o.runDir, `student-N${n}.safetensors`);
      const m = loadModel(path);
      models.push(m);
      checkSameLatentSpace(path, latent?.record.autoencoder.sha256 ?? null, o.teacherPath);
      return { n, model: m };
    });
    const K = teacher.config.numClasses;
    const shape = teacher.exampleShape;
    const rows: { label: string; run: (z: Tensor, labels: Tensor, w: number) => Tensor }[] = [
      ...teacherSteps.map((n) => ({ label: `teacher DDIM ${n}`, run: (z: Tensor, labels: Tensor, w: number) => sampleGuided(denoiserOf(teacher), z, { sampler: "ddim", steps: n, w, guidance: "teacher", cond: { labels } }) })),
      ...students.flatMap(({ n, model }) =>
        (["ddim", "stochastic"] as const).map((sampler) => ({
          label: `student N=${n} ${sampler === "ddim" ? "DDIM" : "stoch."}`,
          run: (z: Tensor, labels: Tensor, w: number) => sampleGuided(denoiserOf(model), z, { sampler, steps: n, w, guidance: "input", cond: { labels }, seed: o.seed ?? 0 }),
        })),
      ),
    ];
    return o.ws.map((w) => {
      const path = join(outDir, `compare-w${w}.png`);
      const x = tidy(() =>
        noGrad(() => {
          // column j = class floor(j / S), noise j % S: the same z in every row
          const { z, labels } = classGridInputs(shape, K, S, o.seed ?? 0);
          return cat(
            rows.map((row) => {
              const out = row.run(z, labels, w);
              o.onRow?.(row.label, w);
              return latent ? latent.decode(out) : out;
            }),
            0,
          );
        }),
      );
      try {
        const columnLabels = Array.from({ length: K * S }, (_, j) => (j % S === 0 ? (o.classNames?.[j / S] ?? String(j / S)).slice(0, 9) : ""));
        saveImageGrid(path, tidy(() => x.to("float32").data() as Float32Array), x.shape, {
          columns: K * S,
          rowLabels: rows.map((r) => r.label),
          columnLabels,
          title: `w = ${w}: guided teacher (DDIM, 2 calls per step) vs distilled students (1 call per step), same noise in every row`,
        });
      } finally {
        x.dispose();
      }
      return path;
    });
  } finally {
    for (const m of models) m.dispose();
    latent?.dispose();
  }
}

/** A student decoded with its teacher's autoencoder must have been distilled on that autoencoder's latents. */
function checkSameLatentSpace(studentPath: string, teacherSha: string | null, teacherPath: string): void {
  const checkpoint = loadCheckpoint(studentPath);
  try {
    const sha = latentRecordOf(checkpoint.metadata, studentPath)?.autoencoder.sha256 ?? null;
    if (sha !== teacherSha) {
      const what = (s: string | null) => (s === null ? "pixel space" : `the latents of autoencoder ${s.slice(0, 12)}...`);
      throw new FewstepError(`${studentPath} works in ${what(sha)} but the teacher ${teacherPath} in ${what(teacherSha)}; compare a student with its own teacher`);
    }
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
