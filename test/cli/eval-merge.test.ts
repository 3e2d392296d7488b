// fewstep eval-merge: cells of several eval runs in one table; runs that are not comparable, or
// that repeat a cell, are refused naming why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));

async function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { code: r.status, stderr: r.stderr };
}

function writeRun(dir: string, cells: { model: string; steps: number; w: number; fid: number }[], overrides: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const results = {
    command: "eval",
    features: { path: `/somewhere/${dir.length}/classifier.safetensors`, description: "classifier", kind: "classifier", sha256: "ab12" },
    reference: { spec: "fashion-mnist:test", images: 100, cache: "x" },
    n: 100,
    seed: 0,
    batchSize: 50,
    splits: 10,
    models: [...new Set(cells.map((c) => c.model))].map((name) => ({ name })),
    cells: cells.map((c) => ({ ...c, sampler: "ddim", isMean: 9, isStd: 0.1, n: 100, seconds: 1 })),
    ...overrides,
  };
  writeFileSync(join(dir, "results.json"), JSON.stringify(results));
}

test("eval-merge: one table, CSV and plots from two runs", async () => {
  const root = mkdtempSync(join(tmpdir(), "fewstep-merge-"));
  try {
    writeRun(join(root, "a"), [{ model: "teacher", steps: 256, w: 0, fid: 0.66 }, { model: "teacher", steps: 256, w: 1, fid: 1.1 }]);
    writeRun(join(root, "b"), [{ model: "student-N4", steps: 4, w: 0, fid: 1.65 }, { model: "student-N4", steps: 4, w: 1, fid: 1.75 }]);
    const out = join(root, "merged");
    const r = await runCli(["eval-merge", "--from", `${join(root, "a")},${join(root, "b")}`, "--out-dir", out]);
    assert.equal(r.code, 0, r.stderr);
    const table = readFileSync(join(out, "table.md"), "utf8");
    assert.match(table, /\| teacher \| ddim \| 256 \| 0\.66 \(9\.00\) \| 1\.10 \(9\.00\) \|/);
    assert.match(table, /\| student-N4 \| ddim \| 4 \| 1\.65 \(9\.00\) \| 1\.75 \(9\.00\) \|/);
    assert.equal(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n").length, 5);
    const merged = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    assert.equal(merged.cells.length, 4);
    assert.deepEqual(merged.mergedFrom, [join(root, "a"), join(root, "b")]);
    assert.ok(existsSync(join(out, "fid-vs-w-N4.png")) && existsSync(join(out, "fid-vs-w-N256.png")) && existsSync(join(out, "fid-vs-w.png")) && existsSync(join(out, "fid-vs-is.png")));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("eval-merge: refuses runs with another n or feature network, a repeated cell, a missing file", async () => {
  const root = mkdtempSync(join(tmpdir(), "fewstep-merge-"));
  try {
    writeRun(join(root, "a"), [{ model: "teacher", steps: 256, w: 0, fid: 0.66 }]);
    writeRun(join(root, "n"), [{ model: "student-N4", steps: 4, w: 0, fid: 1.65 }], { n: 200 });
    writeRun(join(root, "f"), [{ model: "student-N4", steps: 4, w: 0, fid: 1.65 }], { features: { kind: "classifier", sha256: "ff00" } });
    writeRun(join(root, "dup"), [{ model: "teacher", steps: 256, w: 0, fid: 0.7 }]);
    const merge = (dirs: string[]) => runCli(["eval-merge", "--from", dirs.map((d) => join(root, d)).join(","), "--out-dir", join(root, "out")]);
    let r = await merge(["a", "n"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /has n 200 but .* has n 100/);
    r = await merge(["a", "f"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /same features/);
    r = await merge(["a", "dup"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /teacher ddim N=256 w=0 appears in more than one run/);
    r = await merge(["a", "missing"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing[/\\]results\.json does not exist/);
    assert.ok(!existsSync(join(root, "out", "table.md")), "nothing written on a refused merge");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("eval-merge: a results.json from before --features (classifier block only) merges with a new one of the same classifier", async () => {
  const root = mkdtempSync(join(tmpdir(), "fewstep-merge-"));
  try {
    writeRun(join(root, "old"), [{ model: "teacher", steps: 256, w: 0, fid: 0.66 }], { features: undefined, classifier: { path: "c.safetensors", sha256: "ab12", testAccuracy: 0.9 } });
    writeRun(join(root, "new"), [{ model: "student-N4", steps: 4, w: 0, fid: 0.51 }]);
    writeRun(join(root, "other"), [{ model: "student-N1", steps: 1, w: 0, fid: 0.7 }], { features: undefined, classifier: { sha256: "ff00" } });
    let r = await runCli(["eval-merge", "--from", `${join(root, "old")},${join(root, "new")}`, "--out-dir", join(root, "out")]);
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(["eval-merge", "--from", `${join(root, "new")},${join(root, "other")}`, "--out-dir", join(root, "out2")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /same features/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
