// MlpDenoiser (mlp-denoiser.ts), its checkpoints (io/checkpoint.ts) and loader
// (io/load-mlp-denoiser.ts): shapes and names, the null class, the v -> x-hat conversion checked
// against alpha and sigma computed in plain JS, the zero-initialised w path (a student built from
// a teacher computes exactly the teacher's x-hat at every w), checkpoint round trips and errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdamW, ConfigError, Generator, ShapeError, TorchError, full, liveTensors, noGrad, rand, randint, randn, tidy, type Tensor } from "../../src/engine/index.js";
import { denoiserOf, noiseLevel, xHatFromOutput } from "../../src/diffusion/parameterization.js";
import { alphaSigma } from "../../src/diffusion/schedule.js";
import { W_PATH_PREFIX } from "../../src/nn/cond-embedding.js";
import { MlpDenoiser, resolveMlpDenoiserConfig, type MlpDenoiserConfig } from "../../src/nn/mlp-denoiser.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { disposeCheckpoint, loadCheckpoint, saveCheckpoint } from "../../src/io/checkpoint.js";
import { CheckpointError } from "../../src/io/errors.js";
import { loadMlpDenoiser } from "../../src/io/load-model.js";
import { saveSafetensors } from "../../src/io/safetensors.js";
import { toHostRecord } from "../../src/io/tensor-bridge.js";
import { assertClose } from "../helpers/assert-close.js";

const small = { dim: 3, numClasses: 4, hidden: 16, depth: 2, fourierFeatures: 4 };

function make(config: Partial<MlpDenoiserConfig> = {}, seed = 0): MlpDenoiser {
  return new MlpDenoiser(new ParamStore({ seed }), { ...small, ...config });
}

/** A batch of n inputs: z, t in [0, 1], labels in 0..C (C = null), w in [0, 8]. */
function batch(n: number, seed: number): { z: Tensor; t: Tensor; labels: Tensor; w: Tensor } {
  const g = new Generator(seed);
  return { z: randn([n, small.dim], g), t: rand([n], g), labels: randint(0, small.numClasses + 1, [n], g), w: rand([n], g).mul(8) };
}

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-mlp-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("MlpDenoiser: output shape, PyTorch-style names and shapes, no tensors left by forward", () => {
  const model = make();
  const names = [...model.named()].map(([k, v]) => `${k}:${v.shape.join("x")}`);
  const block = (k: number) => [`blocks.${k}.norm.weight:16`, `blocks.${k}.norm.bias:16`, ...["fc1", "emb", "fc2"].flatMap((l) => [`blocks.${k}.${l}.weight:16x16`, `blocks.${k}.${l}.bias:16`])];
  assert.deepEqual(names, [
    "input.weight:16x3",
    "input.bias:16",
    "time_embed.0.weight:16x8",
    "time_embed.0.bias:16",
    "time_embed.2.weight:16x16",
    "time_embed.2.bias:16",
    "class_embed.weight:5x16", // numClasses + 1 rows: the last is the null class
    ...block(0),
    ...block(1),
    "out_norm.weight:16",
    "out_norm.bias:16",
    "output.weight:3x16",
    "output.bias:3",
  ]);
  const before = liveTensors();
  tidy(() => {
    const { z, t, labels } = batch(5, 1);
    const xHat = denoiserOf(model).denoiser(z, t, { labels });
    assert.deepEqual(xHat.shape, [5, 3]);
    assert.equal(xHat.dtype, "float32");
    assert.ok(xHat.isfinite().logicalNot().sum().item() === 0);
  });
  assert.equal(liveTensors(), before);
  model.dispose();
});

test("MlpDenoiser: the null label (numClasses) is a class of its own; beyond it is an error", () =>
  tidy(() => {
    const model = make();
    const { z, t } = batch(6, 2);
    const nullOut = denoiserOf(model).denoiser(z, t, { labels: full([6], small.numClasses, { dtype: "int64" }) });
    const classOut = denoiserOf(model).denoiser(z, t, { labels: full([6], 0, { dtype: "int64" }) });
    assert.ok(nullOut.isfinite().logicalNot().sum().item() === 0);
    assert.ok(nullOut.sub(classOut).abs().max().item() > 1e-4, "the null class must change the output");
    assert.throws(() => denoiserOf(model).denoiser(z, t, { labels: full([6], small.numClasses + 1, { dtype: "int64" }) }), TorchError);
    model.dispose();
  }));

test("MlpDenoiser: bad input shapes and a missing w are ShapeErrors naming the shapes", () =>
  tidy(() => {
    const model = make();
    const { z, t, labels } = batch(4, 3);
    assert.throws(() => denoiserOf(model).denoiser(randn([4, 2], new Generator(0)), t, { labels }), /z has shape \[4,2\] but the model needs \[n, 3\]/);
    assert.throws(() => denoiserOf(model).denoiser(z, t.unsqueeze(1), { labels }), (e: Error) => e instanceof ShapeError && /t has shape \[4,1\]/.test(e.message));
    assert.throws(() => denoiserOf(model).denoiser(z, t, { labels: labels.narrow(0, 0, 3) }), /cond\.labels has shape \[3\]/);
    const student = make({ wInput: true });
    assert.throws(() => denoiserOf(student).denoiser(z, t, { labels }), /takes the guidance weight: pass cond\.w/);
    model.dispose();
    student.dispose();
  }));

