// `fewstep encode` and `fewstep decode`: images to a latent cache (the data of latent teachers and
// their distillation, read back by every --data that takes a latent cache), and latents back to a
// PNG grid through the autoencoder.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";
import { DEVICE_FLAG, deviceFlag } from "../flags.js";

export const encodeSpec: CommandSpec = {
  name: "encode",
  summary: "encode images into diffusion latents (scaling_factor x the posterior mean or a sample), saved as a latent cache",
  usage: "fewstep encode --autoencoder A --data SPEC --out latents.safetensors [flags]",
  flags: [
    DEVICE_FLAG,
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "a fewstep autoencoder checkpoint, or a diffusers AutoencoderKL folder (config.json + diffusion_pytorch_model.safetensors)" },
    { name: "data", kind: "string", meta: "SPEC", default: "fashion-mnist", help: "image data: fashion-mnist[:train|test], idx:IMAGES,LABELS, cifar10:BATCH[,BATCH...], png:DIR, npy:IMAGES,LABELS" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "side the images are padded or resized to (default: the autoencoder's sample_size)" },
    { name: "posterior", kind: "string", meta: "mean|sample", choices: ["mean", "sample"], default: "mean", help: "latents are the posterior mean, or one posterior sample per image" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of the posterior samples (--posterior sample)" },
    { name: "out", kind: "path", meta: "FILE", help: "the latent cache to write (.safetensors: latents [N, c, h, w], labels [N], the autoencoder's hash)" },
    { name: "shard-size", kind: "int", meta: "N", min: 0, default: 0, help: "write shards of at most N latents (OUT-00001-of-0000K.safetensors, ...; any one of them names the whole cache); 0: one file" },
  ],
  examples: [
    "fewstep encode --autoencoder runs/fmnist-ae/autoencoder.safetensors --data fashion-mnist --out runs/fmnist-latents.safetensors",
    "fewstep encode --autoencoder A --data png:big-set --out runs/big.safetensors --shard-size 100000   # then --data runs/big-00001-of-00004.safetensors",
  ],
};

export const decodeSpec: CommandSpec = {
  name: "decode",
  summary: "decode diffusion latents (.npy, or a latent cache) into a PNG grid of images",
  usage: "fewstep decode --latents FILE --out grid.png [--autoencoder A] [flags]",
  flags: [
    DEVICE_FLAG,
    { name: "latents", kind: "path", meta: "FILE", help: "latents [n, c, h, w]: a .npy (float32 or float64, e.g. from sample --latents) or a latent cache from fewstep encode" },
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "the autoencoder (default for a latent cache: the one it records)" },
    { name: "crop", kind: "int", meta: "S", min: 1, help: "center-crop decoded images to S x S (default for a latent cache: its data's own size; else none)" },
    { name: "n", kind: "int", meta: "N", min: 1, default: 64, help: "decode at most the first N latents" },
    { name: "columns", kind: "int", meta: "K", min: 1, default: 8, help: "images per grid row" },
    { name: "out", kind: "path", meta: "FILE", help: "the PNG to write" },
  ],
  examples: ["fewstep decode --latents runs/fmnist-latents.safetensors --out decoded.png", "fewstep decode --latents samples.npy --autoencoder models/fashion-mnist-latent/autoencoder.safetensors --crop 28 --out samples.png"],
};

function checkOut(out: string | undefined, ext: string): string {
  if (!out) throw new FewstepError(`give --out (the ${ext} file to write)`);
  if (!out.toLowerCase().endsWith(ext)) throw new FewstepError(`--out ${out}: the file name must end in ${ext}`);
  if (!existsSync(dirname(resolve(out)))) throw new FewstepError(`--out: folder ${dirname(out)} does not exist`);
  return out;
}

