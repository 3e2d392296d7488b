// `fewstep sample`: draws samples from an exact mixture teacher or a trained model with DDIM, the
// stochastic N-step sampler or ancestral DDPM, at guidance weight w, to a .npy file (or, for
// image models, a PNG grid). `--runtime onnx` samples an exported model on onnxruntime-node with
// the portable samplers (sample-onnx.ts) and never loads libtorch.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { checkDiskSpace, checkMemory, sampleMemory } from "../../engine/bounds.js";
import { FewstepError } from "../../engine/errors.js";
import type { Tensor } from "../../engine/index.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { MAX_SAMPLING_STEPS } from "../../portable/schedule.js";

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

/** Default samples per batch of `fewstep sample`: image models (a U-Net's activations) and vectors. */
export const IMAGE_SAMPLE_BATCH = 256;
export const VECTOR_SAMPLE_BATCH = 65_536;

export const sampleSpec: CommandSpec = {
  name: "sample",
  summary: "sample a guided teacher or a distilled student to a .npy file (images: or a PNG grid)",
  usage: "fewstep sample (--mixture NAME|spec.json | --model ckpt) --out x.npy|grid.png [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", help: "exact Gaussian-mixture teacher: a built-in name (ring2d, gauss64d) or a JSON spec {means [C][K][D], stds [C][K], weights [C][K]}" },
    { name: "model", kind: "path", meta: "FILE", help: "a trained model checkpoint (.safetensors) instead of --mixture; with --runtime onnx, a model.onnx from `fewstep export`" },
    { name: "runtime", kind: "string", meta: "R", choices: ["torch", "onnx"], default: "torch", help: "torch: libtorch (every model and sampler); onnx: an exported .onnx on onnxruntime-node with the portable samplers (ddim, stochastic), no libtorch needed" },
    { name: "w", kind: "number", meta: "W", min: 0, default: 0, help: "guidance weight, paper's convention: (1 + w) x(z, c) - w x(z, null); a 'guidance scale' s is 1 + w" },
    { name: "steps", kind: "int", meta: "N", min: 1, max: MAX_SAMPLING_STEPS, default: 64, help: "number of sampling steps (model calls per sample; a teacher makes 2 per step when w > 0)" },
    { name: "sampler", kind: "string", meta: "NAME", choices: ["ddim", "stochastic", "ddpm"], default: "ddim", help: "ddim: deterministic (eq. 2); stochastic: the paper's N-step sampler; ddpm: ancestral" },
    { name: "noise", kind: "path", meta: "FILE", help: "initial noise z_1: .npy float32/float64 of shape [n, D] (vectors) or [n, C, H, W] (images)" },
    { name: "labels", kind: "path", meta: "FILE", help: "class labels: .npy int64 of shape [n] (with --noise)" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of the noise (without --noise) and of the noise stochastic samplers add" },
    { name: "n", kind: "int", meta: "N", min: 1, help: "number of samples (without --noise)" },
    { name: "class", kind: "int", meta: "K", min: 0, help: "class of every sample (without --labels: random labels otherwise)" },
    { name: "out", kind: "path", meta: "FILE", help: "output .npy of shape [n, ...example shape]; for image models a .png writes a grid instead" },
    { name: "columns", kind: "int", meta: "K", min: 1, default: 10, help: "images per row of a .png grid" },
    { name: "dtype", kind: "string", meta: "T", choices: ["float32", "float64"], default: "float32", help: "dtype of the output" },
    { name: "batch-size", kind: "int", meta: "B", min: 1, help: `samples per sampler batch: one batch is in memory at a time and the .npy is written batch by batch (default ${IMAGE_SAMPLE_BATCH} for images, ${VECTOR_SAMPLE_BATCH} for vectors); with more than one batch the samples depend on it` },
    { name: "clip", kind: "number", meta: "C", min: 0, help: "clamp the final sample to [-C, C] (never the intermediate x-hats; latent models: the decoded images)" },
    { name: "latents", kind: "path", meta: "FILE", help: "latent models (both runtimes): also write the raw latents [n, c, h, w] to this .npy (--out gets the decoded images)" },
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "latent models: decode with this autoencoder instead of the recorded one (it must be the same, by content hash)" },
  ],
  examples: [
    "fewstep sample --mixture ring2d --w 2 --steps 64 --sampler ddim --seed 0 --n 1000 --out x.npy",
    "fewstep sample --mixture spec.json --w 2 --steps 64 --sampler ddim --noise z.npy --labels c.npy --out x.npy",
    "fewstep sample --model runs/teacher/teacher.safetensors --w 1 --steps 256 --n 500 --class 2 --out x.npy",
    "fewstep sample --model models/fashion-mnist/student-N4.safetensors --w 2 --steps 4 --n 40 --out grid.png",
    "fewstep sample --runtime onnx --model student-N4.onnx --w 2 --steps 4 --n 40 --out grid.png",
    "fewstep sample --model models/fashion-mnist-latent/student-N4.safetensors --w 2 --steps 4 --n 40 --out grid.png --latents latents.npy",
    "fewstep sample --runtime onnx --model latent-student.onnx --w 2 --steps 4 --n 40 --out grid.png --latents z.npy",
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
  const { Generator, full, keep, randint, randn, tidy } = await import("../../engine/index.js");
  const { loadMixture } = await import("../../diffusion/mixture.js");
  const { sampleGuided } = await import("../../diffusion/sample.js");
  const { loadNpy, openNpyWriter } = await import("../../io/npy.js");
  const { toTypedArray } = await import("../../io/host-array.js");
  const { fromHost } = await import("../../io/tensor-bridge.js");
  const { loadModelForSampling } = await import("../model-loading.js");

  const fail = (message: string): never => {
    throw new FewstepError(message);
  };
  const { out, png } = checkSampleOut(flags);
  if (flags.mixture === undefined && flags.model === undefined) fail("give --mixture (an exact teacher) or --model (a checkpoint)");
  if (flags.mixture !== undefined && flags.model !== undefined) fail("give --mixture or --model, not both");
  checkNoiseFlags(flags);
  if (flags.mixture !== undefined && (flags.latents !== undefined || flags.autoencoder !== undefined)) fail("--latents and --autoencoder are for latent models (--model); an exact mixture samples vectors");
  if (flags.latents !== undefined && !(flags.latents as string).toLowerCase().endsWith(".npy")) fail(`--latents ${flags.latents}: the file name must end in .npy`);

  const w = flags.w as number;
  const steps = flags.steps as number;
  const seed = flags.seed as number;
  const source: import("../model-loading.js").SamplingSource =
    flags.mixture !== undefined
      ? (() => {
          const mixture = loadMixture(flags.mixture as string);
          return { model: mixture, exampleShape: mixture.exampleShape, numClasses: mixture.numClasses, dtype: "float64" as const, guidance: "teacher" as const, dispose: () => mixture.dispose() };
        })()
      : loadModelForSampling(flags.model as string, { w, steps, autoencoderPath: flags.autoencoder as string | undefined });

  let givenNoise: Tensor | undefined;
  let givenLabels: Tensor | undefined;
  try {
    const latent = source.latent;
    if (flags.latents !== undefined && !latent) fail(`--latents: ${flags.model} is a pixel-space model; its samples are the images themselves`);
    // the sampler's shape (the noise, the latents) and the output's (decoded images for latent models)
    const exampleShape = source.exampleShape;
    const outShape = latent ? latent.imageShape : exampleShape;
    const rowElements = outShape.reduce((a, b) => a * b, 1);
    const latentElements = exampleShape.reduce((a, b) => a * b, 1);
    const outDtype = flags.dtype as "float32" | "float64";
    // The whole input, when given: the noise and labels files are read (and checked) up front.
    if (flags.noise !== undefined) {
      const host = readNpy(loadNpy, flags.noise as string, "--noise");
      if (host.dtype !== "float32" && host.dtype !== "float64") fail(`--noise: ${flags.noise} holds ${host.dtype}; it must be float32 or float64`);
      if (host.shape.slice(1).join() !== exampleShape.join()) fail(`--noise: ${flags.noise} has shape [${host.shape}] but the model needs [n, ${exampleShape}]`);
      const values = toTypedArray(host as typeof host & { dtype: "float32" | "float64" });
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`--noise: ${flags.noise} holds ${values[bad]} at flat index ${bad}; noise must be finite`);
      givenNoise = keep(fromHost(host).to(source.dtype));
    }
    const n = givenNoise !== undefined ? givenNoise.shape[0] : (flags.n as number);
    if (flags.labels !== undefined) {
      const host = readNpy(loadNpy, flags.labels as string, "--labels");
      if (host.dtype !== "int64") fail(`--labels: ${flags.labels} holds ${host.dtype}; it must be int64 (numpy: labels.astype(np.int64))`);
      if (host.shape.length !== 1 || host.shape[0] !== n) fail(`--labels: ${flags.labels} has shape [${host.shape}] but the noise has ${n} rows: it must be [${n}]`);
      givenLabels = keep(fromHost(host));
      const bad = givenLabels.toNumbers().find((c) => c < 0 || c >= source.numClasses);
      if (bad !== undefined) fail(`--labels: class ${bad} is not one of the model's classes 0..${source.numClasses - 1}`);
    } else if (flags.class !== undefined && (flags.class as number) >= source.numClasses) {
      fail(`--class ${flags.class} is not one of the model's classes 0..${source.numClasses - 1}`);
    }
    const batch = Math.min(n, (flags["batch-size"] as number | undefined) ?? (exampleShape.length > 1 ? IMAGE_SAMPLE_BATCH : VECTOR_SAMPLE_BATCH));
    // Only one batch is in memory at a time (a PNG grid keeps every image: grids are small).
    checkMemory(sampleMemory(batch, exampleShape, source.dtype === "float64" ? 8 : 4) + (png ? n * rowElements * 4 : 0), `sampling batches of ${batch} of [${exampleShape}]`, flags["batch-size"] !== undefined ? "--batch-size" : "--n");
    if (png && outShape.length !== 3) fail(`--out ${out}: a PNG grid needs an image model; this one gives samples of shape [${exampleShape}]: write a .npy`);

    const generator = new Generator(seed);
    const clip = flags.clip !== undefined ? ([-(flags.clip as number), flags.clip as number] as [number, number]) : undefined;
    if (!png) checkDiskSpace(n * rowElements * (outDtype === "float64" ? 8 : 4), dirname(out), `the output of --n ${n} of [${outShape}] (${outDtype})`, "--n");
    const writer = png ? undefined : openNpyWriter(out, outDtype, [n, ...outShape]);
    const latentWriter = flags.latents !== undefined ? openNpyWriter(flags.latents as string, outDtype, [n, ...exampleShape]) : undefined;
    const gridValues = png ? new Float32Array(n * rowElements) : undefined;
    const batches = Math.ceil(n / batch);
    const showProgress = batches > 1 && process.stderr.isTTY === true;
    try {
      for (let start = 0, index = 0; start < n; start += batch, index++) {
        const size = Math.min(batch, n - start);
        const batchOut = tidy(() => {
          // Per batch: the noise, then the labels, from one generator (a single batch draws exactly
          // what an unbatched run did).
          const z = givenNoise !== undefined ? givenNoise.narrow(0, start, size) : randn([size, ...exampleShape], generator, { dtype: source.dtype });
          const labels =
            givenLabels !== undefined ? givenLabels.narrow(0, start, size) : flags.class !== undefined ? full([size], flags.class as number, { dtype: "int64" }) : randint(0, source.numClasses, [size], generator);
          const sample = sampleGuided(source.model, z, {
            sampler: flags.sampler as "ddim" | "stochastic" | "ddpm",
            steps,
            w,
            guidance: source.guidance,
            cond: { labels },
            // the sampler's added noise: its own stream per batch, not the one z came from (the
            // same Generator(seed) would make the first added noise equal z); eval's convention
            seed: seed * 65_536 + index + 1,
            clip: latent ? undefined : clip,
          });
          if (!latent) return { x: sample.to(outDtype) };
          const images = latent.decode(sample);
          return { x: (clip ? images.clamp(clip[0], clip[1]) : images).to(outDtype), latents: sample.to(outDtype) };
        });
        const { x } = batchOut;
        try {
          // Checked before writing, so a diverged sample leaves no output file behind.
          const values = x.data() as Float32Array | Float64Array;
          let nonFinite = 0;
          for (const v of values) if (!Number.isFinite(v)) nonFinite++;
          if (nonFinite > 0) {
            const what = flags.model !== undefined ? `--model ${flags.model}` : `--mixture ${flags.mixture}`;
            const rows = batches > 1 ? ` of samples ${start}..${start + size - 1}` : "";
            fail(`${nonFinite} of ${values.length} sample values${rows} came out NaN or Inf (${what} at --w ${w}): try a smaller --w, or check the model's weights; nothing written to ${out}`);
          }
          if (writer !== undefined) writer.append(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), size);
          else gridValues!.set(values, start * rowElements);
          if (latentWriter !== undefined) {
            const raw = batchOut.latents!.data() as Float32Array | Float64Array;
            if (raw.length !== size * latentElements) fail(`internal: ${raw.length} latent values for ${size} samples`);
            latentWriter.append(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), size);
          }
        } finally {
          x.dispose();
          batchOut.latents?.dispose();
        }
        if (showProgress) process.stderr.write(`\rfewstep sample: ${start + size}/${n} samples`);
      }
      if (showProgress) process.stderr.write("\n");
      if (writer !== undefined) {
        writer.commit();
      } else {
        const { saveImageGrid } = await import("../../eval/image-grid.js");
        saveImageGrid(out, gridValues!, [n, ...outShape], { columns: flags.columns as number, title: `w=${w}, ${flags.sampler} ${steps} steps${latent ? ", decoded" : ""}` });
      }
      latentWriter?.commit();
    } catch (error) {
      writer?.abort();
      latentWriter?.abort();
      throw error;
    }
    console.error(`fewstep sample: wrote ${n} samples [${outShape}] (${outDtype}${latent ? `, decoded from latents [${exampleShape}]` : ""}) to ${out}${flags.latents !== undefined ? `; latents to ${flags.latents}` : ""}`);
  } finally {
    givenNoise?.dispose();
    givenLabels?.dispose();
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
