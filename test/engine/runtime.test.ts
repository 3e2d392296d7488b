// Threads and BLAS: the runtime settings DESIGN.md section 2-3 depend on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { ConfigError, blasInfo, cudaAvailable, getAllowTF32, getNumThreads, resolveDevice, setAllowTF32, setNumThreads } from "../../src/engine/index.js";

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
