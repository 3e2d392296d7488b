// Stage one from a trained teacher checkpoint: the student starts from the teacher's weights with a
// zero-initialised w path (so at first it is the conditional teacher at every w), and training
// moves its output toward the guided teacher (1 + w) x(z, c) - w x(z, null).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Generator, full, rand, randn, tidy } from "../../src/engine/index.js";
import { guided } from "../../src/diffusion/guidance.js";
import { GaussianMixture, loadMixture } from "../../src/diffusion/mixture.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { trainTeacher } from "../../src/diffusion/train-teacher.js";
import { runStageOne, stageOnePath } from "../../src/distill/pipeline.js";
import { loadMlpDenoiser } from "../../src/io/load-model.js";

test("stage one from a teacher checkpoint starts as the conditional teacher and learns the guided one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-s1-teacher-"));
  const exact = loadMixture("ring2d");
  const data = new GaussianMixture(exact.spec, { dtype: "float32" });
  try {
    const teacherPath = join(dir, "teacher.safetensors");
    const trained = await trainTeacher({ dataset: data, steps: 400, batchSize: 128, model: { hidden: 32, depth: 2 }, emaDecay: 0.9, onProgress: null, checkpointPath: teacherPath });
    trained.dispose();
    const teacher = loadMlpDenoiser(teacherPath);
    const fresh = loadMlpDenoiser(teacherPath, { wInput: true });
    const w = 3;
    const [startGap, startToCond] = tidy(() => {
      const g = new Generator(5);
      const z = randn([500, 2], g);
      const t = rand([500], g);
      const labels = data.sample(500, g).labels;
      const wTensor = full([500], w);
      const target = guided(denoiserOf(teacher), w)(z, t, { labels });
      const cond = denoiserOf(teacher).denoiser(z, t, { labels });
      const student = denoiserOf(fresh).denoiser(z, t, { labels, w: wTensor });
      return [student.sub(target).square().mean().item(), student.sub(cond).abs().max().item()];
    });
    assert.equal(startToCond, 0, "the fresh student must equal the conditional teacher exactly");

    await runStageOne({ teacher: { kind: "checkpoint", path: teacherPath }, dataset: data, outDir: dir, range: { wMin: 0, wMax: 4 }, steps: 300, lr: 1e-3, onProgress: null });
    const student = loadMlpDenoiser(stageOnePath(dir));
    const endGap = tidy(() => {
      const g = new Generator(5);
      const z = randn([500, 2], g);
      const t = rand([500], g);
      const labels = data.sample(500, g).labels;
      const target = guided(denoiserOf(teacher), w)(z, t, { labels });
      return denoiserOf(student).denoiser(z, t, { labels, w: full([500], w) }).sub(target).square().mean().item();
    });
    assert.ok(endGap < 0.5 * startGap, `distance to the guided teacher at w = ${w}: ${startGap} -> ${endGap}`);
    for (const m of [teacher, fresh, student]) m.dispose();
  } finally {
    data.dispose();
    exact.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