export async function runEncode(flags: ParsedFlags): Promise<void> {
  const out = checkOut(flags.out as string | undefined, ".safetensors");
  const aePath = flags.autoencoder as string | undefined;
  if (!aePath) throw new FewstepError("give --autoencoder (a checkpoint from fewstep train-autoencoder, or a diffusers AutoencoderKL folder)");
  if (!existsSync(aePath)) throw new FewstepError(`--autoencoder ${aePath}: no such file or folder`);
  const posterior = flags.posterior as "mean" | "sample";
  const { isLatentCache, openLatentData } = await import("../latent-data.js");
  if (isLatentCache(flags.data as string)) throw new FewstepError(`--data ${flags.data} is already a latent cache; give image data`);
  const device = await deviceFlag(flags);
  const { loadAutoencoder } = await import("../../io/load-autoencoder.js");
  const autoencoder = loadAutoencoder(aePath, { device });
  try {
    const { dataset, record } = await openLatentData(flags.data as string, autoencoder, { size: flags.size as number | undefined, posterior, seed: flags.seed as number });
    try {
      const { writeLatentCache } = await import("../../latent/latent-space.js");
      const files = writeLatentCache(out, dataset, { record, data: flags.data as string }, flags["shard-size"] as number);
      console.error(`fewstep encode: wrote ${dataset.count} latents [${dataset.exampleShape}] (${posterior === "mean" ? "posterior means" : "posterior samples"}, x ${autoencoder.model.config.scaling_factor.toPrecision(5)}) of ${flags.data} to ${files.length === 1 ? out : `${files.length} shards ${files[0]} ... ${files[files.length - 1]}`}`);
    } finally {
      dataset.dispose();
    }
  } finally {
    autoencoder.model.dispose();
  }
}

export async function runDecode(flags: ParsedFlags): Promise<void> {
  const out = checkOut(flags.out as string | undefined, ".png");
  const latentsPath = flags.latents as string | undefined;
  if (!latentsPath) throw new FewstepError("give --latents (a .npy of latents or a latent cache)");
  if (!existsSync(latentsPath)) throw new FewstepError(`--latents ${latentsPath}: no such file`);
  const device = await deviceFlag(flags);
  const { fromHost } = await import("../../io/tensor-bridge.js");
  const { tidy } = await import("../../engine/index.js");
  const { isLatentCache } = await import("../latent-data.js");
  let aePath = flags.autoencoder as string | undefined;
  let crop = flags.crop as number | undefined;
  let expectSha: string | undefined;
  let latents;
  if (isLatentCache(latentsPath)) {
    const { readLatentCache } = await import("../../latent/latent-space.js");
    const { dataset, info } = readLatentCache(latentsPath);
    const n = Math.min(flags.n as number, dataset.count);
    latents = tidy(() => dataset.all().x.narrow(0, 0, n).clone());
    dataset.dispose();
    aePath ??= info.record.autoencoder.path;
    crop ??= info.record.cropTo ?? undefined;
    expectSha = info.record.autoencoder.sha256;
  } else {
    if (!aePath) throw new FewstepError("--autoencoder: a .npy of latents records no autoencoder; pass the one that made them");
    const { loadNpy } = await import("../../io/npy.js");
    const host = loadNpy(latentsPath);
    if (host.dtype !== "float32" && host.dtype !== "float64") throw new FewstepError(`--latents ${latentsPath}: latents must be float32 or float64, got ${host.dtype}`);
    if (host.shape.length !== 4) throw new FewstepError(`--latents ${latentsPath}: latents must be [n, c, h, w], got [${host.shape}]`);
    latents = tidy(() => {
      const all = fromHost(host);
      return all.narrow(0, 0, Math.min(flags.n as number, host.shape[0])).to("float32");
    });
  }
  const { loadAutoencoder } = await import("../../io/load-autoencoder.js");
  try {
    const autoencoder = loadAutoencoder(aePath, { device });
    try {
      if (expectSha !== undefined && autoencoder.sha256 !== expectSha) {
        throw new FewstepError(`${latentsPath} holds latents of another autoencoder (sha256 ${expectSha.slice(0, 12)}...) than ${aePath} (sha256 ${autoencoder.sha256.slice(0, 12)}...); pass the one that made them with --autoencoder`);
      }
      const { centerCrop } = await import("../../latent/latent-space.js");
      const { saveImageGrid } = await import("../../eval/image-grid.js");
      tidy(() => {
        const images = centerCrop(autoencoder.model.decodeLatents(latents.to({ device })), crop ?? null).to({ device: "cpu" }).contiguous();
        saveImageGrid(out, images.data() as Float32Array, images.shape, { columns: flags.columns as number, title: `${images.shape[0]} decoded latents of ${latentsPath}` });
      });
      console.error(`fewstep decode: wrote ${latents.shape[0]} images to ${out}`);
    } finally {
      autoencoder.model.dispose();
    }
  } finally {
    latents.dispose();
  }
}

export const encodeCommand: Command = { spec: encodeSpec, run: runEncode };
export const decodeCommand: Command = { spec: decodeSpec, run: runDecode };
