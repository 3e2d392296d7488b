// Threads and BLAS: the runtime settings DESIGN.md section 2-3 depend on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { ConfigError, blasInfo, getNumThreads, setNumThreads } from "../../src/engine/index.js";

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
