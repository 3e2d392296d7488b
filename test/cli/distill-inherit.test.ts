// `fewstep distill stage-two` continues the run it is given: the data (here a 3-D mixture that is
// not built in) and the w range come from the stage-one checkpoint, a flag that contradicts them
// is one error naming both values, and its --help names only what it takes. eval-mixture, given
// such a student, scores it against that same mixture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const fewstep = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });

const spec = {
  means: [[[0.5, 0, -0.5], [-1, 1, 0]], [[0, -1, 1], [1, 1, 1]]],
  stds: [[0.2, 0.3], [0.1, 0.25]],
  weights: [[1, 2], [1, 1]],
};

test("distill stage-two inherits the run's data and w range and refuses a contradicting flag", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-inherit-"));
  try {
    const specPath = join(dir, "mix3d.json");
    writeFileSync(specPath, JSON.stringify(spec));
    const out = join(dir, "run");
    const one = fewstep("distill", "stage-one", "--mixture", specPath, "--steps", "20", "--hidden", "16", "--depth", "1", "--batch-size", "32", "--w-max", "2", "--out-dir", out);
    assert.equal(one.status, 0, one.stderr);

    const twoArgs = ["distill", "stage-two", "--out-dir", out, "--start-steps", "4", "--target-steps", "2", "--steps-per-halving", "10", "--batch-size", "32"];
    const wrongData = fewstep(...twoArgs, "--mixture", "ring2d");
    assert.equal(wrongData.status, 1);
    assert.match(wrongData.stderr, /--mixture ring2d: .*stage-one\.safetensors was distilled on --mixture .*mix3d\.json; leave the data out/);
    const wrongRange = fewstep(...twoArgs, "--w-max", "4");
    assert.equal(wrongRange.status, 1);
    assert.match(wrongRange.stderr, /w range \[0, 4\]: .*was distilled for w in \[0, 2\]/);

    const two = fewstep(...twoArgs);
    assert.equal(two.status, 0, two.stderr);
    const checkpoint = loadCheckpoint(join(out, "student-N2.safetensors"));
    try {
      const distill = checkpoint.metadata.distill as { wMin: number; wMax: number; data: { kind: string; spec: unknown } };
      assert.deepEqual([distill.wMin, distill.wMax], [0, 2]);
      assert.equal(distill.data.kind, "mixture");
      assert.deepEqual(distill.data.spec, spec);
      assert.equal((checkpoint.metadata.model as { config: { dim: number } }).config.dim, 3);
    } finally {
      disposeCheckpoint(checkpoint);
    }

    // eval-mixture scores a student against the mixture it records (3-D here: ring2d, the old
    // default, would not even fit), and refuses another one naming both
    const evalArgs = ["eval-mixture", "--model", join(out, "student-N2.safetensors"), "--steps", "2", "--ws", "0,2", "--n", "20"];
    const scored = fewstep(...evalArgs);
    assert.equal(scored.status, 0, scored.stderr);
    assert.match(scored.stderr, /on .*mix3d\.json/);
    const wrongEval = fewstep(...evalArgs, "--mixture", "ring2d");
    assert.equal(wrongEval.status, 1);
    assert.match(wrongEval.stderr, /--mixture ring2d: .*student-N2\.safetensors was distilled on --mixture .*mix3d\.json; leave --mixture out/);

    const help = fewstep("distill", "stage-two", "--help");
    assert.equal(help.status, 0);
    assert.doesNotMatch(help.stdout + help.stderr, /--teacher/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a stage-two student's refusal suggests only a checkpoint halving can make", async () => {
  const { distilledForProblem } = await import("../../src/distill/metadata.js");
  const d = { stage: "two" as const, steps: 4, wMin: 0, wMax: 4, teacher: "t" };
  assert.match(distilledForProblem(d, "student-N4", { steps: 2 })!, /use --steps 4, or the student-N2 checkpoint/);
  assert.match(distilledForProblem(d, "student-N4", { steps: 8 })!, /or the student-N8 checkpoint/);
  const three = distilledForProblem(d, "student-N4", { steps: 3 })!;
  assert.doesNotMatch(three, /student-N3/);
  assert.match(three, /stage two halves N, so no student of 3 steps comes from this run/);
  assert.equal(distilledForProblem(d, "student-N4", { steps: 4, w: 2 }), null);
});
