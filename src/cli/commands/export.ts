// `fewstep export`: a teacher or distilled student checkpoint as an ONNX model (opset 17) that runs
// in onnxruntime (Node, the browser) without Python or libtorch. The graph and its contract are
// described in src/export/export-onnx.ts.
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const exportSpec: CommandSpec = {
  name: "export",
  summary: "write a checkpoint's denoiser (EMA weights when saved) as an ONNX model that outputs x-hat",
  usage: "fewstep export --model ckpt.safetensors --out model.onnx",
  flags: [
    { name: "model", kind: "path", meta: "FILE", help: "a fewstep checkpoint or weights file (teacher or student, MLP or U-Net)" },
    { name: "out", kind: "path", meta: "FILE", help: "the .onnx file to write (inputs z, t, class[, w]; output x_hat; batch dimension free)" },
    { name: "class-names", kind: "string", meta: "NAMES", help: "class names for the file's metadata (what the browser demo shows): fashion-mnist, or a comma-separated list, one per class (default: the names the checkpoint saved from its data, else none)" },
  ],
  examples: [
    "fewstep export --model models/fashion-mnist/student-N4.safetensors --out web/public/student-N4.onnx --class-names fashion-mnist",
    "fewstep export --model runs/quickstart/student-N4.safetensors --out student.onnx",
  ],
};

export async function runExport(flags: ParsedFlags): Promise<void> {
  const model = flags.model as string | undefined;
  const out = flags.out as string | undefined;
  if (!model || !out) throw new FewstepError("give --model (a checkpoint) and --out (the .onnx file to write)");
  if (!existsSync(model)) throw new FewstepError(`--model ${model}: no such file`);
  if (!statSync(model).isFile()) throw new FewstepError(`--model ${model}: not a file`);
  if (!out.toLowerCase().endsWith(".onnx")) throw new FewstepError(`--out ${out}: the file name must end in .onnx`);
  if (!existsSync(dirname(resolve(out)))) throw new FewstepError(`--out: folder ${dirname(out)} does not exist`);
  const { exportCheckpointToOnnx } = await import("../../export/export-onnx.js");
  const { writeFileAtomic } = await import("../../io/atomic.js");
  let classNames: string[] | undefined;
  if (flags["class-names"] !== undefined) {
    const { FASHION_MNIST_CLASSES } = await import("../../io/datasets.js");
    const given = String(flags["class-names"]);
    classNames = given === "fashion-mnist" ? [...FASHION_MNIST_CLASSES] : given.split(",").map((n) => n.trim());
    if (classNames.some((n) => n === "")) throw new FewstepError(`--class-names ${given}: a name is empty; give fashion-mnist or NAME,NAME,... (one per class)`);
  }
  const result = exportCheckpointToOnnx(model, { classNames });
  writeFileAtomic(out, result.bytes);
  const m = result.metadata;
  const shape = (s: (number | string)[]) => `[${s.join(", ")}]`;
  console.log(`fewstep export: wrote ${out} (${(result.bytes.length / 1e6).toFixed(2)} MB, opset ${result.opset}, ${result.parameterCount.toLocaleString("en-US")} parameters, ${m.weights === "ema" ? "EMA" : "trained"} weights)`);
  console.log(`  model   ${m.kind}, ${m.prediction}-prediction, ${m.numClasses} classes (class ${m.numClasses} = null)${m.steps !== null ? `, distilled for ${m.steps} steps` : ""}${m.wRange ? `, w in [${m.wRange[0]}, ${m.wRange[1]}]` : ""}`);
  for (const input of result.inputs) console.log(`  input   ${input.name.padEnd(6)}${input.type.padEnd(8)}${shape(input.shape)}`);
  console.log(`  output  ${result.output.name.padEnd(6)}${result.output.type.padEnd(8)}${shape(result.output.shape)}`);
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: exportSpec, run: runExport };
