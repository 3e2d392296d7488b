// `fewstep export`: a teacher or distilled student checkpoint as an ONNX model (opset 17) that runs
// in onnxruntime (Node, the browser) without Python or libtorch; a latent model also gets its
// autoencoder's decoder beside it (and, on request, its encoder), and an autoencoder can be
// exported alone. The graphs and their contracts are described in src/export/export-onnx.ts and
// src/export/export-autoencoder.ts.
import { existsSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { AutoencoderOnnxExport } from "../../export/export-autoencoder.js";
import type { OnnxExport } from "../../export/export-onnx.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const exportSpec: CommandSpec = {
  name: "export",
  summary: "write a checkpoint's denoiser (EMA weights when saved) as an ONNX model that outputs x-hat; a latent model's decoder beside it; or an autoencoder's decoder or encoder alone",
  usage: "fewstep export (--model ckpt.safetensors | --autoencoder ae.safetensors) --out model.onnx",
  flags: [
    { name: "model", kind: "path", meta: "FILE", help: "a fewstep checkpoint or weights file (teacher or student, MLP or U-Net); a latent model also writes OUT.decoder.onnx (its autoencoder's decoder, from the checkpoint's latent record)" },
    { name: "out", kind: "path", meta: "FILE", help: "the .onnx file to write (a denoiser: inputs z, t, class[, w], output x_hat; a decoder: input latents, output image; an encoder: input image, outputs mean, logvar, latents; batch dimension free)" },
    { name: "class-names", kind: "string", meta: "NAMES", help: "class names for the file's metadata (what the browser demo shows): fashion-mnist, or a comma-separated list, one per class (default: the names the checkpoint saved from its data, else none)" },
    { name: "autoencoder", kind: "path", meta: "FILE|DIR", help: "with --model: the latent model's autoencoder when it is not where its record says (its sha256 must be the recorded one); alone: export this autoencoder (fewstep checkpoint or diffusers folder)" },
    { name: "part", kind: "string", meta: "PART", choices: ["decoder", "encoder"], help: "with --autoencoder alone: which part to write (default: decoder)" },
    { name: "size", kind: "int", meta: "S", min: 1, help: "with --autoencoder alone: the image side S the graph is fixed to (default: the autoencoder's sample_size)" },
    { name: "with-encoder", kind: "boolean", default: false, help: "with a latent --model: also write OUT.encoder.onnx (images to latents)" },
  ],
  examples: [
    "fewstep export --model models/fashion-mnist/student-N4.safetensors --out web/public/student-N4.onnx --class-names fashion-mnist",
    "fewstep export --model runs/quickstart/student-N4.safetensors --out student.onnx",
    "fewstep export --model runs/latent/student-N4.safetensors --out s.onnx   # also writes s.decoder.onnx",
    "fewstep export --model runs/latent/student-N4.safetensors --out s.onnx --with-encoder --autoencoder models/ae.safetensors",
    "fewstep export --autoencoder runs/ae/autoencoder.safetensors --out decoder.onnx",
    "fewstep export --autoencoder runs/ae/autoencoder.safetensors --part encoder --size 32 --out encoder.onnx",
  ],
};

/** OUT.onnx -> OUT.<part>.onnx: the file a latent model's decoder or encoder is written to. */
export function partPath(out: string, part: "decoder" | "encoder"): string {
  return out.replace(/\.onnx$/i, `.${part}.onnx`);
}

