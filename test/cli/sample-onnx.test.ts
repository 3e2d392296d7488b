// `fewstep sample --runtime onnx` end to end through bin/fewstep.js, with libtorch's addon made
// unloadable (a preload that makes process.dlopen refuse fewstep.node): the path must never load
// it. Outputs are checked against the fixtures' closed form through the portable sampler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostArray } from "../../src/io/host-array.js";
import { loadNpy, saveNpy } from "../../src/io/npy.js";
import { samplePortable } from "../../src/portable/index.js";
import { assertClose } from "../helpers/assert-close.js";
import { gaussianVecDenoiser } from "../helpers/gaussian-fixture.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/onnx/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-sample-onnx-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const blocker = join(dir, "no-libtorch.cjs");
writeFileSync(
  blocker,
  `const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  if (String(filename).endsWith("fewstep.node")) throw new Error("TEST: libtorch addon loaded: " + filename);
  return dlopen.call(this, module, filename, ...rest);
};`,
);

function fewstep(...args: string[]) {
  return spawnSync(process.execPath, ["--require", blocker, bin, "sample", ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

const z = Float32Array.from({ length: 12 }, (_, i) => Math.cos(i * 2.3) * 1.5);
const noise = join(dir, "z.npy");
saveNpy(noise, hostArray("float32", [4, 3], new Uint8Array(z.buffer)));
const labelsFile = join(dir, "c.npy");
saveNpy(labelsFile, hostArray("int64", [4], new Uint8Array(new BigInt64Array([0n, 1n, 1n, 0n]).buffer)));

test("the preload really blocks libtorch: the torch path fails under it", () => {
  const run = fewstep("--mixture", "ring2d", "--n", "2", "--out", join(dir, "torch.npy"));
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /TEST: libtorch addon loaded/);
});

for (const [model, sampler] of [
  ["gauss-vec-w.onnx", "ddim"],
  ["gauss-vec.onnx", "stochastic"],
] as const) {
  test(`${sampler} on ${model} without libtorch equals the closed form through the portable sampler`, async () => {
    const out = join(dir, `${model}-${sampler}.npy`);
    const run = fewstep("--runtime", "onnx", "--model", fixture(model), "--sampler", sampler, "--steps", "4", "--w", "1.5", "--seed", "3", "--noise", noise, "--labels", labelsFile, "--out", out);
    assert.equal(run.status, 0, run.stderr);
    const x = loadNpy(out);
    assert.equal(x.dtype, "float32");
    assert.deepEqual(x.shape, [4, 3]);
    const expected = await samplePortable(gaussianVecDenoiser, { exampleShape: [3], numClasses: 2, wInput: model === "gauss-vec-w.onnx" }, { sampler, steps: 4, w: 1.5, seed: 3, labels: [0, 1, 1, 0], z });
    assertClose(new Float32Array(x.data.buffer, x.data.byteOffset, 12), expected, { atol: 1e-5, rtol: 1e-5 });
  });
}

test("--seed --n --class: float64 on request, the same file for the same seed", () => {
  const [a, b] = [join(dir, "a.npy"), join(dir, "b.npy")];
  for (const out of [a, b]) {
    const run = fewstep("--runtime", "onnx", "--model", fixture("gauss-vec-w.onnx"), "--steps", "2", "--w", "2", "--seed", "5", "--n", "6", "--class", "1", "--dtype", "float64", "--out", out);
    assert.equal(run.status, 0, run.stderr);
  }
  const [xa, xb] = [loadNpy(a), loadNpy(b)];
  assert.equal(xa.dtype, "float64");
  assert.deepEqual(xa.shape, [6, 3]);
  assert.deepEqual(xa.data, xb.data);
});

test("an image model writes a PNG grid", () => {
  const out = join(dir, "grid.png");
  const run = fewstep("--runtime", "onnx", "--model", fixture("fashion-toy-N4.onnx"), "--steps", "4", "--w", "2", "--n", "20", "--columns", "10", "--out", out);
  assert.equal(run.status, 0, run.stderr);
  const png = readFileSync(out);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test("bad input: one line naming the flag, exit code 1, no output file", () => {
  const out = join(dir, "never.npy");
  const cases: [string[], RegExp][] = [
    [["--runtime", "onnx", "--mixture", "ring2d", "--n", "2"], /--runtime onnx samples an exported --model/],
    [["--runtime", "onnx", "--model", fixture("gauss-vec-w.onnx"), "--sampler", "ddpm", "--n", "2"], /--sampler ddpm is not in the portable samplers/],
    [["--runtime", "onnx", "--model", fixture("fashion-toy-N4.onnx"), "--steps", "8", "--n", "2"], /--steps 8: .*fashion-toy-N4.onnx was distilled for 4 steps/],
    [["--runtime", "onnx", "--model", fixture("fashion-toy-N4.onnx"), "--steps", "4", "--w", "5", "--n", "2"], /--w 5: .*was distilled for w in \[0, 4\]/],
    [["--runtime", "onnx", "--model", fixture("gauss-vec-w.onnx"), "--class", "2", "--n", "2"], /--class 2 is not one of the model's classes 0..1/],
    [["--runtime", "onnx", "--model", fixture("make_fixtures.py"), "--n", "2"], /--model: .*make_fixtures.py: /],
    [["--model", fixture("gauss-vec-w.onnx"), "--n", "2"], /is an ONNX model: sample it with --runtime onnx/],
  ];
  for (const [args, message] of cases) {
    const run = fewstep(...args, "--out", out);
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.equal(existsSync(out), false);
  }
});
