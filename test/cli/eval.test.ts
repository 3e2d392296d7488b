// `fewstep train-classifier` and `fewstep eval` end to end through bin/fewstep.js on tiny 8x8
// images: the run folder's files, a teacher and a stage-two student in one table (the student only
// at its own N and w range), the cached reference statistics read back on a second run, and bad
// input answered with one line that names the flag.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { hostArray } from "../../src/io/host-array.js";
import { saveNpy } from "../../src/io/npy.js";
import { loadPng } from "../../src/io/png.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { halvesImages } from "../helpers/tiny-images.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-eval-cli-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function fewstep(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

/** A labeled npy data spec of `count` halves images. */
function npyData(name: string, count: number, seed: number): string {
  const ds = halvesImages(count, seed);
  const images = join(dir, `${name}-images.npy`);
  const labels = join(dir, `${name}-labels.npy`);
  saveNpy(images, hostArray("uint8", [count, 1, 8, 8], ds.images));
  saveNpy(labels, hostArray("int64", [count], new Uint8Array(BigInt64Array.from(ds.labels, (l) => BigInt(l)).buffer)));
  return `npy:${images},${labels}`;
}
const train = npyData("train", 64, 0);
const testData = npyData("test", 24, 5);

// An untrained U-Net teacher and a stage-two student for N = 2, w in [0, 1], saved as trainers save them.
const unetConfig = { channels: 1, size: 8, numClasses: 2, baseChannels: 8, channelMults: [1, 2], attentionResolutions: [], dropout: 0 };
const teacherPath = join(dir, "teacher.safetensors");
const studentPath = join(dir, "student-N2.safetensors");
{
  const teacher = new UNet(new ParamStore({ seed: 1 }), unetConfig);
  saveCheckpoint(teacherPath, { params: teacher.named(), metadata: { model: teacher.metadata(), stage: "teacher" } });
  teacher.dispose();
  const student = new UNet(new ParamStore({ seed: 2 }), { ...unetConfig, wInput: true });
  saveCheckpoint(studentPath, { params: student.named(), metadata: { model: student.metadata(), distill: { stage: "two", steps: 2, wMin: 0, wMax: 1, teacher: teacherPath } } });
  student.dispose();
}

const classifierDir = join(dir, "classifier");
const classifierPath = join(classifierDir, "classifier.safetensors");

test("train-classifier writes classifier.safetensors, config.json, log.jsonl and accuracy.json", () => {
  const run = fewstep("train-classifier", "--data", train, "--test-data", testData, "--out-dir", classifierDir, "--steps", "40", "--batch-size", "16", "--lr", "0.01", "--widths", "16,16", "--final-width", "16", "--feature-dim", "8");
  assert.equal(run.status, 0, run.stderr);
  for (const f of ["classifier.safetensors", "config.json", "log.jsonl", "accuracy.json"]) assert.ok(existsSync(join(classifierDir, f)), f);
  const accuracy = JSON.parse(readFileSync(join(classifierDir, "accuracy.json"), "utf8"));
  assert.equal(accuracy.count, 24);
  assert.equal(accuracy.testAccuracy, 1, run.stderr);
  assert.match(run.stderr, /test accuracy 100\.00% \(24\/24\)/);
  assert.equal(JSON.parse(readFileSync(join(classifierDir, "config.json"), "utf8")).steps, 40);
});

test("eval: teacher and stage-two student in one table, plots, and the cached reference read back", () => {
  const out = join(dir, "eval");
  const cache = join(dir, "cache");
  const args = ["eval", "--model", `${teacherPath},${studentPath}`, "--classifier", classifierPath, "--reference", testData, "--ws", "0,1,4", "--steps", "1,2", "--n", "10", "--batch-size", "5", "--splits", "2", "--out-dir", out, "--cache-dir", cache];
  const run = fewstep(...args);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /reference statistics of npy:.* \(10 images; .*\) computed in/); // at most --n reference images
  assert.match(run.stderr, /student-N2 \(distilled for N = 2, w in \[0, 1\]\) skips 4 cell\(s\) per sampler/);
  const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
  assert.equal(results.classifier.testAccuracy, 1);
  assert.equal(results.reference.images, 10);
  const cells = results.cells as { model: string; steps: number; w: number; fid: number; isMean: number }[];
  assert.deepEqual(cells.map((c) => `${c.model} ${c.steps} ${c.w}`), ["teacher 1 0", "teacher 1 1", "teacher 1 4", "teacher 2 0", "teacher 2 1", "teacher 2 4", "student-N2 2 0", "student-N2 2 1"]);
  for (const c of cells) assert.ok(Number.isFinite(c.fid) && c.isMean >= 1 - 1e-9 && c.isMean <= 2 + 1e-9, JSON.stringify(c));
  assert.equal(readFileSync(join(out, "results.csv"), "utf8").trim().split("\n").length, 9);
  const table = readFileSync(join(out, "table.md"), "utf8");
  assert.match(table, /\| model \| sampler \| N \| w = 0 \| w = 1 \| w = 4 \|/);
  assert.match(table, /\| student-N2 \| ddim \| 2 \| [\d.]+ \([\d.]+\) \| [\d.]+ \([\d.]+\) \| - \|/);
  for (const png of ["fid-vs-w-N1.png", "fid-vs-w-N2.png", "fid-vs-w.png", "fid-vs-is.png"]) assert.equal(loadPng(join(out, png)).channels, 3);

  const again = fewstep(...args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /read from .*ref-[0-9a-f]{16}\.safetensors/);
  // the same noise, labels and statistics: the same numbers
  assert.deepEqual(JSON.parse(readFileSync(join(out, "results.json"), "utf8")).cells.map((c: { fid: number }) => c.fid), cells.map((c) => c.fid));
});

