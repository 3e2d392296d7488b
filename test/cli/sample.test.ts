// `fewstep sample` end to end through bin/fewstep.js: the exact flags, outputs checked against
// closed forms, and bad input answered with one line that names the flag.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alphaSigma } from "../../src/diffusion/schedule.js";
import { hostArray } from "../../src/io/host-array.js";
import { loadNpy, saveNpy } from "../../src/io/npy.js";
import { assertClose } from "../helpers/assert-close.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-sample-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function fewstep(...args: string[]) {
  return spawnSync(process.execPath, [bin, "sample", ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

// One class: N(mu, s^2 I) in 2-D; a second class far away, so labels matter.
const mu = [1, -2];
const s = 0.5;
const spec = join(dir, "spec.json");
writeFileSync(spec, JSON.stringify({ means: [[mu], [[10, 10]]], stds: [[s], [1]], weights: [[1], [1]] }));
const z = [0.3, -1.2, 2.0, 0.4, -0.7, 0.1];
const noise = join(dir, "z.npy");
saveNpy(noise, hostArray("float64", [3, 2], new Uint8Array(new Float64Array(z).buffer)));
const labels = join(dir, "c.npy");
saveNpy(labels, hostArray("int64", [3], new Uint8Array(new BigInt64Array([0n, 0n, 0n]).buffer)));

test("DDIM from given noise and labels approaches the Gaussian's closed-form flow map (w = 0)", () => {
  const out = join(dir, "x.npy");
  const run = fewstep("--mixture", spec, "--w", "0", "--steps", "512", "--sampler", "ddim", "--noise", noise, "--labels", labels, "--out", out, "--dtype", "float64");
  assert.equal(run.status, 0, run.stderr);
  const x = loadNpy(out);
  assert.equal(x.dtype, "float64");
  assert.deepEqual(x.shape, [3, 2]);
  const { alpha, sigma } = alphaSigma(1);
  const expected = z.map((v, i) => mu[i % 2] + (s * (v - alpha * mu[i % 2])) / Math.sqrt(alpha * alpha * s * s + sigma * sigma));
  assertClose(Array.from(new Float64Array(x.data.buffer, x.data.byteOffset, 6)), expected, { atol: 0.01 });
});

test("--seed --n --class writes float32 [n, D], the same for the same seed", () => {
  const [a, b] = [join(dir, "a.npy"), join(dir, "b.npy")];
  for (const out of [a, b]) {
    const run = fewstep("--mixture", "ring2d", "--w", "2", "--steps", "8", "--sampler", "stochastic", "--seed", "4", "--n", "7", "--class", "1", "--out", out);
    assert.equal(run.status, 0, run.stderr);
  }
  const [xa, xb] = [loadNpy(a), loadNpy(b)];
  assert.equal(xa.dtype, "float32");
  assert.deepEqual(xa.shape, [7, 2]);
  assert.deepEqual(xa.data, xb.data);
});

test("bad input: one line naming the flag, exit code 1, no output file", () => {
  const out = join(dir, "never.npy");
  const cases: [string[], RegExp][] = [
    [["--mixture", spec, "--steps", "-3", "--n", "2"], /--steps must be >= 1, got -3/],
    [["--mixture", spec, "--w", "-1", "--n", "2"], /--w must be >= 0, got -1/],
    [["--mixture", spec, "--sampler", "euler", "--n", "2"], /--sampler must be one of ddim, stochastic, ddpm, got 'euler'/],
    [["--mixture", spec, "--n", "2", "--class", "5"], /--class 5 is not one of the model's classes 0\.\.1/],
    [["--mixture", spec, "--noise", join(dir, "missing.npy"), "--labels", labels], /--noise: cannot read .*missing\.npy/],
    [["--mixture", spec, "--noise", labels, "--labels", labels], /--noise: .*c\.npy holds int64; it must be float32 or float64/],
    [["--mixture", "ring2d", "--noise", noise, "--labels", noise], /--labels: .*z\.npy holds float64; it must be int64/],
    [["--mixture", "gauss64d", "--noise", noise, "--labels", labels], /--noise: .*has shape \[3,2\] but the model needs \[n, 64\]/],
    [["--mixture", join(dir, "nope.json"), "--n", "2"], /cannot read mixture spec/],
    [["--n", "2"], /give --mixture \(an exact teacher\) or --model/],
    [["--mixture", spec, "--n", "2", "--bogus", "1"], /unknown flag --bogus/],
  ];
  for (const [args, message] of cases) {
    const run = fewstep(...args, "--out", out);
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split("\n").length, 1, `more than one line: ${run.stderr}`);
  }
  const labelsOutOfRange = join(dir, "bad-labels.npy");
  saveNpy(labelsOutOfRange, hostArray("int64", [3], new Uint8Array(new BigInt64Array([0n, 2n, 1n]).buffer)));
  const run = fewstep("--mixture", spec, "--noise", noise, "--labels", labelsOutOfRange, "--out", out);
  assert.match(run.stderr, /--labels: class 2 is not one of the model's classes 0\.\.1/);
  assert.equal(spawnSync("test", ["-e", out]).status, 1);
});

test("--noise with NaN or Inf is refused naming the file; a non-finite sample writes nothing", () => {
  const out = join(dir, "never-finite.npy");
  for (const [name, bad] of [["nan.npy", NaN], ["inf.npy", -Infinity]] as const) {
    const path = join(dir, name);
    saveNpy(path, hostArray("float64", [3, 2], new Uint8Array(new Float64Array([0, 1, 2, bad, 4, 5]).buffer)));
    const run = fewstep("--mixture", spec, "--noise", path, "--labels", labels, "--out", out);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`--noise: .*${name} holds ${bad} at flat index 3; noise must be finite`));
  }
  // w so large that (1 + w) x_c - w x_u overflows: an error naming the teacher and w, no file.
  const run = fewstep("--mixture", "ring2d", "--w", "1e300", "--steps", "2", "--n", "4", "--out", out);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /came out NaN or Inf \(--mixture ring2d at --w 1e\+300\): try a smaller --w, or check the model's weights/);
  assert.equal(run.stderr.trim().split("\n").length, 1);
  assert.equal(spawnSync("test", ["-e", out]).status, 1);
});

test("--out a FIFO or a device node is refused and left as it was; through a symlink the link stays", () => {
  const sub = mkdtempSync(join(dir, "targets-"));
  const targets: [string, string[], RegExp][] = [
    ["pipe", ["mkfifo", join(sub, "pipe")], /pipe is a FIFO, not a regular file: choose a file path/],
    ["null", ["mknod", join(sub, "null"), "c", "1", "3"], /null is a character device, not a regular file/],
  ];
  for (const [name, make, message] of targets) {
    if (spawnSync(make[0], make.slice(1)).status !== 0) continue; // mknod needs root
    const run = fewstep("--mixture", "ring2d", "--steps", "2", "--n", "4", "--out", join(sub, name));
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split("\n").length, 1);
    assert.equal(spawnSync("test", [name === "pipe" ? "-p" : "-c", join(sub, name)]).status, 0);
  }
  const real = join(sub, "real.npy");
  writeFileSync(real, "old");
  symlinkSync(real, join(sub, "link.npy"));
  const run = fewstep("--mixture", "ring2d", "--steps", "2", "--n", "4", "--out", join(sub, "link.npy"));
  assert.equal(run.status, 0, run.stderr);
  assert.equal(spawnSync("test", ["-L", join(sub, "link.npy")]).status, 0);
  assert.deepEqual(loadNpy(real).shape, [4, 2]);
  assert.deepEqual(readdirSync(sub).filter((f) => f.includes(".tmp-")), []);
});

