// trainTeacher (train-teacher.ts) on a two-class 2-D Gaussian data set, whose posterior mean
// E[x | z_t, c] is closed-form: the loss falls, x-hat approaches that posterior mean, a resumed
// run equals an uninterrupted one bit for bit, and nothing leaks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { full, liveTensors, noGrad, randint, randn, tensor, tidy, ConfigError, Generator, type Tensor } from "../../src/engine/index.js";
import type { LabeledDataset } from "../../src/diffusion/dataset.js";
import type { Cond } from "../../src/diffusion/denoiser.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { alphaSigma } from "../../src/diffusion/schedule.js";
import { progressPrinter, trainTeacher, type TrainProgress } from "../../src/diffusion/train-teacher.js";
import { loadCheckpoint, disposeCheckpoint } from "../../src/io/checkpoint.js";
import { CheckpointError } from "../../src/io/errors.js";
import { loadMlpDenoiser } from "../../src/io/load-model.js";

const MEANS = [
  [-2, 0],
  [2, 0],
];
const STD = 0.3;

/** Class c ~ N(MEANS[c], STD^2 I). */
class TwoBlobs implements LabeledDataset {
  readonly exampleShape = [2];
  readonly numClasses = 2;
  sample(n: number, generator: Generator, opts: { labels?: Tensor } = {}): { x: Tensor; labels: Tensor } {
    return tidy(() => {
      const labels = opts.labels ? opts.labels.clone() : randint(0, 2, [n], generator);
      const x = tensor(MEANS).indexSelect(0, labels).add(randn([n, 2], generator).mul(STD));
      return { x, labels };
    });
  }
  draw(n: number, generator: Generator): { x: Tensor; cond: Cond } {
    const { x, labels } = this.sample(n, generator);
    return { x, cond: { labels } };
  }
}

/** E[x | z_t, c] for x ~ N(mu, s^2 I): mu + alpha s^2 / (alpha^2 s^2 + sigma^2) (z - alpha mu). */
function posteriorMean(z: number[], label: number, t: number): number[] {
  const { alpha, sigma } = alphaSigma(t);
  const k = (alpha * STD * STD) / (alpha * alpha * STD * STD + sigma * sigma);
  return z.map((v, i) => MEANS[label][i % 2] + k * (v - alpha * MEANS[label][i % 2]));
}

const tiny = { hidden: 32, depth: 2, fourierFeatures: 8 };
const silent = { onProgress: null };

test("trainTeacher: loss falls, x-hat approaches the closed-form posterior mean, only model/EMA/optimizer tensors stay", async () => {
  const before = liveTensors();
  const reports: TrainProgress[] = [];
  const run = await trainTeacher({ dataset: new TwoBlobs(), model: tiny, steps: 600, batchSize: 128, lr: 3e-3, emaDecay: 0.99, seed: 1, progressEvery: 100, onProgress: (p) => reports.push(p) });
  try {
    const nParams = run.model.parameters().length;
    // Kept: parameters, their EMA, Adam's two moments, and the model's frequency buffer.
    assert.equal(liveTensors() - before, 4 * nParams + 1);
    assert.deepEqual(reports.map((r) => r.step), [100, 200, 300, 400, 500, 600]);
    assert.ok(reports.every((r) => r.itPerSec > 0 && r.steps === 600 && r.etaSec >= 0));
    assert.equal(reports[5].etaSec, 0);
    assert.ok(reports[5].loss < 0.6 * reports[0].loss, `loss ${reports.map((r) => r.loss.toFixed(4)).join(" -> ")}`);

    const model = run.emaModel();
    try {
      const g = new Generator(7);
      for (const [t, tol] of [
        [0.05, 0.03],
        [0.3, 0.12],
        [0.6, 0.12],
      ] as const) {
        const { xHat, z, labels, x } = tidy(() =>
          noGrad(() => {
            const { x, labels } = new TwoBlobs().sample(256, g);
            const { alpha, sigma } = alphaSigma(t);
            const z = x.mul(alpha).add(randn([256, 2], g).mul(sigma));
            const xHat = denoiserOf(model).denoiser(z, full([256], t), { labels });
            return { xHat: xHat.toNumbers(), z: z.toNumbers(), labels: labels.toNumbers(), x: x.toNumbers() };
          }),
        );
        const exact = labels.flatMap((c, i) => posteriorMean(z.slice(2 * i, 2 * i + 2), c, t));
        const rms = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length);
        // The learned x-hat is close to the exact posterior mean ...
        assert.ok(rms(xHat, exact) < tol, `t=${t}: rms(x-hat - E[x|z,c]) = ${rms(xHat, exact)}`);
        // ... and, at small t, to the clean x: within 10% of the exact posterior mean's own
        // distance to x (about sigma_t = 0.08 there, the floor any denoiser has).
        if (t === 0.05) assert.ok(rms(xHat, x) < 1.1 * rms(exact, x), `t=${t}: rms(x-hat - x) = ${rms(xHat, x)}, exact ${rms(exact, x)}`);
      }
    } finally {
      model.dispose();
    }
  } finally {
    run.dispose();
  }
  assert.equal(liveTensors(), before);
});

