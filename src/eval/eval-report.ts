// What `fewstep eval` writes from its cells: a CSV (one row per cell), a Markdown table laid out
// like the paper's (rows: model / sampler / N; columns: w; cells "FID (IS)"), and PNG plots of FID
// against w for each N and of FID against IS (one line per model / sampler / N, along w).
import { join } from "node:path";
import { saveLinePlot, type LineSeries } from "./line-plot.js";

/** One evaluated cell, as results.json and the writers below hold it. */
export interface ReportCell {
  model: string;
  sampler: string;
  steps: number;
  w: number;
  fid: number;
  /** null when the feature network gives no class probabilities (an ONNX network without a class output) */
  isMean: number | null;
  isStd: number | null;
  n: number;
  seconds: number;
}

/** Row key of the table: model / sampler / N. */
const rowKey = (c: ReportCell) => `${c.model}\u0000${c.sampler}\u0000${c.steps}`;

/** Rows in first-seen order, each with its cells by w. */
function rows(cells: ReportCell[]): { model: string; sampler: string; steps: number; byW: Map<number, ReportCell> }[] {
  const out = new Map<string, { model: string; sampler: string; steps: number; byW: Map<number, ReportCell> }>();
  for (const c of cells) {
    const key = rowKey(c);
    if (!out.has(key)) out.set(key, { model: c.model, sampler: c.sampler, steps: c.steps, byW: new Map() });
    out.get(key)!.byW.set(c.w, c);
  }
  return [...out.values()];
}

/** CSV with a header; numbers in full precision. */
export function resultsCsv(cells: ReportCell[]): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ["model,sampler,steps,w,fid,is_mean,is_std,n,seconds"];
  for (const c of cells) lines.push([quote(c.model), c.sampler, c.steps, c.w, c.fid, c.isMean ?? "", c.isStd ?? "", c.n, c.seconds.toFixed(1)].join(","));
  return `${lines.join("\n")}\n`;
}

/**
 * The paper's layout: one row per model / sampler / N, one column per w, cells "FID (IS)" with
 * two decimals ("FID" alone without an IS); "-" where a cell was not evaluated (a stage-two
 * student at another N, or a w outside a student's range).
 */
export function resultsTable(cells: ReportCell[], ws: number[]): string {
  const header = `| model | sampler | N | ${ws.map((w) => `w = ${w}`).join(" | ")} |`;
  const rule = `|---|---|--:|${ws.map(() => "--:").join("|")}|`;
  const body = rows(cells).map((r) => {
    const values = ws.map((w) => {
      const c = r.byW.get(w);
      return c ? `${c.fid.toFixed(2)}${c.isMean === null ? "" : ` (${c.isMean.toFixed(2)})`}` : "-";
    });
    return `| ${r.model} | ${r.sampler} | ${r.steps} | ${values.join(" | ")} |`;
  });
  return [header, rule, ...body].join("\n");
}

/**
 * Writes fid-vs-w-N<N>.png for each N (one line per model / sampler), fid-vs-w.png with every
 * model / sampler / N when there are several N, and fid-vs-is.png (one line per model / sampler / N
 * through its ws in increasing order; left out when no cell has an IS).
 * @returns the paths written
 */
export function writeEvalPlots(outDir: string, cells: ReportCell[], subtitle: string): string[] {
  const written: string[] = [];
  const stepsList = [...new Set(cells.map((c) => c.steps))].sort((a, b) => a - b);
  for (const steps of stepsList) {
    const series: LineSeries[] = rows(cells.filter((c) => c.steps === steps)).map((r) => ({
      name: `${r.model} ${r.sampler}`,
      points: [...r.byW.values()].sort((a, b) => a.w - b.w).map((c) => [c.w, c.fid] as [number, number]),
    }));
    const path = join(outDir, `fid-vs-w-N${steps}.png`);
    saveLinePlot(path, series, { title: `FID against w, N = ${steps} (${subtitle})`, xLabel: "guidance weight w", yLabel: "FID (lower is better)" });
    written.push(path);
  }
  if (stepsList.length > 1) {
    // every model / sampler / N on one set of axes: a few-step student against the teacher's many steps
    const all: LineSeries[] = rows(cells).map((r) => ({
      name: `${r.model} ${r.sampler} N=${r.steps}`,
      points: [...r.byW.values()].sort((a, b) => a.w - b.w).map((c) => [c.w, c.fid] as [number, number]),
    }));
    const path = join(outDir, "fid-vs-w.png");
    saveLinePlot(path, all, { title: `FID against w (${subtitle})`, xLabel: "guidance weight w", yLabel: "FID (lower is better)" });
    written.push(path);
  }
  if (cells.every((c) => c.isMean === null)) return written;
  const series: LineSeries[] = rows(cells).map((r) => ({
    name: `${r.model} ${r.sampler} N=${r.steps}`,
    points: [...r.byW.values()].filter((c) => c.isMean !== null).sort((a, b) => a.w - b.w).map((c) => [c.isMean!, c.fid] as [number, number]),
  }));
  const path = join(outDir, "fid-vs-is.png");
  saveLinePlot(path, series, { title: `FID against IS (${subtitle})`, xLabel: "Inception Score (each line runs through w in increasing order)", yLabel: "FID (lower is better)" });
  written.push(path);
  return written;
}

/** What a results.json of `fewstep eval` holds that merging reads. */
export interface EvalResults {
  command?: string;
  features?: Record<string, unknown>;
  classifier?: { sha256?: unknown };
  reference?: { spec?: unknown; images?: unknown };
  n?: unknown;
  seed?: unknown;
  splits?: unknown;
  models?: { name: string }[];
  cells?: ReportCell[];
}

/** The fields that must agree for two runs to share a table, as strings to compare and print. */
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

/**
 * The cells of several eval runs, in order, when they are comparable (same n, seed, splits,
 * reference and feature network) and no cell repeats.
 * @throws Error naming the run (`name`) and the field that differs, or the repeated cell
 */
export function mergeEvalCells(runs: { name: string; results: EvalResults }[]): ReportCell[] {
  const first = comparable(runs[0].results);
  for (const run of runs.slice(1)) {
    const other = comparable(run.results);
    for (const key of Object.keys(first)) {
      if (first[key] !== other[key]) throw new Error(`${run.name} has ${key} ${other[key]} but ${runs[0].name} has ${key} ${first[key]}; only runs with the same ${key} can share a table`);
    }
  }
  const cells = runs.flatMap((r) => r.results.cells ?? []);
  const seen = new Set<string>();
  for (const c of cells) {
    const key = `${c.model} ${c.sampler} N=${c.steps} w=${c.w}`;
    if (seen.has(key)) throw new Error(`the cell ${key} appears in more than one run; merge runs with distinct cells`);
    seen.add(key);
  }
  return cells;
}
