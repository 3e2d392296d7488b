// `fewstep quickstart`: the README's main command. Distills the exact teacher of the built-in
// 2-D mixture (stage one, stage two, single-w baselines) and writes a report with tables and plots.
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const quickstartSpec: CommandSpec = {
  name: "quickstart",
  summary: "guided distillation end to end on the built-in 2-D mixture, with a report (minutes on 2 CPU cores)",
  usage: "fewstep quickstart [--out-dir DIR] [flags]",
  flags: [
    { name: "mixture", kind: "string", meta: "NAME|FILE", default: "ring2d", help: "the mixture and its exact teacher (plots for 2-D only): ring2d, gauss64d or a JSON spec" },
    { name: "hidden", kind: "int", meta: "H", min: 1, help: "student MLP width (default: the recipe's, src/distill/recipe.ts)" },
    { name: "depth", kind: "int", meta: "D", min: 1, help: "student MLP residual blocks (default: the recipe's)" },
    { name: "baselines", kind: "boolean", default: true, help: "also train and score the single-w baselines" },
    { name: "start-steps", kind: "int", meta: "N0", min: 2, help: "steps of the first stage-two teacher (default: the recipe's)" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/quickstart", help: "where checkpoints, report.md, report.json and scatter-w*.png go" },
    { name: "seed", kind: "int", meta: "S", min: 0, default: 0, help: "seed of training and of the scored noise" },
    { name: "n", kind: "int", meta: "N", min: 10, default: 1000, help: "pairs of (noise, label) scored per cell" },
    { name: "stage-one-steps", kind: "int", meta: "K", min: 1, help: "stage-one optimizer steps per round (default: the recipe's)" },
    { name: "steps-per-halving", kind: "int", meta: "K", min: 1, help: "stage-two optimizer steps of every halving (default: the recipe's, longer for the last halvings)" },
    { name: "rounds", kind: "int", meta: "R", min: 1, help: "rounds a stage may train to meet its bar against the exact teacher; 1: no check (default: the recipe's)" },
  ],
  examples: ["npx fewstep quickstart", "npx fewstep quickstart --out-dir runs/qs2 --seed 1"],
};

export async function runQuickstartCommand(flags: ParsedFlags): Promise<void> {
  const { runQuickstart } = await import("../../eval/quickstart.js");
  const { openRunFolder } = await import("../run-folder.js");
  const run = await openRunFolder(flags["out-dir"] as string, "config.json", "quickstart", flags);
  const result = await runQuickstart({
    outDir: flags["out-dir"] as string,
    mixture: flags.mixture as string,
    baselines: flags.baselines === true,
    startSteps: flags["start-steps"] as number | undefined,
    hidden: flags.hidden as number | undefined,
    depth: flags.depth as number | undefined,
    seed: flags.seed as number,
    n: flags.n as number,
    stageOneSteps: flags["stage-one-steps"] as number | undefined,
    stepsPerHalving: flags["steps-per-halving"] as number | undefined,
    rounds: flags.rounds as number | undefined,
    onProgress: run.onProgress,
  });
  run.close();
  console.error(`fewstep quickstart: done in ${result.seconds.toFixed(0)} s; report: ${result.reportPath}`);
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: quickstartSpec, run: runQuickstartCommand };
