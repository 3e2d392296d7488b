// `fewstep sample`: draws samples from an exact mixture teacher or a trained model with DDIM, the
// stochastic N-step sampler or ancestral DDPM, at guidance weight w, to a .npy file (or, for
// image models, a PNG grid). `--runtime onnx` samples an exported model on onnxruntime-node with
// the portable samplers (sample-onnx.ts) and never loads libtorch.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { checkMemory, sampleMemory } from "../../engine/bounds.js";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

/** --out, shared by both runtimes: the .npy or .png path (its folder must exist). */
export function checkSampleOut(flags: ParsedFlags): { out: string; png: boolean } {
  const out = flags.out as string | undefined;
  if (!out) throw new FewstepError("--out is required: the .npy file (or, for images, .png grid) to write");
  if (!existsSync(dirname(out))) throw new FewstepError(`--out: folder ${dirname(out)} does not exist`);
  return { out, png: out.toLowerCase().endsWith(".png") };
}

/** Where the noise and labels come from, shared by both runtimes: --noise/--labels or --n/--seed/--class. */
export function checkNoiseFlags(flags: ParsedFlags): void {
  if (flags.noise === undefined && flags.n === undefined) throw new FewstepError("give --noise z.npy (with --labels) or --n N (with --seed)");
  if (flags.noise !== undefined && flags.n !== undefined) throw new FewstepError("--n goes with --seed; with --noise the count comes from the file");
  if (flags.labels !== undefined && flags.class !== undefined) throw new FewstepError("give --labels or --class, not both");
}

export const sampleSpec: CommandSpec = {
  name: "sample",
  summary: "sample a guided teacher or a distilled student to a .npy file (images: or a PNG grid)",
  usage: "fewstep sample (--mixture NAME|spec.json | --model ckpt) --out x.npy|grid.png [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "exact Gaussian-mixture teacher: a built-in name (ring2d, gauss64d) or a JSON spec {means [C][K][D], stds [C][K], weights [C][K]}" },
    { name: "model", kind: "path", meta: "FILE", help: "a trained model checkpoint (.safetensors) instead of --mixture; with --runtime onnx, a model.onnx from `fewstep export`" },
    { name: "runtime", kind: "string", meta: "R", choices: ["torch", "onnx"], default: "torch", help: "torch: libtorch (every model and sampler); onnx: an exported .onnx on onnxruntime-node with the portable samplers (ddim, stochastic), no libtorch needed" },
    { name: "w", kind: "number", meta: "W", min: 0, default: 0, help: "guidance weight, paper's convention: (1 + w) x(z, c) - w x(z, null); a 'guidance scale' s is 1 + w" },
    { name: "steps", kind: "int", meta: "N", min: 1, default: 64, help: "number of sampling steps (model calls per sample; a teacher makes 2 per step when w > 0)" },
    { name: "sampler", kind: "string", meta: "NAME", choices: ["ddim", "stochastic", "ddpm"], default: "ddim", help: "ddim: deterministic (eq. 2); stochastic: the paper's N-step sampler; ddpm: ancestral" },
    { name: "noise", kind: "path", meta: "FILE", help: "initial noise z_1: .npy float32/float64 of shape [n, D] (vectors) or [n, C, H, W] (images)" },
    { name: "labels", kind: "path", meta: "FILE", help: "class labels: .npy int64 of shape [n] (with --noise)" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of the noise (without --noise) and of the noise stochastic samplers add" },
    { name: "n", kind: "int", meta: "N", min: 1, help: "number of samples (without --noise)" },
    { name: "class", kind: "int", meta: "K", min: 0, help: "class of every sample (without --labels: random labels otherwise)" },
    { name: "out", kind: "path", meta: "FILE", help: "output .npy of shape [n, ...example shape]; for image models a .png writes a grid instead" },
    { name: "columns", kind: "int", meta: "K", min: 1, default: 10, help: "images per row of a .png grid" },
    { name: "dtype", kind: "string", meta: "T", choices: ["float32", "float64"], default: "float32", help: "dtype of the output" },
    { name: "clip", kind: "number", meta: "C", min: 0, help: "clamp the final sample to [-C, C] (never the intermediate x-hats)" },
  ],
  examples: [
    "fewstep sample --mixture ring2d --w 2 --steps 64 --sampler ddim --seed 0 --n 1000 --out x.npy",
    "fewstep sample --mixture spec.json --w 2 --steps 64 --sampler ddim --noise z.npy --labels c.npy --out x.npy",
    "fewstep sample --model runs/teacher/teacher.safetensors --w 1 --steps 256 --n 500 --class 2 --out x.npy",
    "fewstep sample --model models/fashion-mnist/student-N4.safetensors --w 2 --steps 4 --n 40 --out grid.png",
    "fewstep sample --runtime onnx --model student-N4.onnx --w 2 --steps 4 --n 40 --out grid.png",
  ],
};

