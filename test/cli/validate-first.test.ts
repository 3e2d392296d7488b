// Validate first: a flag used only at the end (grids, figures) or a bad device fails before the
// first step and leaves no run folder; a figure that fails after training costs no checkpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-validate-first-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const fewstep = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
const noStep = (stderr: string) => assert.doesNotMatch(stderr, /step\s+\d|\bstep \d+\/\d+/i, stderr);

test("train-teacher --grid-ws -1 fails before any step, names --grid-ws, and leaves no run folder", () => {
  const out = join(dir, "teacher-bad-ws");
  const run = fewstep("train-teacher", "--mixture", "ring2d", "--steps", "5", "--grid-ws", "-1", "--checkpoint-every", "0", "--out-dir", out);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /--grid-ws must be >= 0, got -1/);
  noStep(run.stderr);
  assert.equal(existsSync(out), false);
});

test("train-teacher: a bad --device or a --resume without a checkpoint leaves no run folder", () => {
  const out = join(dir, "teacher-bad-device");
  let run = fewstep("train-teacher", "--mixture", "ring2d", "--steps", "5", "--device", "tpu", "--out-dir", out);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /--device/);
  noStep(run.stderr);
  assert.equal(existsSync(out), false);
  run = fewstep("train-teacher", "--mixture", "ring2d", "--steps", "5", "--resume", "--out-dir", out);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /--resume: .*teacher\.safetensors does not exist/);
  assert.equal(existsSync(out), false);
});

test("distill stage-one: a bad flag (device, missing --teacher, w range) leaves no run folder", () => {
  const out = join(dir, "distill-bad");
  for (const bad of [["--device", "tpu"], ["--teacher", join(dir, "missing.safetensors")], ["--w-min", "3", "--w-max", "1"], ["--w-max", "-1"]]) {
    const run = fewstep("distill", "stage-one", "--mixture", "ring2d", "--steps", "2", ...bad, "--out-dir", out);
    assert.equal(run.status, 1, `${bad}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(bad[0]), run.stderr);
    noStep(run.stderr);
    assert.equal(existsSync(out), false, `${bad} left ${out}`);
  }
});

test("distill stage-one: a figure that fails after training exits 1 and says where the kept checkpoint is", () => {
  const out = join(dir, "distill-figure-fails");
  mkdirSync(join(out, "samples-w0.png"), { recursive: true }); // a folder where the plot goes: writing it fails
  const run = fewstep("distill", "stage-one", "--mixture", "ring2d", "--steps", "2", "--hidden", "16", "--depth", "1", "--checkpoint-every", "0", "--out-dir", out);
  assert.equal(run.status, 1, run.stderr);
  const checkpoint = join(out, "stage-one.safetensors");
  assert.ok(existsSync(checkpoint), run.stderr);
  assert.match(run.stderr, /figures failed .*the checkpoint was saved at .*stage-one\.safetensors/);
  assert.equal(run.stderr.trim().split("\n").filter((l) => /figures failed/.test(l)).length, 1);
});
