// The quick start's plumbing on a tiny budget: every method's row for every (N, w), finite
// distances, plots and the JSON written. (Its quality is measured by the full run: docs/RESULTS.md.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runQuickstart } from "../../src/eval/quickstart.js";
import { decodePng } from "../../src/io/png.js";

test("quickstart writes a report with all methods, finite distances and plots", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-quickstart-"));
  try {
    const { reportPath, rows } = await runQuickstart({
      outDir: dir,
      ws: [0, 2],
      steps: [1, 2],
      hidden: 16,
      stageOneSteps: 60,
      startSteps: 4,
      stepsPerHalving: 20,
      baselineStageOneSteps: 30,
      baselineStepsPerHalving: 10,
      n: 40,
      onProgress: null,
      log: () => {},
    });
    const methods = ["teacher DDIM", "stage-one student, DDIM", "distilled student, deterministic", "distilled student, stochastic", "single-w baseline, deterministic"];
    for (const steps of [1, 2]) {
      for (const method of methods) {
        const row = rows.find((r) => r.method === method && r.steps === steps);
        assert.ok(row, `missing row ${method} N=${steps}`);
        for (const w of [0, 2]) assert.ok(Number.isFinite(row.errors.get(w)) && row.errors.get(w)! >= 0, `${method} N=${steps} w=${w}`);
      }
    }
    const text = readFileSync(reportPath, "utf8");
    assert.match(text, /\| distilled student, stochastic \| 1 \| 1 \|/);
    assert.match(text, /\| teacher DDIM \| 2 \| 4 \|/);
    // the stages were judged against the exact teacher (rounds to the bar, the recipe's default)
    assert.match(text, /## Training to the bar[\s\S]*- stage one, round 1: DDIM-4 error \/ exact teacher's DDIM-16: w=0 \d+\.\d+, w=1 \d+\.\d+, w=2 \d+\.\d+ \(bar 0\.6\) (met|not met)/);
    assert.match(text, /- stage two N=1, round 1: 1-step error \/ exact teacher's DDIM-4: w=0/);
    for (const w of [0, 2]) {
      const png = decodePng(readFileSync(join(dir, `scatter-w${w}.png`)));
      assert.ok(png.width > png.height, "panels side by side");
    }
    // each row's distribution is scored against its own sampler's limit, beside both noise floors
    assert.match(text, /\| distilled student, stochastic \| 1 \| 1 \| stochastic-1024 \|/);
    assert.match(text, /\| distilled student, deterministic \| 1 \| 1 \| DDIM-1024 \|/);
    assert.match(text, /\| noise floor \(two draws of the limit\) \| - \| - \| stochastic-1024 \|/);
    assert.ok(existsSync(join(dir, "report.json")));
    const json = JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
    assert.equal(json.n, 40);
    for (const row of json.rows) assert.equal(row.reference, row.method === "distilled student, stochastic" ? "stochastic" : "ddim", row.method);
    for (const limit of ["ddim", "stochastic"]) {
      for (const w of [0, 2]) assert.ok(json.noiseFloor[limit][w] > 0 && Number.isFinite(json.noiseFloor[limit][w]), `noise floor ${limit} w=${w}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