export async function runSample(flags: ParsedFlags): Promise<void> {
  if (flags.runtime === "onnx") {
    const { runSampleOnnx } = await import("./sample-onnx.js"); // lazy: this path must not load libtorch
    return runSampleOnnx(flags);
  }
  if (typeof flags.model === "string" && flags.model.toLowerCase().endsWith(".onnx")) {
    throw new FewstepError(`--model ${flags.model} is an ONNX model: sample it with --runtime onnx`);
  }
  const { Generator, full, randint, randn, tidy } = await import("../../engine/index.js");
  const { loadMixture } = await import("../../diffusion/mixture.js");
  const { sampleGuided } = await import("../../diffusion/sample.js");
  const { loadNpy, saveNpy } = await import("../../io/npy.js");
  const { toTypedArray } = await import("../../io/host-array.js");
  const { fromHost, toHost } = await import("../../io/tensor-bridge.js");
  const { loadModelForSampling } = await import("../model-loading.js");

  const fail = (message: string): never => {
    throw new FewstepError(message);
  };
  const { out, png } = checkSampleOut(flags);
  if (flags.mixture === undefined && flags.model === undefined) fail("give --mixture (an exact teacher) or --model (a checkpoint)");
  if (flags.mixture !== undefined && flags.model !== undefined) fail("give --mixture or --model, not both");
  checkNoiseFlags(flags);

  const w = flags.w as number;
  const steps = flags.steps as number;
  const seed = flags.seed as number;
  const source =
    flags.mixture !== undefined
      ? (() => {
          const mixture = loadMixture(flags.mixture as string);
          return { model: mixture, exampleShape: mixture.exampleShape, numClasses: mixture.numClasses, dtype: "float64" as const, guidance: "teacher" as const, dispose: () => mixture.dispose() };
        })()
      : loadModelForSampling(flags.model as string, { w, steps });

  try {
    const x = tidy(() => {
      const generator = new Generator(seed);
      let z;
      if (flags.noise !== undefined) {
        const host = readNpy(loadNpy, flags.noise as string, "--noise");
        if (host.dtype !== "float32" && host.dtype !== "float64") fail(`--noise: ${flags.noise} holds ${host.dtype}; it must be float32 or float64`);
        if (host.shape.slice(1).join() !== source.exampleShape.join()) fail(`--noise: ${flags.noise} has shape [${host.shape}] but the model needs [n, ${source.exampleShape}]`);
        const values = toTypedArray(host as typeof host & { dtype: "float32" | "float64" });
        const bad = values.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) fail(`--noise: ${flags.noise} holds ${values[bad]} at flat index ${bad}; noise must be finite`);
        z = fromHost(host).to(source.dtype);
      } else {
        const n = flags.n as number;
        checkMemory(sampleMemory(n, source.exampleShape, source.dtype === "float64" ? 8 : 4), `sampling --n ${n} of [${source.exampleShape}]`, "--n");
        z = randn([n, ...source.exampleShape], generator, { dtype: source.dtype });
      }
      const n = z.shape[0];
      let labels;
      if (flags.labels !== undefined) {
        const host = readNpy(loadNpy, flags.labels as string, "--labels");
        if (host.dtype !== "int64") fail(`--labels: ${flags.labels} holds ${host.dtype}; it must be int64 (numpy: labels.astype(np.int64))`);
        if (host.shape.length !== 1 || host.shape[0] !== n) fail(`--labels: ${flags.labels} has shape [${host.shape}] but the noise has ${n} rows: it must be [${n}]`);
        labels = fromHost(host);
        const bad = labels.toNumbers().find((c) => c < 0 || c >= source.numClasses);
        if (bad !== undefined) fail(`--labels: class ${bad} is not one of the model's classes 0..${source.numClasses - 1}`);
      } else if (flags.class !== undefined) {
        const k = flags.class as number;
        if (k >= source.numClasses) fail(`--class ${k} is not one of the model's classes 0..${source.numClasses - 1}`);
        labels = full([n], k, { dtype: "int64" });
      } else {
        labels = randint(0, source.numClasses, [n], generator);
      }
      const clip = flags.clip !== undefined ? ([-(flags.clip as number), flags.clip as number] as [number, number]) : undefined;
      const sample = sampleGuided(source.model, z, {
        sampler: flags.sampler as "ddim" | "stochastic" | "ddpm",
        steps,
        w,
        guidance: source.guidance,
        cond: { labels },
        // the sampler's added noise: its own stream, not the one z came from (the same
        // Generator(seed) would make the first added noise equal z)
        seed: seed * 65_536 + 1,
        clip,
      });
      return sample.to(flags.dtype as "float32" | "float64");
    });
    // Checked before writing, so a diverged sample leaves no output file behind.
    const values = x.data() as Float32Array | Float64Array;
    let nonFinite = 0;
    for (const v of values) if (!Number.isFinite(v)) nonFinite++;
    if (nonFinite > 0) {
      x.dispose();
      const what = flags.model !== undefined ? `--model ${flags.model}` : `--mixture ${flags.mixture}`;
      fail(`${nonFinite} of ${values.length} sample values came out NaN or Inf (${what} at --w ${w}): try a smaller --w, or check the model's weights; nothing written to ${out}`);
    }
    if (png) {
      if (x.ndim !== 4) fail(`--out ${out}: a PNG grid needs an image model; this one gives samples of shape [${x.shape.slice(1)}]: write a .npy`);
      const { saveImageGrid } = await import("../../eval/image-grid.js");
      const columns = flags.columns as number;
      saveImageGrid(out, tidy(() => x.to("float32").data() as Float32Array), x.shape, { columns, title: `w=${w}, ${flags.sampler} ${steps} steps` });
    } else {
      saveNpy(out, toHost(x));
    }
    console.error(`fewstep sample: wrote ${x.shape[0]} samples [${x.shape.slice(1)}] (${x.dtype}) to ${out}`);
    x.dispose();
  } finally {
    source.dispose();
  }
}

function readNpy<T>(load: (path: string) => T, path: string, flag: string): T {
  try {
    return load(path);
  } catch (error) {
    throw new FewstepError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: sampleSpec, run: runSample };
