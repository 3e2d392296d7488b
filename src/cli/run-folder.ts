// What every long-running command does with its run folder: save the resolved flags, append
// progress to log.jsonl, print a bar (TTY) or log lines, and turn the first Ctrl-C into "finish
// this step, save a checkpoint, stop" (a second Ctrl-C quits at once).
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TrainProgress } from "../diffusion/train-teacher.js";
import type { ParsedFlags } from "./flags.js";

export interface RunFolder {
  signal: AbortSignal;
  /** Prints (one bar per stage label) and logs a progress report. */
  onProgress(p: TrainProgress & { stage?: string }): void;
  /** Appends one event (e.g. a grid written) to log.jsonl. */
  log(event: Record<string, unknown>): void;
  close(): void;
}

/**
 * Makes `outDir` and writes `configName` there. Call it only once every flag is validated and the
 * data and models have loaded (validate first): a failed check must leave no folder behind.
 */
export async function openRunFolder(outDir: string, configName: string, command: string, flags: ParsedFlags): Promise<RunFolder> {
  const { progressPrinter } = await import("../diffusion/train-teacher.js");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, configName), JSON.stringify({ command, ...flags }, null, 2));
  const logPath = join(outDir, "log.jsonl");
  const controller = new AbortController();
  const onSigint = () => {
    console.error("\nfewstep: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)");
    controller.abort();
    process.once("SIGINT", () => process.exit(130));
  };
  process.once("SIGINT", onSigint);
  const printers = new Map<string, ReturnType<typeof progressPrinter>>();
  return {
    signal: controller.signal,
    onProgress: (p) => {
      const label = p.stage ?? command;
      if (!printers.has(label)) printers.set(label, progressPrinter(process.stderr, label));
      printers.get(label)!(p);
      appendFileSync(logPath, `${JSON.stringify({ time: new Date().toISOString(), ...p })}\n`);
    },
    log: (event) => appendFileSync(logPath, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`),
    close: () => process.removeListener("SIGINT", onSigint),
  };
}
