// The `fewstep` command: parses arguments and calls the layers below. Holds no math.
// Errors: one line on stderr (the stack with --debug), exit code 1.
import { capThreads } from "../engine/bounds.js";
import { FewstepError } from "../engine/errors.js";
import type { Command } from "./flags.js";

const HELP = `fewstep: guided diffusion distillation on libtorch

Usage: fewstep <command> [options]

Commands:
  quickstart    guided distillation end to end on a built-in 2-D mixture, with a report
  sample        sample an exact mixture teacher or a trained model to .npy (images: or a PNG grid);
                --runtime onnx samples an exported model.onnx on onnxruntime-node, without libtorch
  train-teacher train a class-conditional teacher: an MLP on a mixture or a U-Net on images
  train-autoencoder  the KL autoencoder of a latent diffusion model (latent teachers train on its latents)
  encode        images -> a latent cache (diffusion latents and labels) through an autoencoder
  decode        latents (.npy or a latent cache) -> a PNG grid through the autoencoder
  distill stage-one  a student that takes w and matches the guided teacher in one call
  distill stage-two  progressive distillation of that student down to 1-4 steps
  grids         image teacher (DDIM at several N) next to its distilled students, one PNG per w
  weights       a checkpoint's sampling weights without training state (for shipping)
  export        a checkpoint as an ONNX model (x-hat from z, t, class[, w]) for onnxruntime
  eval-mixture  error table against the exact mixture teacher's 1024-step map (DDIM, or the sampler's own limit), with plots
  train-classifier  the small CNN behind eval's FID and IS (reports its test accuracy)
  eval          FID and IS of image teachers and students across samplers, N and w: table and plots
  eval-autoencoder  reconstruction FID, IS and PSNR of an autoencoder (the floor of its latent models)
  eval-merge    one table and set of plots from several eval runs (a sweep split across jobs)
  serve         serve the browser demo (web/dist, from npm run build:web) on localhost
  demo          train a small MLP on two spirals with the engine; prints the loss falling
                --steps N (1000)  --seed S (0)
  help          this text

Each command documents its flags: fewstep <command> --help

Options for every command:
  --threads N   libtorch's thread count (default: all cores, or FEWSTEP_THREADS)
  --debug       print the stack of an error`;

function parseFlags(args: string[], known: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new FewstepError(`unexpected argument '${arg}'; see \`fewstep help\``);
    const [name, inline] = arg.slice(2).split("=", 2);
    if (!known.includes(name)) throw new FewstepError(`unknown flag --${name}; known: ${known.map((k) => `--${k}`).join(", ")}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new FewstepError(`--${name} needs a value`);
    flags[name] = value;
  }
  return flags;
}

function integerFlag(flags: Record<string, string>, name: string, fallback: number, min: number): number {
  if (!(name in flags)) return fallback;
  const value = Number(flags[name]);
  if (!Number.isInteger(value) || value < min) throw new FewstepError(`--${name} must be an integer >= ${min}, got '${flags[name]}'`);
  return value;
}

// Commands with declared flags (src/cli/flags.ts), loaded lazily so `--help` needs no libtorch.
const COMMANDS: Record<string, () => Promise<Command>> = {
  sample: () => import("./commands/sample.js").then((m) => m.command),
  "train-teacher": () => import("./commands/train-teacher.js").then((m) => m.command),
  "train-autoencoder": () => import("./commands/train-autoencoder.js").then((m) => m.command),
  encode: () => import("./commands/encode.js").then((m) => m.encodeCommand),
  "eval-autoencoder": () => import("./commands/eval-autoencoder.js").then((m) => m.command),
  decode: () => import("./commands/encode.js").then((m) => m.decodeCommand),
  quickstart: () => import("./commands/quickstart.js").then((m) => m.command),
  "distill stage-one": () => import("./commands/distill.js").then((m) => m.stageOneCommand),
  "distill stage-two": () => import("./commands/distill.js").then((m) => m.stageTwoCommand),
  "eval-mixture": () => import("./commands/eval-mixture.js").then((m) => m.command),
  grids: () => import("./commands/grids.js").then((m) => m.command),
  weights: () => import("./commands/weights.js").then((m) => m.command),
  export: () => import("./commands/export.js").then((m) => m.command),
  "train-classifier": () => import("./commands/train-classifier.js").then((m) => m.command),
  eval: () => import("./commands/eval.js").then((m) => m.command),
  "eval-merge": () => import("./commands/eval-merge.js").then((m) => m.command),
  serve: () => import("./commands/serve.js").then((m) => m.command),
};

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  try {
    const threadsAt = args.indexOf("--threads");
    if (threadsAt >= 0) {
      const threads = capThreads(integerFlag({ threads: args[threadsAt + 1] }, "threads", 0, 1), "--threads");
      args.splice(threadsAt, 2);
      process.env.FEWSTEP_THREADS = String(threads); // read when the engine loads (lazily, below)
    }
    // two-word commands: `fewstep distill stage-one`
    const twoWord = args.length >= 2 && `${args[0]} ${args[1]}` in COMMANDS;
    const [command, ...rest] = twoWord ? [`${args[0]} ${args[1]}`, ...args.slice(2)] : args;
    if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      console.log(HELP);
      return 0;
    }
    if (command === "demo") {
      if (rest.includes("--help")) {
        console.log("fewstep demo [--steps N (1000)] [--seed S (0)]\n\nTrains a 3-layer MLP on two spirals; prints loss and accuracy.");
        return 0;
      }
      const flags = parseFlags(rest, ["steps", "seed"]);
      const { runDemo } = await import("./demo.js"); // lazy: loads libtorch only when needed
      runDemo({ steps: integerFlag(flags, "steps", 1000, 1), seed: integerFlag(flags, "seed", 0, 0) });
      return 0;
    }
    const declared = COMMANDS[command];
    if (declared) {
      const { spec, run } = await declared();
      const { helpText, parseFlags } = await import("./flags.js");
      if (rest.includes("--help")) {
        console.log(helpText(spec));
        return 0;
      }
      await run(parseFlags(rest, spec));
      return 0;
    }
    throw new FewstepError(`unknown command '${command}'; see \`fewstep help\``);
  } catch (error) {
    if (debug || !(error instanceof Error)) console.error(error);
    else console.error(`fewstep: ${error.message}`);
    return 1;
  }
}