test("trainTeacher: 10 steps, stop, resume to 20 == 20 uninterrupted (params, EMA, optimizer)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-teacher-"));
  const before = liveTensors();
  try {
    const common = { dataset: new TwoBlobs(), model: tiny, steps: 20, batchSize: 32, warmupSteps: 5, seed: 3, ...silent };
    const straight = await trainTeacher(common);

    const path = join(dir, "teacher.safetensors");
    const controller = new AbortController();
    const first = await trainTeacher({ ...common, checkpointPath: path, checkpointEvery: 0, progressEvery: 1, onProgress: (p) => p.step === 10 && controller.abort(), signal: controller.signal });
    assert.equal(first.step, 10);
    assert.equal(first.stopped, true);
    first.dispose();
    const saved = loadCheckpoint(path);
    assert.equal(saved.metadata.step, 10);
    assert.equal(saved.metadata.stage, "teacher");
    disposeCheckpoint(saved);

    const resumed = await trainTeacher({ ...common, checkpointPath: path, resume: true });
    assert.equal(resumed.step, 20);
    assert.equal(resumed.stopped, false);
    for (const [name, p] of straight.model.named()) assert.deepEqual(resumed.model.named().get(name)!.toNumbers(), p.toNumbers(), name);
    straight.ema.averages.forEach((a, i) => assert.deepEqual(resumed.ema.averages[i].toNumbers(), a.toNumbers(), `ema ${i}`));
    const [s, r] = [straight.optimizer.stateDict(), resumed.optimizer.stateDict()];
    assert.deepEqual(r.scalars, s.scalars);
    for (const [name, t] of Object.entries(s.tensors)) assert.deepEqual(r.tensors[name].toNumbers(), t.toNumbers(), name);
    // The final checkpoint holds step 20 and loads as a model with the EMA weights.
    const loaded = loadMlpDenoiser(path);
    [...loaded.named().values()].forEach((p, i) => assert.deepEqual(p.toNumbers(), resumed.ema.averages[i].toNumbers()));
    loaded.dispose();
    straight.dispose();
    resumed.dispose();
    assert.equal(liveTensors(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("trainTeacher: resume refuses a different architecture, a missing file and a plain weights file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-teacher-"));
  try {
    const path = join(dir, "t.safetensors");
    const common = { dataset: new TwoBlobs(), model: tiny, steps: 2, batchSize: 8, ...silent };
    (await trainTeacher({ ...common, checkpointPath: path })).dispose();
    const before = liveTensors();
    await assert.rejects(trainTeacher({ ...common, model: { ...tiny, hidden: 16 }, checkpointPath: path, resume: true }), (e: Error) => e instanceof ConfigError && /model\.hidden is 32 there but 16 here/.test(e.message));
    await assert.rejects(trainTeacher({ ...common, checkpointPath: join(dir, "none.safetensors"), resume: true }), CheckpointError);
    const plain = join(dir, "plain.safetensors");
    writeFileSync(plain, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
    await assert.rejects(trainTeacher({ ...common, checkpointPath: plain, resume: true }), (e: Error) => e instanceof CheckpointError && e.message.includes(plain) && /not a fewstep checkpoint/.test(e.message));
    assert.equal(liveTensors(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("trainTeacher: invalid options are all named in one ConfigError", async () => {
  await assert.rejects(
    trainTeacher({ dataset: new TwoBlobs(), steps: 0, lr: -1, pUncond: 2, emaDecay: 1, weighting: "snr" as never, resume: true, ...silent }),
    (e: Error) =>
      e instanceof ConfigError &&
      ["steps must be an integer >= 1", "lr must be a positive number", "pUncond must be in [0, 1]", "emaDecay must be in [0, 1)", "weighting must be one of", "resume needs checkpointPath"].every((m) => e.message.includes(m)),
  );
});

test("progressPrinter: a redrawn bar on a TTY, plain lines otherwise", () => {
  const make = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
  };
  const tty = make(true);
  const log = make(false);
  for (const p of [
    { step: 50, steps: 100, loss: 0.5, itPerSec: 200, etaSec: 0.25 },
    { step: 100, steps: 100, loss: 0.25, itPerSec: 200, etaSec: 0 },
  ]) {
    progressPrinter(tty.stream)(p);
    progressPrinter(log.stream)(p);
  }
  assert.match(tty.out[0], /^\rteacher \[#{12}-{12}\] step 50\/100 {2}loss 0\.5000 {2}200 it\/s {2}ETA 0s/);
  assert.ok(!tty.out[0].endsWith("\n") && tty.out[1].endsWith("\n"), "the bar ends its line only at the last step");
  assert.deepEqual(log.out, ["teacher step 50/100  loss 0.5000  200 it/s  ETA 0s\n", "teacher step 100/100  loss 0.2500  200 it/s  ETA 0s\n"]);
});