test("bad input: one line naming the flag and the fix, exit code 1", () => {
  const common = ["--classifier", classifierPath, "--reference", testData, "--n", "4", "--out-dir", join(dir, "never")];
  // common with one of its flags set to another value (a flag may be given once)
  const withFlag = (flag: string, value: string) => common.map((v, i) => (common[i - 1] === flag ? value : v));
  const cases: [string[], RegExp][] = [
    [["eval", "--classifier", classifierPath], /--model is required/],
    [["eval", "--model", teacherPath], /--classifier or --features is required/],
    [["eval", "--model", teacherPath, ...common, "--sampler", "ddim,euler"], /--sampler: 'euler' is not a sampler; use one or more of ddim, stochastic, ddpm/],
    [["eval", "--model", teacherPath, ...common, "--steps", "1.5"], /--steps: 1\.5 is not an integer/],
    [["eval", "--model", teacherPath, ...common, "--ws", "0,-1"], /--ws must be >= 0, got -1/],
    [["eval", "--model", teacherPath, ...withFlag("--n", "1")], /--n must be >= 2, got 1/],
    [["eval", "--model", teacherPath, ...common, "--n", "1"], /--n is given more than once; give it once/],
    [["eval", "--model", join(dir, "missing.safetensors"), ...common], /--model: .*missing\.safetensors does not exist/],
    [["eval", "--model", `${teacherPath},${teacherPath}`, ...common], /--model: .*teacher\.safetensors is listed twice/],
    [["eval", "--model", teacherPath, ...withFlag("--classifier", teacherPath)], /--classifier: .*not a classifier checkpoint/],
    [["eval", "--model", classifierPath, ...common], /--model: .*not a denoiser checkpoint: it holds a classifier/],
    [["eval", "--model", studentPath, ...common, "--steps", "1,4"], /--steps 1,4: .*student-N2\.safetensors was distilled for N = 2; add 2 to --steps/],
    [["eval", "--model", studentPath, ...common, "--steps", "2", "--ws", "3,4"], /--ws 3,4: .*distilled for w in \[0, 1\], so it has no cell/],
    [["eval", "--model", teacherPath, ...withFlag("--reference", "bogus")], /--reference: reference 'bogus': unknown data 'bogus'/],
    [["train-classifier", "--widths", "16,12", "--out-dir", join(dir, "c2")], /--widths: 12 is not a multiple of 8/],
    [["train-classifier", "--out-dir", classifierDir], /classifier\.safetensors exists: choose another --out-dir/],
    [["train-classifier", "--data", "bogus", "--out-dir", join(dir, "c3")], /--data: unknown data 'bogus'/],
    [["train-classifier", "--data", train, "--test-data", testData, "--size", "10", "--out-dir", join(dir, "c4")], /--size 10 must divide by 2\^2 for 2 levels \(--widths 32,64\); pad with --size 12/],
  ];
  for (const [args, message] of cases) {
    const run = fewstep(...args);
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
    assert.equal(run.stderr.trim().split("\n").length, 1, `more than one line: ${run.stderr}`);
  }
  assert.ok(!existsSync(join(dir, "never", "results.json")));
});
