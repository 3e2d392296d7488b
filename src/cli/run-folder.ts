// What every long-running command does with its run folder: save the resolved flags, append
// progress to log.jsonl, print a bar (TTY) or log lines, and turn the first Ctrl-C into "finish
// this step, save a checkpoint, stop" (a second Ctrl-C quits at once).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { FewstepError } from "../engine/errors.js";
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

/** Flags every resumed run may change: where it is and how it reports, not what it trains. */
export const RESUME_MAY_DIFFER = ["resume", "out-dir", "device", "checkpoint-every"] as const;

/**
 * `--resume` continues exactly only with the flags the run started with: refuses, listing every
 * one, flags that differ from the run's saved config (`outDir/configName`), except `mayDiffer`
 * (RESUME_MAY_DIFFER plus the command's own, e.g. a teacher's constant-rate --steps). A run saved
 * without a config (made by the library, not the CLI) has nothing to compare and passes.
 * @param flags the flags as they would be saved (defaults resolved)
 * @throws FewstepError naming each flag with its new and saved value, and the config file
 */
export function checkResumeFlags(outDir: string, configName: string, flags: ParsedFlags, mayDiffer: readonly string[] = []): void {
  const path = join(outDir, configName);
  if (!existsSync(path)) return;
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    if (saved === null || typeof saved !== "object" || Array.isArray(saved)) throw new Error("not a JSON object");
  } catch (error) {
    throw new FewstepError(`--resume: cannot read the run's saved flags in ${path}: ${(error as Error).message}`);
  }
  const now = JSON.parse(JSON.stringify(flags)) as Record<string, unknown>; // as it would be saved (no undefined)
  const skip = new Set<string>(["command", ...RESUME_MAY_DIFFER, ...mayDiffer]);
  const show = (v: unknown) => (v === undefined ? "unset" : Array.isArray(v) ? v.join(",") : String(v));
  const differing = [...new Set([...Object.keys(saved), ...Object.keys(now)])]
    .filter((k) => !skip.has(k) && JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => `--${k} ${show(now[k])} (the run has ${show(saved[k])})`);
  if (differing.length === 0) return;
  throw new FewstepError(`--resume continues the run with its own flags, but ${differing.join(", ")}: drop ${differing.length === 1 ? "it" : "them"}, or start a new run in another --out-dir (saved flags: ${path})`);
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
