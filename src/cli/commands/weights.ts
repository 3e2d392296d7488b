// `fewstep weights`: a checkpoint's sampling weights (EMA when saved) without training state, the
// form the repository ships its pretrained models in.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const weightsSpec: CommandSpec = {
  name: "weights",
  summary: "write a checkpoint's sampling weights (EMA when saved) without optimizer, EMA or generator state",
  usage: "fewstep weights --in ckpt.safetensors --out weights.safetensors",
  flags: [
    { name: "in", kind: "path", meta: "FILE", help: "a fewstep checkpoint (teacher or student)" },
    { name: "out", kind: "path", meta: "FILE", help: "the weights file to write (loads anywhere the checkpoint does)" },
  ],
  examples: ["fewstep weights --in runs/fmnist-teacher/teacher.safetensors --out models/fashion-mnist/teacher.safetensors"],
};

export async function runWeights(flags: ParsedFlags): Promise<void> {
  const src = flags.in as string | undefined;
  const dst = flags.out as string | undefined;
  if (!src || !dst) throw new FewstepError("give --in (a checkpoint) and --out (the weights file to write)");
  if (!existsSync(src)) throw new FewstepError(`--in ${src}: no such file`);
  if (!existsSync(dirname(dst))) throw new FewstepError(`--out: folder ${dirname(dst)} does not exist`);
  const { saveSamplingWeights } = await import("../../io/checkpoint.js");
  const { usedEma } = saveSamplingWeights(src, dst);
  console.error(`fewstep weights: wrote the ${usedEma ? "EMA" : "trained"} weights of ${src} to ${dst}`);
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: weightsSpec, run: runWeights };
