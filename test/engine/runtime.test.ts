// Threads and BLAS: the runtime settings DESIGN.md section 2-3 depend on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { sampleMemory, trainMemory } from "../../src/engine/bounds.js";
import { ConfigError, blasInfo, checkMemory, cudaAvailable, getAllowTF32, getNumThreads, resolveDevice, setAllowTF32, setNumThreads } from "../../src/engine/index.js";

test("threads default to the available cores (or FEWSTEP_THREADS) and can be set", () => {
  const expected = process.env.FEWSTEP_THREADS ? Number(process.env.FEWSTEP_THREADS) : availableParallelism();
  assert.equal(getNumThreads(), expected);
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(expected);
  assert.equal(getNumThreads(), expected);
  assert.throws(() => setNumThreads(0), ConfigError);
  assert.throws(() => setNumThreads(1.5), ConfigError);
});

test("matrix products do not run on the reference BLAS (setup installs libopenblas0-pthread)", () => {
  const blas = blasInfo();
  assert.notEqual(blas.kind, "reference", `reference BLAS loaded from ${blas.path}: apt-get install libopenblas0-pthread`);
});

test("setAllowTF32 switches TF32 for cuDNN and cuBLAS; libtorch's defaults are on and off", () => {
  const before = getAllowTF32();
  assert.deepEqual(before, { cudnn: true, cublas: false }, "libtorch's documented defaults");
  try {
    setAllowTF32(false);
    assert.deepEqual(getAllowTF32(), { cudnn: false, cublas: false });
    setAllowTF32(true);
    assert.deepEqual(getAllowTF32(), { cudnn: true, cublas: true });
    setAllowTF32({ cudnn: false, cublas: true });
    assert.deepEqual(getAllowTF32(), { cudnn: false, cublas: true });
  } finally {
    setAllowTF32(before);
  }
  assert.deepEqual(getAllowTF32(), before);
});

test("resolveDevice: cpu passes; unknown names and cuda without a CUDA build are refused naming the fix", () => {
  assert.equal(resolveDevice("cpu"), "cpu");
  assert.throws(() => resolveDevice("gpu"), /unknown device 'gpu': use cpu, cuda or cuda:N/);
  if (!cudaAvailable()) assert.throws(() => resolveDevice("cuda"), /without CUDA or no GPU is visible.*--device cpu/);
});

test("setNumThreads caps at 4x the cores with one warning line naming the cap; bad counts refused", () => {
  const before = getNumThreads();
  const cap = 4 * availableParallelism();
  const write = process.stderr.write;
  const lines: string[] = [];
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let set: number;
  try {
    set = setNumThreads(10 ** 8);
  } finally {
    process.stderr.write = write;
  }
  try {
    assert.equal(set, cap);
    assert.equal(getNumThreads(), cap);
    assert.equal(lines.length, 1, lines.join(""));
    assert.match(lines[0], new RegExp(`threads 100000000 capped at ${cap} \\(4x the ${availableParallelism()} available cores\\)`));
  } finally {
    setNumThreads(before);
  }
  assert.equal(getNumThreads(), before);
  for (const bad of [0, -1, 2.5, Number.NaN, Infinity]) assert.throws(() => setNumThreads(bad), (e: Error) => e instanceof ConfigError && /threads must be a positive integer/.test(e.message));
  assert.equal(getNumThreads(), before);
});

test("checkMemory refuses an estimate above what is available with the estimate, the memory and the flag", () => {
  assert.doesNotThrow(() => checkMemory(1024, "x", "--n"));
  assert.throws(() => checkMemory(2 ** 60, "sampling --n 5", "--n"), (e: Error) => e instanceof ConfigError && /sampling --n 5 needs about .* GiB .* GiB of memory is available: lower --n/.test(e.message));
  // normal runs pass: 100,000 28x28 samples (float32), a batch of 256 28x28 images at base channels 24
  assert.ok(sampleMemory(100_000, [1, 28, 28], 4) < 3 * 2 ** 30);
  assert.ok(trainMemory(256, [1, 28, 28], 24) < 1.5 * 2 ** 30);
});
