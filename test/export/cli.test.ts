// `fewstep export`: clear errors (missing model file, unknown model kind, an --out not ending in
// .onnx, a missing output folder), a report of what it wrote, and the EMA weights of a checkpoint
// that has them (as loadModel takes them), checked by running the written file in onnxruntime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Generator, noGrad, randn } from "../../src/engine/index.js";
import { decodeModelProto } from "../../src/export/onnx-proto.js";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { loadModel } from "../../src/io/load-model.js";
import { MlpDenoiser } from "../../src/nn/mlp-denoiser.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { maxAbsDiff, onnxXHat, openSession, parityInputs, torchXHat } from "../helpers/onnx-parity.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin", "fewstep.js");
const teacherPath = join(root, "models", "fashion-mnist", "teacher.safetensors");

function fewstep(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

function withDir(body: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "fewstep-export-"));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  "fewstep export: one clear line for a missing model, a wrong --out, a missing folder, an unknown model kind",
  withDir((dir) => {
    const cases: [string[], RegExp][] = [
      [["--model", join(dir, "nope.safetensors"), "--out", join(dir, "m.onnx")], /--model .*nope\.safetensors: no such file/],
      [["--model", teacherPath, "--out", join(dir, "m.bin")], /--out .*m\.bin: the file name must end in \.onnx/],
      [["--model", teacherPath, "--out", join(dir, "missing", "m.onnx")], /--out: folder .*missing does not exist/],
      [["--out", join(dir, "m.onnx")], /give --model \(a checkpoint\) or --autoencoder \(an autoencoder alone\), and --out/],
    ];
    for (const [args, message] of cases) {
      const run = fewstep(["export", ...args]);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, `one line: ${run.stderr}`);
    }
    // a checkpoint whose metadata names a model kind fewstep does not know
    const unknown = join(dir, "unknown.safetensors");
    const g = new Generator(0);
    const w = randn([2, 2], g);
    saveCheckpoint(unknown, { params: new Map([["weight", w]]), metadata: { model: { kind: "transformer", config: {} } } });
    w.dispose();
    const run = fewstep(["export", "--model", unknown, "--out", join(dir, "m.onnx")]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /unknown\.safetensors: not a fewstep model checkpoint: metadata\.model must be \{ kind: "mlp-denoiser" \| "unet" \| "classifier" \| "autoencoder-kl", config \}, got \{"kind":"transformer"/);
    assert.deepEqual(readdirSync(dir).sort(), ["unknown.safetensors"], "no .onnx or temporary file left behind");
  }),
);

test(
  "fewstep export of the shipped teacher: reports inputs, opset, size and parameters; onnxruntime reads the contract",
  withDir(async (dir) => {
    const out = join(dir, "teacher.onnx");
    const run = fewstep(["export", "--model", teacherPath, "--out", out]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote .*teacher\.onnx \(2\.\d\d MB, opset 17, 673,489 parameters, EMA weights\)/);
    assert.match(run.stdout, /input {3}z {5}float32 \[batch, 1, 28, 28\]/);
    assert.match(run.stdout, /input {3}class int64 {3}\[batch\]/);
    assert.doesNotMatch(run.stdout, /input {3}w /, "a teacher has no w input");
    const bytes = readFileSync(out);
    const session = await openSession(bytes);
    assert.deepEqual(session.inputNames, ["z", "t", "class"]);
    assert.deepEqual(session.outputNames, ["x_hat"]);
    const shapes = session.inputMetadata.map((m) => (m.isTensor ? [m.type, [...m.shape]] : null));
    assert.deepEqual(shapes, [
      ["float32", ["batch", 1, 28, 28]],
      ["float32", ["batch"]],
      ["int64", ["batch"]],
    ]);
    await session.release();
    const proto = decodeModelProto(bytes) as { metadata_props: { key: string; value: string }[] };
    const meta = JSON.parse(proto.metadata_props.find((p) => p.key === "fewstep")!.value);
    assert.equal(meta.format, "fewstep-onnx/1");
    assert.equal(meta.kind, "unet");
    assert.equal(meta.wInput, false);
    assert.equal(meta.steps, null);
    assert.equal(meta.weights, "ema");
    assert.equal(meta.source, "teacher.safetensors");
  }),
);

test(
  "a checkpoint with EMA averages exports the EMA weights, as loadModel loads them",
  withDir(async (dir) => {
    const model = new MlpDenoiser(new ParamStore({ seed: 1 }), { dim: 3, numClasses: 2, hidden: 16, depth: 1 });
    const g = new Generator(9);
    const ema = noGrad(() => new Map([...model.named()].map(([name, p]) => [name, p.add(randn(p.shape, g).mul(0.3))])));
    const path = join(dir, "ckpt.safetensors");
    saveCheckpoint(path, { params: model.named(), ema, metadata: { model: model.metadata(), dataset: { classNames: ["left", "right"] } } });
    for (const t of ema.values()) t.dispose();
    model.dispose();
    const out = join(dir, "ckpt.onnx");
    const run = fewstep(["export", "--model", path, "--out", out]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /EMA weights/);
    const bytes = readFileSync(out);
    const meta = JSON.parse((decodeModelProto(bytes) as { metadata_props: { key: string; value: string }[] }).metadata_props[0].value);
    assert.deepEqual(meta.classNames, ["left", "right"]);
    assert.equal(meta.weights, "ema");
    const withEma = loadModel(path);
    const raw = loadModel(path, { ignoreEma: true });
    const session = await openSession(bytes);
    try {
      const inputs = parityInputs(withEma, 4, 3);
      const onnx = await onnxXHat(session, withEma, inputs);
      assert.ok(maxAbsDiff(onnx, torchXHat(withEma, inputs)) < 1e-4, "matches the EMA model");
      assert.ok(maxAbsDiff(onnx, torchXHat(raw, inputs)) > 1e-2, "differs from the raw parameters");
    } finally {
      await session.release();
      withEma.dispose();
      raw.dispose();
    }
  }),
);

test(
  "fewstep export --class-names: the names go into the metadata; a wrong count is refused and writes nothing",
  withDir((dir) => {
    const out = join(dir, "teacher.onnx");
    const run = fewstep(["export", "--model", teacherPath, "--out", out, "--class-names", "fashion-mnist"]);
    assert.equal(run.status, 0, run.stderr);
    const meta = JSON.parse((decodeModelProto(readFileSync(out)) as { metadata_props: { key: string; value: string }[] }).metadata_props.find((p) => p.key === "fewstep")!.value);
    assert.deepEqual(meta.classNames.slice(0, 2), ["T-shirt/top", "Trouser"]);
    assert.equal(meta.classNames.length, 10);
    const bad = fewstep(["export", "--model", teacherPath, "--out", join(dir, "bad.onnx"), "--class-names", "a,b,c"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /3 class names given for a model of 10 classes; give one name per class/);
    assert.deepEqual(readdirSync(dir), ["teacher.onnx"]);
  }),
);
