// `--resume` continues a run exactly only with the flags it started with: a contradicting flag is
// refused (every one listed, with the run's value) before anything is written; the flags that may
// change (a teacher's --steps, where the run is, how often it saves) still resume.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-resume-flags-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function fewstep(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

test("train-teacher --resume refuses a different --lr and --hidden, naming both values; a longer --steps resumes", () => {
  const out = join(dir, "teacher");
  const base = ["train-teacher", "--mixture", "ring2d", "--out-dir", out, "--hidden", "32", "--depth", "1"];
  assert.equal(fewstep(...base, "--steps", "10", "--checkpoint-every", "5").status, 0);
  const checkpoint = readFileSync(join(out, "teacher.safetensors"));
  const config = readFileSync(join(out, "config.json"), "utf8");

  const withoutHidden = base.filter((_, i) => base[i] !== "--hidden" && base[i - 1] !== "--hidden");
  const bad = fewstep(...withoutHidden, "--hidden", "64", "--steps", "20", "--lr", "0.01", "--resume");
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /--resume continues the run with its own flags, but --hidden 64 \(the run has 32\), --lr 0\.01 \(the run has 0\.001\): drop them/);
  assert.match(bad.stderr, /config\.json/);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  // refused before any work: the checkpoint and the saved flags are as they were
  assert.deepEqual(readFileSync(join(out, "teacher.safetensors")), checkpoint);
  assert.equal(readFileSync(join(out, "config.json"), "utf8"), config);

  const longer = fewstep(...base, "--steps", "20", "--checkpoint-every", "10", "--resume");
  assert.equal(longer.status, 0, longer.stderr);
  assert.match(longer.stderr, /finished at step 20/);
});

test("distill stage-one --resume refuses a different --steps (its rate anneals over them) and --w-max", () => {
  const out = join(dir, "distill");
  const base = ["distill", "stage-one", "--mixture", "ring2d", "--out-dir", out, "--hidden", "32", "--depth", "1", "--batch-size", "32", "--checkpoint-every", "5"];
  assert.equal(fewstep(...base, "--steps", "10").status, 0);
  const bad = fewstep(...base, "--steps", "20", "--w-max", "2", "--resume");
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /--steps 20 \(the run has 10\), --w-max 2 \(the run has 4\)/);
  const same = fewstep(...base, "--steps", "10", "--resume");
  assert.equal(same.status, 0, same.stderr);
});