test("--n beyond the disk available fails fast naming --n, and writes nothing", () => {
  const out = join(dir, "huge.npy");
  const start = Date.now();
  const run = fewstep("--mixture", "ring2d", "--n", "1000000000000", "--steps", "1", "--out", out);
  assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /the output of --n 1000000000000 of \[2\] \(float32\) is 7\.45e\+3 GiB but .* GiB of disk is free in .*: lower --n/);
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.ok(!readdirSync(dir).includes("huge.npy"));
});

test("a --batch-size beyond the memory available fails fast naming --batch-size; batches stream to one .npy", () => {
  const out = join(dir, "batched.npy");
  const huge = fewstep("--mixture", "ring2d", "--n", "1000000000", "--batch-size", "1000000000", "--steps", "1", "--out", out);
  assert.equal(huge.status, 1, huge.stderr);
  assert.match(huge.stderr, /sampling batches of 1000000000 of \[2\] needs about .* GiB .* of memory is available: lower --batch-size/);
  assert.ok(!readdirSync(dir).includes("batched.npy"));
  // Given noise and labels: batching changes nothing for a deterministic sampler, row for row.
  const whole = join(dir, "whole.npy");
  assert.equal(fewstep("--mixture", spec, "--w", "1", "--steps", "8", "--noise", noise, "--labels", labels, "--out", whole, "--dtype", "float64").status, 0);
  const run = fewstep("--mixture", spec, "--w", "1", "--steps", "8", "--noise", noise, "--labels", labels, "--out", out, "--dtype", "float64", "--batch-size", "2");
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(loadNpy(out).shape, [3, 2]);
  assertClose(Array.from(new Float64Array(loadNpy(out).data.slice().buffer)), Array.from(new Float64Array(loadNpy(whole).data.slice().buffer)), { atol: 1e-12 });
  // Drawn noise: a single batch draws exactly what an unbatched run draws; more batches stay seeded.
  const a = join(dir, "a.npy");
  const b = join(dir, "b.npy");
  assert.equal(fewstep("--mixture", "ring2d", "--n", "5", "--batch-size", "2", "--steps", "2", "--seed", "3", "--out", a).status, 0);
  assert.equal(fewstep("--mixture", "ring2d", "--n", "5", "--batch-size", "2", "--steps", "2", "--seed", "3", "--out", b).status, 0);
  assert.deepEqual(loadNpy(a).shape, [5, 2]);
  assert.deepEqual(loadNpy(a).data, loadNpy(b).data);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), []);
});