export async function runExport(flags: ParsedFlags): Promise<void> {
  const model = flags.model as string | undefined;
  const autoencoder = flags.autoencoder as string | undefined;
  const out = flags.out as string | undefined;
  if ((!model && !autoencoder) || !out) throw new FewstepError("give --model (a checkpoint) or --autoencoder (an autoencoder alone), and --out (the .onnx file to write)");
  if (model && !existsSync(model)) throw new FewstepError(`--model ${model}: no such file`);
  if (model && !statSync(model).isFile()) throw new FewstepError(`--model ${model}: not a file`);
  if (autoencoder && !existsSync(autoencoder)) throw new FewstepError(`--autoencoder ${autoencoder}: no such file or folder`);
  if (!out.toLowerCase().endsWith(".onnx")) throw new FewstepError(`--out ${out}: the file name must end in .onnx`);
  if (!existsSync(dirname(resolve(out)))) throw new FewstepError(`--out: folder ${dirname(out)} does not exist`);
  if (model && (flags.part !== undefined || flags.size !== undefined)) throw new FewstepError("--part and --size go with --autoencoder alone; a latent --model's parts take their shape from its record (add --with-encoder for the encoder)");
  if (!model && (flags["with-encoder"] || flags["class-names"] !== undefined)) throw new FewstepError(`${flags["with-encoder"] ? "--with-encoder" : "--class-names"} goes with --model; an autoencoder alone writes one part: pick it with --part decoder|encoder`);
  const { writeFileAtomic } = await import("../../io/atomic.js");

  if (!model) {
    const { exportAutoencoderFile } = await import("../../export/export-autoencoder.js");
    const part = (flags.part as "decoder" | "encoder" | undefined) ?? "decoder";
    const result = exportAutoencoderFile(autoencoder!, part, { imageSide: flags.size as number | undefined });
    writeFileAtomic(out, result.bytes);
    console.log(describeAutoencoderExport(out, result).join("\n"));
    return;
  }

  let classNames: string[] | undefined;
  if (flags["class-names"] !== undefined) {
    const { FASHION_MNIST_CLASSES } = await import("../../io/datasets.js");
    const given = String(flags["class-names"]);
    classNames = given === "fashion-mnist" ? [...FASHION_MNIST_CLASSES] : given.split(",").map((n) => n.trim());
    if (classNames.some((n) => n === "")) throw new FewstepError(`--class-names ${given}: a name is empty; give fashion-mnist or NAME,NAME,... (one per class)`);
  }
  const { exportCheckpointToOnnx } = await import("../../export/export-onnx.js");
  const decoderOut = partPath(out, "decoder");
  const result = exportCheckpointToOnnx(model, { classNames, decoderFile: basename(decoderOut), autoencoder, withEncoder: flags["with-encoder"] as boolean });
  // the parts first: a denoiser file that names its decoder is written only once the decoder is there
  if (result.decoder) writeFileAtomic(decoderOut, result.decoder.bytes);
  if (result.encoder) writeFileAtomic(partPath(out, "encoder"), result.encoder.bytes);
  writeFileAtomic(out, result.bytes);
  const lines = describeDenoiserExport(out, result);
  if (result.decoder) lines.push(...describeAutoencoderExport(decoderOut, result.decoder));
  if (result.encoder) lines.push(...describeAutoencoderExport(partPath(out, "encoder"), result.encoder));
  console.log(lines.join("\n"));
}

const shape = (s: (number | string)[]) => `[${s.join(", ")}]`;
const tensorLine = (what: string, t: { name: string; type: string; shape: (number | string)[] }, nameWidth = 8) => `  ${what.padEnd(8)}${t.name.padEnd(nameWidth)}${t.type.padEnd(8)}${shape(t.shape)}`;
const sizeLine = (out: string, r: { bytes: Uint8Array; opset: number; parameterCount: number }) => `fewstep export: wrote ${out} (${(r.bytes.length / 1e6).toFixed(2)} MB, opset ${r.opset}, ${r.parameterCount.toLocaleString("en-US")} parameters`;

function describeDenoiserExport(out: string, r: OnnxExport): string[] {
  const m = r.metadata;
  return [
    `${sizeLine(out, r)}, ${m.weights === "ema" ? "EMA" : "trained"} weights)`,
    `  model   ${m.kind}, ${m.prediction}-prediction, ${m.numClasses} classes (class ${m.numClasses} = null)${m.steps !== null ? `, distilled for ${m.steps} steps` : ""}${m.wRange ? `, w in [${m.wRange[0]}, ${m.wRange[1]}]` : ""}${m.latent ? `, latent (decoder ${m.latent.decoder})` : ""}`,
    ...r.inputs.map((t) => tensorLine("input", t, 6)),
    tensorLine("output", r.output, 6),
  ];
}

function describeAutoencoderExport(out: string, r: AutoencoderOnnxExport): string[] {
  const m = r.metadata;
  return [
    `${sizeLine(out, r)})`,
    `  ${m.role.padEnd(8)}${m.kind} from ${m.source} (sha256 ${m.autoencoderSha256.slice(0, 12)}...), scaling factor ${m.scalingFactor}${m.cropTo !== null ? `, images cropped to ${m.cropTo} x ${m.cropTo}` : ""}`,
    ...r.inputs.map((t) => tensorLine("input", t)),
    ...r.outputs.map((t) => tensorLine("output", t)),
  ];
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: exportSpec, run: runExport };
