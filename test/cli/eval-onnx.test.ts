// `fewstep eval --features net.onnx` end to end through bin/fewstep.js: an untrained 8x8 grey U-Net
// teacher scored with the fixture's static.onnx (3 x 20 x 20: grey repeated, resized, ImageNet
// normalisation), FID and IS from its outputs; without a class output, FID only (no IS in the
// table, no FID-IS plot); the cached reference statistics read back only for the same options;
// bad --features flags answered with one line that names the flag and the fix.
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
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { halvesImages } from "../helpers/tiny-images.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const fixtures = fileURLToPath(new URL("../../../test/fixtures/eval/onnx-features/", import.meta.url));
const staticOnnx = join(fixtures, "static.onnx");
const dir = mkdtempSync(join(tmpdir(), "fewstep-eval-onnx-cli-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function fewstep(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

// 16 reference images as a bare uint8 .npy [16, 8, 8]
const referenceNpy = join(dir, "reference.npy");
saveNpy(referenceNpy, hostArray("uint8", [16, 8, 8], halvesImages(16, 5).images));
const teacherPath = join(dir, "teacher.safetensors");
{
  const teacher = new UNet(new ParamStore({ seed: 1 }), { channels: 1, size: 8, numClasses: 2, baseChannels: 8, channelMults: [1, 2], attentionResolutions: [], dropout: 0 });
  saveCheckpoint(teacherPath, { params: teacher.named(), metadata: { model: teacher.metadata(), stage: "teacher" } });
  teacher.dispose();
}
const cache = join(dir, "cache");
const common = ["eval", "--model", teacherPath, "--reference", referenceNpy, "--ws", "0,1", "--steps", "1", "--n", "10", "--batch-size", "5", "--splits", "2", "--cache-dir", cache];
const imagenet = ["--features-range", "0,1", "--features-mean", "0.485,0.456,0.406", "--features-std", "0.229,0.224,0.225"];

test("eval --features: FID and IS from an ONNX network's outputs; the reference cached per preprocessing", () => {
  const out = join(dir, "with-is");
  const run = fewstep(...common, "--features", staticOnnx, "--features-output", "pooled", "--logits-output", "logits", ...imagenet, "--features-batch", "3", "--out-dir", out);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /reference statistics of .*reference\.npy \(10 images; onnx .*static\.onnx \(features 'pooled', logits 'logits'\)\) computed in/);
  const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
  assert.equal(results.classifier, undefined);
  assert.equal(results.features.kind, "onnx");
  assert.equal(results.features.featuresOutput, "pooled");
  assert.deepEqual(results.features.mean, [0.485, 0.456, 0.406]);
  assert.match(results.features.sha256, /^[0-9a-f]{64}$/);
  const cells = results.cells as { w: number; fid: number; isMean: number }[];
  assert.deepEqual(cells.map((c) => c.w), [0, 1]);
  // IS of K = 5 classes lies in [1, 5]
  for (const c of cells) assert.ok(Number.isFinite(c.fid) && c.fid > 0 && c.isMean >= 1 - 1e-9 && c.isMean <= 5 + 1e-9, JSON.stringify(c));
  assert.match(readFileSync(join(out, "table.md"), "utf8"), /\| teacher \| ddim \| 1 \| [\d.]+ \([\d.]+\) \| [\d.]+ \([\d.]+\) \|/);
  assert.ok(existsSync(join(out, "fid-vs-is.png")));

  // the same network and preprocessing: statistics read back, the same FIDs
  const again = fewstep(...common, "--features", staticOnnx, "--features-output", "pooled", "--logits-output", "logits", ...imagenet, "--out-dir", join(dir, "again"));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /read from .*ref-[0-9a-f]{16}\.safetensors/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "again", "results.json"), "utf8")).cells.map((c: { fid: number }) => c.fid), cells.map((c) => c.fid));

  // another pixel range, or no class output: other statistics; FID only, no IS anywhere
  const fidOnly = join(dir, "fid-only");
  const other = fewstep(...common, "--features", staticOnnx, "--features-range", "-1,1", "--out-dir", fidOnly);
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stderr, /\(10 images; onnx .*static\.onnx \(features 'pooled'\)\) computed in/);
  assert.doesNotMatch(other.stderr, /IS /);
  const table = readFileSync(join(fidOnly, "table.md"), "utf8");
  assert.match(table, /^FID of n = 10 samples/);
  assert.match(table, /\| teacher \| ddim \| 1 \| [\d.]+ \| [\d.]+ \|/);
  assert.equal(JSON.parse(readFileSync(join(fidOnly, "results.json"), "utf8")).cells[0].isMean, null);
  assert.ok(existsSync(join(fidOnly, "fid-vs-w-N1.png")) && !existsSync(join(fidOnly, "fid-vs-is.png")));
});

test("eval --features: bad flags and networks, one line naming the flag and the fix, exit code 1", () => {
  const f = (name: string) => join(fixtures, name);
  const never = ["--out-dir", join(dir, "never")];
  const cases: [string[], RegExp][] = [
    [[...common, "--features", staticOnnx, "--classifier", teacherPath, ...never], /--classifier and --features are two feature networks: give one/],
    [[...common, "--classifier", teacherPath, "--features-range", "0,1", ...never], /--features-range applies to an ONNX network: add --features net\.onnx/],
    [[...common, "--features", f("missing.onnx"), ...never], /--features: .*missing\.onnx does not exist/],
    [[...common, "--features", staticOnnx, "--features-output", "pool3", ...never], /--features: .*static\.onnx has no output 'pool3' \(features output\); its outputs are: pooled, logits/],
    [[...common, "--features", staticOnnx, "--features-range", "1,0", ...never], /--features-range: give LO,HI with LO < HI/],
    [[...common, "--features", staticOnnx, "--features-mean", "0.5", ...never], /--features-mean needs --features-std/],
    [[...common, "--features", staticOnnx, "--features-size", "16", ...never], /--features: .*takes 20x20 images \(input 'image'\), not the 16x16 asked for/],
    [[...common, "--features", staticOnnx, "--logits-output", "logits", "--probs-output", "logits", ...never], /--logits-output and --probs-output both give/],
    [[...common, "--features", f("vector.onnx"), ...never], /--features: .*vector\.onnx: input 'image' has shape \[batch, 8\] \(rank 2\), not an image batch/],
    [[...common, "--features", f("log.onnx"), ...never], /--features: .*log\.onnx: output 'features' \(features\) has \d+ NaN or infinite value\(s\)/],
  ];
  for (const [args, message] of cases) {
    const run = fewstep(...args);
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
    assert.equal(run.stderr.trim().split("\n").length, 1, `more than one line: ${run.stderr}`);
  }
  assert.ok(!existsSync(join(dir, "never", "results.json")));
});
