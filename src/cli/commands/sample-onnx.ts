// `fewstep sample --runtime onnx`: an exported model (model.onnx from `fewstep export`) on
// onnxruntime-node with the portable samplers of src/portable. Same flags and outputs as the torch
// path (.npy, or a PNG grid for image models); a latent model's samples go through the decoder
// its file names (exported beside it), so the outputs are images, and `--latents` keeps the
// latents. Nothing here imports src/engine's tensors, so libtorch is never loaded. For one seed the noise differs from the torch path (the portable
// generator is not libtorch's): pass --noise and --labels to compare the two runtimes.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkMemory, sampleMemory, threadsFromEnv } from "../../engine/bounds.js";
import { FewstepError } from "../../engine/errors.js";
import { NormalRng, type FewstepOnnxDecoder, type FewstepOnnxModel, type OrtModuleLike, type PortableSamplerName, exampleSize, openFewstepDecoder, openFewstepOnnx } from "../../portable/index.js";
import type { ParsedFlags } from "../flags.js";
import { checkNoiseFlags, checkSampleOut } from "./sample.js";

export async function runSampleOnnx(flags: ParsedFlags): Promise<void> {
  const { fromTypedArray, toTypedArray } = await import("../../io/host-array.js");
  const { loadNpy, saveNpy } = await import("../../io/npy.js");
  const fail = (message: string): never => {
    throw new FewstepError(message);
  };
  const { out, png } = checkSampleOut(flags);
  if (flags.mixture !== undefined) fail("--runtime onnx samples an exported --model model.onnx; the exact --mixture teacher runs with --runtime torch");
  if (flags.model === undefined) fail("--runtime onnx needs --model model.onnx (made by `fewstep export`)");
  if (flags.sampler === "ddpm") fail("--sampler ddpm is not in the portable samplers; use ddim or stochastic, or --runtime torch");
  if (flags["batch-size"] !== undefined) fail("--batch-size is for --runtime torch; --runtime onnx samples every row in one run (lower --n for less memory)");
  checkNoiseFlags(flags);

  const path = flags.model as string;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new FewstepError(`--model: cannot read ${path}: ${(error as Error).message}`);
  }
  const ort = await import("onnxruntime-node");
  const threads = threadsFromEnv();
  let model: FewstepOnnxModel;
  try {
    model = await openFewstepOnnx(ort, bytes, { source: path, sessionOptions: threads ? { intraOpNumThreads: threads } : {} });
  } catch (error) {
    throw new FewstepError(`--model: ${(error as Error).message}`);
  }
  let decoder: FewstepOnnxDecoder | null = null;
  try {
    const { exampleShape, numClasses } = model.metadata;
    const size = exampleSize(exampleShape);
    const latentsOut = flags.latents as string | undefined;
    if (flags.autoencoder !== undefined) fail("--autoencoder goes with --runtime torch; --runtime onnx decodes with the decoder exported beside the model (fewstep export)");
    if (model.metadata.latent) decoder = await openDecoderBeside(ort, path, model, threads);
    else if (latentsOut !== undefined) fail(`--latents: ${path} is not a latent model (its samples are the output); leave --latents out`);
    if (latentsOut !== undefined && !latentsOut.toLowerCase().endsWith(".npy")) fail(`--latents ${latentsOut}: the file name must end in .npy`);
    const outShape = decoder ? decoder.imageShape : exampleShape;
    const w = flags.w as number;
    const steps = flags.steps as number;
    const seed = flags.seed as number;
    try {
      model.checkRequest({ w, steps });
    } catch (error) {
      throw new FewstepError(`--${(error as Error).message}`);
    }

    let z: Float32Array | undefined;
    let n: number;
    if (flags.noise !== undefined) {
      const host = readNpy(loadNpy, flags.noise as string, "--noise");
      if (host.dtype !== "float32" && host.dtype !== "float64") fail(`--noise: ${flags.noise} holds ${host.dtype}; it must be float32 or float64`);
      if (host.shape.slice(1).join() !== exampleShape.join()) fail(`--noise: ${flags.noise} has shape [${host.shape}] but the model needs [n, ${exampleShape}]`);
      z = Float32Array.from(toTypedArray(host as typeof host & { dtype: "float32" | "float64" }));
      n = host.shape[0];
    } else {
      n = flags.n as number;
      checkMemory(sampleMemory(n, exampleShape, 4) + n * exampleSize(outShape) * 4, `sampling --n ${n} of [${exampleShape}]`, "--n");
    }
    let labels: Int32Array;
    if (flags.labels !== undefined) {
      const host = readNpy(loadNpy, flags.labels as string, "--labels");
      if (host.dtype !== "int64") fail(`--labels: ${flags.labels} holds ${host.dtype}; it must be int64 (numpy: labels.astype(np.int64))`);
      if (host.shape.length !== 1 || host.shape[0] !== n) fail(`--labels: ${flags.labels} has shape [${host.shape}] but the noise has ${n} rows: it must be [${n}]`);
      labels = Int32Array.from(toTypedArray(host as typeof host & { dtype: "int64" }), Number);
      const bad = labels.find((c) => c < 0 || c >= numClasses);
      if (bad !== undefined) fail(`--labels: class ${bad} is not one of the model's classes 0..${numClasses - 1}`);
    } else if (flags.class !== undefined) {
      const k = flags.class as number;
      if (k >= numClasses) fail(`--class ${k} is not one of the model's classes 0..${numClasses - 1}`);
      labels = new Int32Array(n).fill(k);
    } else {
      const rng = new NormalRng(seed, 2); // stream 2: random labels (0: noise z_1, 1: added noise)
      labels = Int32Array.from({ length: n }, () => Math.min(numClasses - 1, Math.floor((rng.nextUint32() / 2 ** 32) * numClasses)));
    }
    const clip = flags.clip !== undefined ? ([-(flags.clip as number), flags.clip as number] as [number, number]) : undefined;
    const sampler = flags.sampler as PortableSamplerName;
    if (png && outShape.length !== 3) fail(`--out ${out}: a PNG grid needs an image model; this one gives samples of shape [${exampleShape}]: write a .npy`);
    // --clip applies to what is written: a latent model's decoded images, as on the torch path
    const latents = await model.sample({ sampler, steps, w, labels, seed, z, clip: decoder ? undefined : clip });
    const images = decoder ? await decoder.decode(latents) : latents;
    const x = decoder && clip ? images.map((v) => Math.min(clip[1], Math.max(clip[0], v))) : images;

    const writeNpy = (file: string, values: Float32Array, shape: number[]) =>
      saveNpy(file, flags.dtype === "float64" ? fromTypedArray("float64", shape, Float64Array.from(values)) : fromTypedArray("float32", shape, values));
    if (latentsOut !== undefined) writeNpy(latentsOut, latents, [n, ...exampleShape]);
    const shape = [n, ...outShape];
    if (png) {
      const { saveImageGrid } = await import("../../eval/image-grid.js");
      saveImageGrid(out, x, shape, { columns: flags.columns as number, title: `w=${w}, ${sampler} ${steps} steps (onnx)` });
    } else {
      writeNpy(out, x, shape);
    }
    const decoded = decoder ? `, decoded by ${decoder.source}${latentsOut !== undefined ? `; latents [${exampleShape}] to ${latentsOut}` : ""}` : "";
    console.error(`fewstep sample: wrote ${n} samples [${outShape}] (${flags.dtype}) to ${out} (onnxruntime-node, ${size * n} numbers${decoded})`);
  } finally {
    await decoder?.release();
    await model.release();
  }
}

/** The decoder a latent model's file names, opened from beside it and checked to be that model's. */
async function openDecoderBeside(ort: OrtModuleLike, modelPath: string, model: FewstepOnnxModel, threads: number | undefined): Promise<FewstepOnnxDecoder> {
  const name = model.metadata.latent!.decoder;
  if (name === null) throw new FewstepError(`--model ${modelPath} is a latent model exported without its decoder; export it again with \`fewstep export --model CHECKPOINT --out ${modelPath}\``);
  const path = join(dirname(modelPath), name);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new FewstepError(`--model ${modelPath} is a latent model; its decoder ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); keep the ${name} that \`fewstep export\` wrote beside it`);
  }
  try {
    return await openFewstepDecoder(ort, bytes, { source: path, sessionOptions: threads ? { intraOpNumThreads: threads } : {}, forModel: { metadata: model.metadata, source: modelPath } });
  } catch (error) {
    throw new FewstepError(`--model: ${(error as Error).message}`);
  }
}

function readNpy<T>(load: (path: string) => T, path: string, flag: string): T {
  try {
    return load(path);
  } catch (error) {
    throw new FewstepError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}