test("MlpDenoiser: prediction 'v' returns alpha z - sigma v-hat (alpha, sigma from lambda(t) in float64 JS); 'x' returns the output", () =>
  tidy(() => {
    const v = make({ prediction: "v" });
    const { z, t, labels } = batch(8, 4);
    const raw = v.forwardRaw(z, noiseLevel(t), { labels }).toNumbers();
    const ts = t.toNumbers();
    const zs = z.toNumbers();
    const expected = zs.map((zi, i) => {
      const { alpha, sigma } = alphaSigma(ts[Math.floor(i / 3)]);
      return alpha * zi - sigma * raw[i];
    });
    assertClose(denoiserOf(v).denoiser(z, t, { labels }).toNumbers(), expected, { atol: 2e-6, rtol: 1e-5, what: "x-hat" });
    const x = make({ prediction: "x" });
    assert.deepEqual(denoiserOf(x).denoiser(z, t, { labels }).toNumbers(), x.forwardRaw(z, noiseLevel(t), { labels }).toNumbers());
    v.dispose();
    x.dispose();
  }));

test("w path: a student from the same seed, from addWInput() and from a teacher checkpoint equals the teacher exactly at any w", () =>
  withTmp((dir) => {
    const teacher = make({}, 5);
    const fromSeed = make({ wInput: true }, 5);
    const added = make({}, 5).addWInput();
    const path = join(dir, "teacher.safetensors");
    saveCheckpoint(path, { params: teacher.named(), metadata: { model: teacher.metadata(), step: 0 } });
    const loaded = loadMlpDenoiser(path, { wInput: true, seed: 9 });
    assert.equal(loaded.config.wInput, true);
    assert.deepEqual([...loaded.named().keys()].filter((k) => k.startsWith(W_PATH_PREFIX)), ["w_embed.0.weight", "w_embed.0.bias", "w_embed.2.weight", "w_embed.2.bias"]);
    // Only the last layer is zero; the first is random, so the path can learn.
    assert.ok(loaded.named().get("w_embed.0.weight")!.abs().sum().item() > 0);
    assert.equal(loaded.named().get("w_embed.2.weight")!.abs().sum().item(), 0);
    assert.equal(loaded.named().get("w_embed.2.bias")!.abs().sum().item(), 0);

    tidy(() => {
      const { z, t, labels, w } = batch(32, 6);
      const want = denoiserOf(teacher).denoiser(z, t, { labels }).toNumbers();
      for (const student of [fromSeed, added, loaded]) {
        assert.deepEqual(denoiserOf(student).denoiser(z, t, { labels, w }).toNumbers(), want);
        assert.deepEqual(denoiserOf(student).denoiser(z, t, { labels, w: w.mul(0) }).toNumbers(), want);
      }
      // The w path is not dead: one backward gives its last layer a non-zero gradient.
      denoiserOf(loaded).denoiser(z, t, { labels, w }).square().sum().backward();
      assert.ok(loaded.named().get("w_embed.2.weight")!.grad!.abs().sum().item() > 0);
    });
    // A w model cannot silently lose its w input.
    const studentPath = join(dir, "student.safetensors");
    saveCheckpoint(studentPath, { params: loaded.named(), metadata: { model: loaded.metadata() } });
    assert.throws(() => loadMlpDenoiser(studentPath, { wInput: false }), ConfigError);
    const again = loadMlpDenoiser(studentPath);
    assert.equal(again.config.wInput, true);
    for (const m of [teacher, fromSeed, added, loaded, again]) m.dispose();
    assert.throws(() => make({ wInput: true }).addWInput(), /already takes w/);
  }));

