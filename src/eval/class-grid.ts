// Sample grids of an image model: rows are classes, columns are seeds, one block of columns per
// guidance weight w, every block from the same noise (so the columns show what w changes).
// Used for the teacher's grids every K steps and by `fewstep sample --out grid.png`.
import { cat, Generator, noGrad, randn, tensor, tidy, type Tensor } from "../engine/index.js";
import type { CondDenoiser } from "../diffusion/denoiser.js";
import { denoiserOf } from "../diffusion/parameterization.js";
import { sampleGuided, type SamplerName } from "../diffusion/sample.js";
import { join } from "node:path";
import { loadModel } from "../io/load-model.js";
import { openCheckpointLatentSpace } from "../latent/latent-space.js";
import { saveImageGrid } from "./image-grid.js";

export interface ClassGridOptions {
  /** Shape of one image [C, H, W]. */
  exampleShape: number[];
  numClasses: number;
  /** "teacher": guidance combines two predictions; "input": a distilled student takes w. */
  guidance: "teacher" | "input";
  ws: number[];
  /** Columns per w. @default 8 */
  seedsPerClass?: number;
  steps: number;
  /** @default "ddim" */
  sampler?: SamplerName;
  /** Seed of the noise (and of a stochastic sampler's noise). @default 0 */
  seed?: number;
  title?: string;
  /** Latent models: latents -> images (latent/latent-space.ts), applied to each w block before display. */
  decode?: (latents: Tensor) => Tensor;
}

/** The noise of a grid column j (the same for every class and w): [seeds, C, H, W]. */
export function gridNoise(exampleShape: number[], seeds: number, seed: number): Tensor {
  return randn([seeds, ...exampleShape], new Generator(seed));
}

/**
 * The inputs of a class grid: noise [K * seeds, C, H, W] where column j of every class row uses
 * gridNoise's j-th draw, and labels [K * seeds] = floor(i / seeds) (class-major order).
 */
export function classGridInputs(exampleShape: number[], numClasses: number, seeds: number, seed: number): { z: Tensor; labels: Tensor } {
  return tidy(() => ({
    z: gridNoise(exampleShape, seeds, seed).repeat([numClasses, ...exampleShape.map(() => 1)]),
    labels: tensor(BigInt64Array.from({ length: numClasses * seeds }, (_, i) => BigInt(Math.floor(i / seeds)))),
  }));
}

/** Samples the grid: x [classes * ws * seeds, C, H, W] in row-major display order. */
export function sampleClassGrid(model: CondDenoiser, o: ClassGridOptions): Tensor {
  const S = o.seedsPerClass ?? 8;
  const K = o.numClasses;
  return tidy(() =>
    noGrad(() => {
      const { z, labels } = classGridInputs(o.exampleShape, K, S, o.seed ?? 0);
      const images = o.ws.map((w) => {
        const x = sampleGuided(model, z, { sampler: o.sampler ?? "ddim", steps: o.steps, w, guidance: o.guidance, cond: { labels }, seed: o.seed ?? 0 });
        return o.decode ? o.decode(x) : x;
      });
      const shape = images[0].shape.slice(1);
      const blocks = images.map((x) => x.reshape([K, S, ...shape]));
      // [K, ws * S, C, H, W]: each class row holds its w blocks side by side
      return blocks.length === 1 ? blocks[0].reshape([K * S, ...shape]) : cat(blocks, 1).reshape([K * o.ws.length * S, ...shape]);
    }),
  );
}

/** Samples a class grid and writes it as a PNG with class and w labels. */
export function writeClassGrid(path: string, model: CondDenoiser, o: ClassGridOptions & { classNames?: string[] }): void {
  const S = o.seedsPerClass ?? 8;
  const x = sampleClassGrid(model, o);
  try {
    const columnLabels = o.ws.flatMap((w) => Array.from({ length: S }, (_, j) => (j === 0 ? `w=${w}` : "")));
    const rowLabels = Array.from({ length: o.numClasses }, (_, c) => o.classNames?.[c] ?? String(c));
    saveImageGrid(path, tidy(() => x.to("float32").data() as Float32Array), x.shape, { columns: o.ws.length * S, rowLabels, columnLabels, title: o.title });
  } finally {
    x.dispose();
  }
}

/** Steps a stage-one student is sampled with in its grid (it was distilled for any N). */
export const STAGE_ONE_GRID_STEPS = 16;

/**
 * One class grid per student checkpoint (stage one: DDIM-16; stage two: its own N), all ws side by
 * side, written as <outDir>/grid-stage-one.png and grid-student-N<N>.png.
 * @returns the paths written
 */
export function writeStudentGrids(outDir: string, students: { steps: number | null; path: string }[], ws: number[], classNames?: string[]): string[] {
  return students.map(({ steps, path }) => {
    const model = loadModel(path);
    const latent = openCheckpointLatentSpace(path);
    try {
      const out = join(outDir, steps === null ? "grid-stage-one.png" : `grid-student-N${steps}.png`);
      const n = steps ?? STAGE_ONE_GRID_STEPS;
      writeClassGrid(out, denoiserOf(model), {
        exampleShape: model.exampleShape,
        numClasses: model.config.numClasses,
        guidance: "input",
        ws,
        seedsPerClass: 6,
        steps: n,
        title: `${steps === null ? "stage-one student" : `student N=${steps}`}, DDIM ${n} steps; rows: classes, columns: seeds per w`,
        classNames,
        decode: latent?.decode,
      });
      return out;
    } finally {
      latent?.dispose();
      model.dispose();
    }
  });
}
