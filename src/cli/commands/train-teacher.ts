// `fewstep train-teacher`: trains a class-conditional MLP teacher on a Gaussian mixture (built-in
// or JSON), with condition dropout for guidance. The run folder gets config.json, log.jsonl and
// teacher.safetensors; Ctrl-C saves a checkpoint and stops; --resume continues exactly.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const trainTeacherSpec: CommandSpec = {
  name: "train-teacher",
  summary: "train a class-conditional MLP teacher (with condition dropout) on a Gaussian mixture",
  usage: "fewstep train-teacher [--mixture NAME|spec.json] [--out-dir DIR] [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", default: "ring2d", help: "training data: built-in ring2d, gauss64d, or a JSON spec" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/teacher", help: "run folder: config.json, log.jsonl, teacher.safetensors" },
    { name: "steps", kind: "int", meta: "N", min: 1, default: 10000, help: "optimizer steps" },
    { name: "batch-size", kind: "int", meta: "B", min: 1, default: 256, help: "examples per step" },
    { name: "lr", kind: "number", meta: "LR", min: 0, default: 1e-3, help: "peak AdamW learning rate (linear warmup over 100 steps)" },
    { name: "hidden", kind: "int", meta: "H", min: 1, default: 256, help: "MLP width" },
    { name: "depth", kind: "int", meta: "D", min: 1, default: 4, help: "residual MLP blocks" },
    { name: "p-uncond", kind: "number", meta: "P", min: 0, default: 0.1, help: "condition dropout probability (label -> null class)" },
    { name: "ema-decay", kind: "number", meta: "D", min: 0, default: 0.999, help: "EMA decay of the weights sampled with" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of initialisation, data, times, noise and dropout" },
    { name: "checkpoint-every", kind: "int", meta: "K", min: 0, default: 1000, help: "steps between checkpoints (0: only at the end)" },
    { name: "resume", kind: "string", meta: "yes|no", choices: ["yes", "no"], default: "no", help: "continue from the run folder's teacher.safetensors" },
  ],
  examples: ["fewstep train-teacher --mixture ring2d --steps 10000 --out-dir runs/ring2d-teacher", "fewstep train-teacher --out-dir runs/ring2d-teacher --resume yes"],
};

export async function runTrainTeacher(flags: ParsedFlags): Promise<void> {
  const { loadMixture } = await import("../../diffusion/mixture.js");
  const { trainTeacher } = await import("../../diffusion/train-teacher.js");
  const outDir = flags["out-dir"] as string;
  mkdirSync(outDir, { recursive: true });
  const checkpointPath = join(outDir, "teacher.safetensors");
  const resume = flags.resume === "yes";
  if (!resume && existsSync(checkpointPath)) {
    throw new Error(`${checkpointPath} exists: pass --resume yes to continue it, or choose another --out-dir`);
  }
  const { openRunFolder } = await import("../run-folder.js");
  const run = await openRunFolder(outDir, "config.json", "train-teacher", flags);
  const mixture = loadMixture(flags.mixture as string, { dtype: "float32" });
  try {
    const result = await trainTeacher({
      dataset: mixture,
      steps: flags.steps as number,
      batchSize: flags["batch-size"] as number,
      lr: flags.lr as number,
      model: { hidden: flags.hidden as number, depth: flags.depth as number },
      pUncond: flags["p-uncond"] as number,
      emaDecay: flags["ema-decay"] as number,
      seed: flags.seed as number,
      checkpointPath,
      checkpointEvery: flags["checkpoint-every"] as number,
      resume,
      signal: run.signal,
      onProgress: run.onProgress,
    });
    console.error(`fewstep train-teacher: ${result.stopped ? "stopped" : "finished"} at step ${result.step}; checkpoint ${checkpointPath}`);
    result.dispose();
  } finally {
    run.close();
    mixture.dispose();
  }
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: trainTeacherSpec, run: runTrainTeacher };