test("checkpoint: params, EMA, optimizer state, generator state and metadata round-trip; the loader prefers EMA", () =>
  withTmp((dir) => {
    const before = liveTensors();
    const model = make({ prediction: "x" }, 2);
    const opt = new AdamW(model.parameters(), { lr: 0.01 });
    tidy(() => {
      const { z, t, labels } = batch(4, 7);
      denoiserOf(model).denoiser(z, t, { labels }).square().mean().backward();
      opt.step();
    });
    const ema = tidy(() => noGrad(() => new Map([...model.named()].map(([k, p]) => [k, p.mul(0.5).add(1)]))));
    const generator = new Generator(11);
    randn([3], generator).dispose();
    const path = join(dir, "ckpt.safetensors");
    const metadata = { model: model.metadata(), step: 7, note: "x" };
    tidy(() => saveCheckpoint(path, { params: model.named(), ema, optimizer: opt.stateDict(), generatorState: generator.getState(), metadata }));

    const ckpt = loadCheckpoint(path);
    assert.deepEqual(ckpt.metadata, metadata);
    assert.deepEqual([...ckpt.params.keys()].sort(), [...model.named().keys()].sort());
    for (const [k, p] of model.named()) {
      assert.deepEqual(ckpt.params.get(k)!.toNumbers(), p.toNumbers(), k);
      assert.deepEqual(ckpt.ema!.get(k)!.toNumbers(), ema.get(k)!.toNumbers(), `ema ${k}`);
    }
    const state = opt.stateDict();
    assert.deepEqual(ckpt.optimizer!.scalars, state.scalars);
    for (const [k, tns] of Object.entries(state.tensors)) assert.deepEqual(ckpt.optimizer!.tensors[k].toNumbers(), tns.toNumbers(), k);
    const resumed = new Generator(0);
    resumed.setState(ckpt.generatorState!);
    tidy(() => assert.deepEqual(randn([4], resumed).toNumbers(), randn([4], generator).toNumbers()));
    disposeCheckpoint(ckpt);

    const loaded = loadMlpDenoiser(path);
    assert.deepEqual(loaded.config, model.config);
    for (const [k, p] of loaded.named()) assert.deepEqual(p.toNumbers(), ema.get(k)!.toNumbers(), k);
    loaded.dispose();
    const raw = loadMlpDenoiser(path, { ignoreEma: true });
    for (const [k, p] of raw.named()) assert.deepEqual(p.toNumbers(), model.named().get(k)!.toNumbers(), k);
    raw.dispose();

    // Without the optional parts, they come back absent.
    const bare = join(dir, "bare.safetensors");
    saveCheckpoint(bare, { params: model.named(), metadata: { model: model.metadata() } });
    const b = loadCheckpoint(bare);
    assert.equal(b.ema, undefined);
    assert.equal(b.optimizer, undefined);
    assert.equal(b.generatorState, undefined);
    disposeCheckpoint(b);

    for (const t of ema.values()) t.dispose();
    opt.dispose();
    model.dispose();
    assert.equal(liveTensors(), before);
  }));

test("checkpoint: a file that is not a fewstep checkpoint is a CheckpointError naming the path", () =>
  withTmp((dir) => {
    const model = make();
    const plain = join(dir, "plain.safetensors");
    saveSafetensors(plain, toHostRecord(model.named()), { format: "pt" });
    assert.throws(() => loadCheckpoint(plain), (e: Error) => e instanceof CheckpointError && e.message.startsWith(`${plain}: not a fewstep checkpoint`) && e.message.includes('"format"'));
    const garbage = join(dir, "garbage.bin");
    writeFileSync(garbage, "hello, not safetensors");
    assert.throws(() => loadCheckpoint(garbage), (e: Error) => e instanceof CheckpointError && e.message.includes(garbage));
    assert.throws(() => loadCheckpoint(join(dir, "missing.safetensors")), (e: Error) => e instanceof CheckpointError && e.message.includes("missing.safetensors"));
    const other = join(dir, "other.safetensors");
    saveCheckpoint(other, { params: model.named(), metadata: { model: { kind: "unet" } } });
    assert.throws(() => loadMlpDenoiser(other), /not an MLP denoiser checkpoint/);
    const wrong = join(dir, "wrong.safetensors");
    saveCheckpoint(wrong, { params: model.named(), metadata: { model: { kind: "mlp-denoiser", config: { ...model.config, hidden: 8 } } } });
    assert.throws(() => loadMlpDenoiser(wrong), (e: Error) => e instanceof CheckpointError && /shape mismatch input\.weight: expected \[8,3\] got \[16,3\]/.test(e.message));
    assert.throws(() => saveCheckpoint(join(dir, "x"), { params: new Map([["ema.w", model.parameters()[0]]]), metadata: {} }), /reserved prefix/);
    model.dispose();
  }));

test("resolveMlpDenoiserConfig: defaults, and every bad field named in one ConfigError", () => {
  assert.deepEqual(resolveMlpDenoiserConfig({ dim: 2, numClasses: 3 }), { dim: 2, numClasses: 3, hidden: 256, depth: 4, fourierFeatures: 16, prediction: "v", wInput: false, wMax: 4, pooledDim: 0 });
  assert.throws(
    () => resolveMlpDenoiserConfig({ dim: 0, numClasses: 2.5, prediction: "score" as never, wMax: -1, widht: 3 } as never),
    (e: Error) =>
      e instanceof ConfigError &&
      ["unknown field 'widht'", "dim must be an integer in [1, 100000], got 0", "numClasses must be an integer in [1, 100000], got 2.5", 'prediction must be one of "x", "v", "eps", got "score"', "wMax must be a positive number"].every((m) => e.message.includes(m)),
  );
});

test("MlpDenoiser: t of a different float dtype is accepted (cast to the weights' dtype)", () =>
  tidy(() => {
    const model = make();
    const { z, t, labels } = batch(3, 8);
    assert.deepEqual(denoiserOf(model).denoiser(z, t.to("float64"), { labels }).toNumbers(), denoiserOf(model).denoiser(z, t, { labels }).toNumbers());
    // the Denoiser view is the raw output converted by the parameterization, nothing else
    assert.deepEqual(denoiserOf(model).denoiser(z, t, { labels }).toNumbers(), xHatFromOutput(model.prediction, z, model.forwardRaw(z, noiseLevel(t), { labels }), t).toNumbers());
    model.dispose();
  }));
