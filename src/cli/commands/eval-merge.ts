// `fewstep eval-merge`: one report from several `fewstep eval` runs (a sweep split across jobs or
// machines, e.g. the teacher's long DDIM-256 cells run one w at a time). The runs must share what
// makes FID numbers comparable: n, seed, splits, the reference (spec and image count) and the
// feature network (content hash and preprocessing); a mismatch is refused, naming the field.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
import type { EvalResults } from "../../eval/eval-report.js";
import type { Command, CommandSpec, ParsedFlags } from "../flags.js";

export const evalMergeSpec: CommandSpec = {
  name: "eval-merge",
  summary: "merge the results of several fewstep eval runs into one table, CSV, JSON and plots",
  usage: "fewstep eval-merge --from DIR,DIR[,...] --out-dir DIR",
  flags: [
    { name: "from", kind: "string", meta: "DIR,...", help: "out-dirs of fewstep eval runs (each holds a results.json), comma-separated; their cells are taken in this order" },
    { name: "out-dir", kind: "path", meta: "DIR", default: "runs/eval-merged", help: "results.json, results.csv, table.md, fid-vs-w-N<N>.png, fid-vs-is.png" },
  ],
  examples: ["fewstep eval-merge --from runs/eval-teacher-w0,runs/eval-teacher-w1,runs/eval-students --out-dir runs/eval-all"],
};

export async function runEvalMerge(flags: ParsedFlags): Promise<void> {
  const dirs = String(flags.from ?? "").split(",").filter((d) => d !== "");
  if (dirs.length < 2) throw new FewstepError("--from: give at least two fewstep eval out-dirs, comma-separated");
  const runs = dirs.map((dir) => {
    const path = join(dir, "results.json");
    if (!existsSync(path)) throw new FewstepError(`--from: ${path} does not exist (is ${dir} a fewstep eval out-dir?)`);
    let results: EvalResults;
    try {
      results = JSON.parse(readFileSync(path, "utf8")) as EvalResults;
    } catch (err) {
      throw new FewstepError(`--from: ${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (results.command !== "eval" || !Array.isArray(results.cells)) throw new FewstepError(`--from: ${path} is not the results.json of fewstep eval`);
    return { dir, path, results };
  });
  const { mergeEvalCells, resultsCsv, resultsTable, writeEvalPlots } = await import("../../eval/eval-report.js");
  let cells;
  try {
    cells = mergeEvalCells(runs.map((r) => ({ name: r.path, results: r.results })));
  } catch (err) {
    throw new FewstepError(`--from: ${(err as Error).message}`);
  }
  const { writeFileAtomic } = await import("../../io/atomic.js");
  const outDir = flags["out-dir"] as string;
  mkdirSync(outDir, { recursive: true });
  const base = runs[0].results;
  const ws = [...new Set(cells.map((c) => c.w))].sort((a, b) => a - b);
  const merged = { ...base, mergedFrom: runs.map((r) => r.dir), models: runs.flatMap((r) => r.results.models ?? []), cells };
  writeFileAtomic(join(outDir, "results.json"), `${JSON.stringify(merged, null, 2)}\n`);
  writeFileAtomic(join(outDir, "results.csv"), resultsCsv(cells));
  const hasIs = cells.some((c) => c.isMean !== null);
  const caption = `${hasIs ? "FID (IS)" : "FID"} of n = ${String(base.n)} samples against ${String(base.reference?.spec)} (${String(base.reference?.images)} images); seed ${String(base.seed)}; merged from ${runs.map((r) => r.dir).join(", ")}.`;
  writeFileAtomic(join(outDir, "table.md"), `${caption}\n\n${resultsTable(cells, ws)}\n`);
  const plots = writeEvalPlots(outDir, cells, `n = ${String(base.n)}, ${String(base.reference?.spec)}`);
  console.log(resultsTable(cells, ws));
  console.error(`fewstep eval-merge: ${cells.length} cells from ${runs.length} runs; wrote results.json, results.csv, table.md and ${plots.map((p) => basename(p)).join(", ")} to ${outDir}`);
}

/** The command as `fewstep` registers it. */
export const command: Command = { spec: evalMergeSpec, run: runEvalMerge };
