// The distillation stages end to end on the exact 2-D mixture teacher, tiny budgets:
// stage one moves the student toward the guided teacher; stage two writes one student per N
// whose N-step samples beat the stage-one student's own N-step DDIM; a stage stopped midway and
// resumed ends with exactly the weights of an uninterrupted run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GaussianMixture, loadMixture } from "../../src/diffusion/mixture.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { runStageOne, runStageTwo, stageOnePath, stageTwoPath } from "../../src/distill/pipeline.js";
import { ddimErrorTable } from "../../src/eval/ddim-error.js";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";
import { loadMlpDenoiser } from "../../src/io/load-model.js";
import { loadModelForSampling } from "../../src/cli/model-loading.js";

const exact = loadMixture("ring2d");
const data = new GaussianMixture(exact.spec, { dtype: "float32" });
const teacher = { kind: "exact" as const, model: exact, name: "ring2d" };
const range = { wMin: 0, wMax: 4 };
const small = { hidden: 32, depth: 2 };

function error(path: string, steps: number, ws: number[]): number[] {
  const model = loadMlpDenoiser(path);
  try {
    return ddimErrorTable(denoiserOf(model), exact, { ws, steps: [steps], n: 300, guidance: "input", modelDType: "float32", referenceSteps: 256 }).map((c) => c.meanDistance);
  } finally {
    model.dispose();
  }
}

test("stage one then stage two: per-N checkpoints, metadata, and distilled students beat DDIM of their teacher", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-distill-"));
  try {
    await runStageOne({ teacher, dataset: data, outDir: dir, range, steps: 500, student: small, onProgress: null });
    await runStageTwo({ from: stageOnePath(dir), dataset: data, outDir: dir, range, startSteps: 8, targetSteps: 2, stepsPerHalving: 300, onProgress: null });
    for (const n of [4, 2]) {
      const checkpoint = loadCheckpoint(stageTwoPath(dir, n));
      assert.deepEqual(checkpoint.metadata.distill, { stage: "two", steps: n, wMin: 0, wMax: 4, teacher: n === 4 ? stageOnePath(dir) : stageTwoPath(dir, 4) });
      disposeCheckpoint(checkpoint);
    }
    // a student refuses a w outside its range and an N it was not distilled for
    assert.throws(() => loadModelForSampling(stageTwoPath(dir, 2), { w: 4.5, steps: 2 }), /--w 4\.5: .*distilled for w in \[0, 4\]/);
    assert.throws(() => loadModelForSampling(stageTwoPath(dir, 2), { w: 1, steps: 4 }), /--steps 4: .*distilled for 2 steps; use --steps 2, or the student-N4 checkpoint/);
    const ok = loadModelForSampling(stageTwoPath(dir, 2), { w: 1, steps: 2 });
    assert.equal(ok.guidance, "input");
    ok.dispose();
    const ws = [0, 2];
    const stageOneAt2 = error(stageOnePath(dir), 2, ws);
    const studentAt2 = error(stageTwoPath(dir, 2), 2, ws);
    ws.forEach((w, i) => assert.ok(studentAt2[i] < 0.7 * stageOneAt2[i], `w = ${w}: distilled 2-step error ${studentAt2[i]} vs stage-one DDIM-2 ${stageOneAt2[i]}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a stage stopped midway and resumed ends with the weights of an uninterrupted run", async () => {
  const [a, b] = [mkdtempSync(join(tmpdir(), "fewstep-resume-a-")), mkdtempSync(join(tmpdir(), "fewstep-resume-b-"))];
  try {
    const opts = { teacher, dataset: data, range, steps: 40, student: small, batchSize: 32, checkpointEvery: 10, onProgress: null, progressEvery: 5 };
    await runStageOne({ ...opts, outDir: a });
    // stop after step 20 (the signal is checked between steps; progress every 100 -> set via onProgress)
    const controller = new AbortController();
    await runStageOne({ ...opts, outDir: b, signal: controller.signal, onProgress: (p) => p.step >= 20 && controller.abort() });
    const partial = loadCheckpoint(stageOnePath(b));
    assert.ok((partial.metadata.step as number) < 40, `stopped at ${partial.metadata.step}`);
    disposeCheckpoint(partial);
    await runStageOne({ ...opts, outDir: b, resume: true });
    const [ca, cb] = [loadCheckpoint(stageOnePath(a)), loadCheckpoint(stageOnePath(b))];
    for (const [name, value] of ca.params) assert.deepEqual(cb.params.get(name)!.toNumbers(), value.toNumbers(), `parameter ${name}`);
    assert.equal(cb.metadata.step, 40);
    disposeCheckpoint(ca);
    disposeCheckpoint(cb);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
