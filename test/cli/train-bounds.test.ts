// `fewstep train-teacher` and `fewstep distill` refuse a --batch-size whose activations would not
// fit in memory, fast and before making a run folder (issue 18: "Invalid array length" before).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-bounds-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function fewstep(...args: string[]) {
  const start = Date.now();
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
  return { ...run, ms: Date.now() - start };
}

test("train-teacher --batch-size 1e12 fails fast naming --batch-size", () => {
  const outDir = join(dir, "teacher");
  const run = fewstep("train-teacher", "--mixture", "ring2d", "--batch-size", "1000000000000", "--steps", "1", "--out-dir", outDir);
  assert.ok(run.ms < 5000, `took ${run.ms} ms`);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /training on --batch-size 1000000000000 of \[2\] needs about .* GiB .* of memory is available: lower --batch-size/);
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.ok(!existsSync(outDir), "no run folder");
});

test("distill stage-one --batch-size 1e12 fails fast naming --batch-size", () => {
  const outDir = join(dir, "distill");
  const run = fewstep("distill", "stage-one", "--mixture", "ring2d", "--batch-size", "1000000000000", "--steps", "1", "--out-dir", outDir);
  assert.ok(run.ms < 5000, `took ${run.ms} ms`);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /distilling on --batch-size 1000000000000 of \[2\] needs about .* GiB .* lower --batch-size/);
});
