// Class grids (eval/class-grid.ts): writing one leaves no tensor alive, also outside any scope
// (the trainers call it from a snapshot hook between steps, where nothing would free it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { liveTensors } from "../../src/engine/index.js";
import type { CondDenoiser } from "../../src/diffusion/denoiser.js";
import { writeClassGrid } from "../../src/eval/class-grid.js";

test("writeClassGrid writes the PNG and leaves the live tensor count where it was", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-class-grid-"));
  // x-hat = z / 2: enough for the sampler; the grid's own tensors are what is counted
  const model: CondDenoiser = { denoiser: (z) => z.mul(0.5), nullCond: (cond) => cond };
  try {
    const before = liveTensors();
    writeClassGrid(join(dir, "grid.png"), model, { exampleShape: [1, 4, 4], numClasses: 3, guidance: "input", ws: [0, 2], seedsPerClass: 2, steps: 2 });
    assert.equal(liveTensors(), before);
    assert.ok(statSync(join(dir, "grid.png")).size > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