test("--steps beyond 1,000,000 is refused by the flag, before any grid is made (10^9 once exhausted the heap)", () => {
  const out = join(dir, "steps.npy");
  const run = fewstep("--mixture", "ring2d", "--steps", "1000000000", "--n", "4", "--out", out);
  assert.equal(run.status, 1, run.stderr);
  assert.equal(run.stderr.trim(), "fewstep: --steps must be <= 1000000, got 1000000000");
  assert.ok(!readdirSync(dir).some((f) => f.startsWith("steps.npy")));
});

test("--threads and FEWSTEP_THREADS above 4x the cores are capped with one warning line; bad values refused", () => {
  const out = join(dir, "threads.npy");
  const viaFlag = spawnSync(process.execPath, [bin, "--threads", "99999999", "sample", "--mixture", "ring2d", "--n", "4", "--steps", "1", "--out", out], { encoding: "utf8" });
  assert.equal(viaFlag.status, 0, viaFlag.stderr);
  assert.equal(viaFlag.stderr.match(/warning/g)?.length, 1, viaFlag.stderr);
  assert.match(viaFlag.stderr, /--threads 99999999 capped at \d+ \(4x the \d+ available cores\)/);
  const viaEnv = spawnSync(process.execPath, [bin, "sample", "--mixture", "ring2d", "--n", "4", "--steps", "1", "--out", out], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "99999999" } });
  assert.equal(viaEnv.status, 0, viaEnv.stderr);
  assert.match(viaEnv.stderr, /FEWSTEP_THREADS 99999999 capped at \d+/);
  const bad = spawnSync(process.execPath, [bin, "sample", "--mixture", "ring2d", "--n", "4", "--steps", "1", "--out", out], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1.5" } });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /FEWSTEP_THREADS must be a positive integer, got '1.5'/);
});
