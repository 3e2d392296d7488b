// `fewstep eval-merge`: one report from several `fewstep eval` runs (a sweep split across jobs or
// machines, e.g. the teacher's long DDIM-256 cells run one w at a time). The runs must share what
// makes FID numbers comparable: n, seed, splits, the reference (spec and image count) and the
// feature network (content hash and preprocessing); a mismatch is refused, naming the field.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { FewstepError } from "../../engine/errors.js";
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

/** What a results.json holds that this command reads. */
interface EvalResults {
  command?: string;
  features?: Record<string, unknown>;
  classifier?: { sha256?: unknown };
  reference?: { spec?: unknown; images?: unknown };
  n?: unknown;
  seed?: unknown;
  splits?: unknown;
  models?: { name: string }[];
  cells?: import("../../eval/eval-report.js").ReportCell[];
}

/** The fields that must agree, as strings to compare and print. */
function comparable(r: EvalResults): Record<string, string> {
  // results.json written before --features existed name only the classifier: the same key
  const f = r.features ?? (r.classifier ? { kind: "classifier", sha256: r.classifier.sha256 } : {});
  const { path: _path, description: _description, ...featureKey } = f; // where the file lay does not matter, its content does
  return {
    n: JSON.stringify(r.n),
    seed: JSON.stringify(r.seed),
    splits: JSON.stringify(r.splits),
    reference: JSON.stringify({ spec: r.reference?.spec, images: r.reference?.images }),
    features: JSON.stringify(featureKey),
  };
}

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
  const first = comparable(runs[0].results);
  for (const run of runs.slice(1)) {
    const other = comparable(run.results);
    for (const key of Object.keys(first)) {
      if (first[key] !== other[key]) throw new FewstepError(`--from: ${run.path} has ${key} ${other[key]} but ${runs[0].path} has ${key} ${first[key]}; only runs with the same ${key} can share a table`);
    }
  }
  const cells = runs.flatMap((r) => r.results.cells!);
  const seen = new Set<string>();
  for (const c of cells) {
    const key = `${c.model} ${c.sampler} N=${c.steps} w=${c.w}`;
    if (seen.has(key)) throw new FewstepError(`--from: the cell ${key} appears in more than one run; merge runs with distinct cells`);
    seen.add(key);
  }
  const { resultsCsv, resultsTable, writeEvalPlots } = await import("../../eval/eval-report.js");
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
