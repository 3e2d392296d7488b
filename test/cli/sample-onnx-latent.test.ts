// `fewstep sample --runtime onnx` on a latent student, without libtorch: the samples go through the
// decoder exported beside the student (outputs are decoded, cropped images), `--latents` keeps the
// latents the portable sampler drew, and the decoded images are libtorch's decodeLatents (then the
// crop) of those latents. A missing decoder, or another autoencoder's, is one line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { noGrad, tensor, tidy } from "../../src/engine/index.js";
import { exportAutoencoderToOnnx } from "../../src/export/export-autoencoder.js";
import { exportCheckpointToOnnx } from "../../src/export/export-onnx.js";
import { centerCropOffset } from "../../src/io/latent-record.js";
import { loadAutoencoder } from "../../src/io/load-autoencoder.js";
import { loadNpy } from "../../src/io/npy.js";
import { AutoencoderKL } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { openFewstepOnnx } from "../../src/portable/index.js";
import { LATENT_AE_CONFIG, writeLatentStudent } from "../helpers/latent-fixture.js";
import { maxAbsDiff } from "../helpers/onnx-parity.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-sample-onnx-latent-"));
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
  return spawnSync(process.execPath, ["--require", blocker, bin, "sample", "--runtime", "onnx", ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

const { aePath, studentPath } = writeLatentStudent(dir);
const studentOnnx = join(dir, "s.onnx");
const exported = exportCheckpointToOnnx(studentPath, { decoderFile: "s.decoder.onnx" });
writeFileSync(studentOnnx, exported.bytes);
writeFileSync(join(dir, "s.decoder.onnx"), exported.decoder!.bytes);

test("a latent student's samples are decoded through s.decoder.onnx: .npy of images, --latents, a PNG grid", async () => {
  const [out, latentsOut, grid] = [join(dir, "x.npy"), join(dir, "z.npy"), join(dir, "grid.png")];
  const run = fewstep("--model", studentOnnx, "--steps", "2", "--w", "1.5", "--seed", "4", "--n", "3", "--class", "1", "--out", out, "--latents", latentsOut);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /wrote 3 samples \[1,6,6\] \(float32\) to .*x\.npy .*decoded by .*s\.decoder\.onnx; latents \[2,4,4\] to .*z\.npy/);
  const x = loadNpy(out);
  const z = loadNpy(latentsOut);
  assert.deepEqual([x.shape, z.shape], [
    [3, 1, 6, 6],
    [3, 2, 4, 4],
  ]);
  const latents = new Float32Array(z.data.buffer.slice(z.data.byteOffset, z.data.byteOffset + z.data.byteLength));
  const images = new Float32Array(x.data.buffer.slice(x.data.byteOffset, x.data.byteOffset + x.data.byteLength));

  // the latents are the portable sampler's on the student alone
  const student = await openFewstepOnnx(ort, readFileSync(studentOnnx), { sessionOptions: { intraOpNumThreads: 1 } });
  const expected = await student.sample({ sampler: "ddim", steps: 2, w: 1.5, seed: 4, labels: [1, 1, 1] });
  await student.release();
  assert.deepEqual(latents, expected);

  // the images are libtorch's decode of those latents, center-cropped from 8 x 8 to 6 x 6
  const ae = loadAutoencoder(aePath).model;
  try {
    const full = tidy(() => noGrad(() => ae.decodeLatents(tensor(latents, { shape: [3, 2, 4, 4] }))).data() as Float32Array);
    const o = centerCropOffset(8, 6);
    const cropped = Float32Array.from({ length: 3 * 36 }, (_, k) => full[Math.floor(k / 36) * 64 + (Math.floor((k % 36) / 6) + o) * 8 + (k % 6) + o]);
    assert.ok(maxAbsDiff(images, cropped) <= 1e-4, `max abs diff ${maxAbsDiff(images, cropped)}`);
  } finally {
    ae.dispose();
  }

  const png = fewstep("--model", studentOnnx, "--steps", "2", "--w", "1", "--n", "4", "--out", grid);
  assert.equal(png.status, 0, png.stderr);
  assert.deepEqual([...readFileSync(grid).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test("a missing decoder, another autoencoder's decoder, --latents on a pixel model: one line each, nothing written", () => {
  const out = join(dir, "never.npy");
  // the student copied to a folder without its decoder
  const other = mkdtempSync(join(dir, "moved-"));
  writeFileSync(join(other, "s.onnx"), exported.bytes);
  // another autoencoder's decoder under the right name
  const wrong = mkdtempSync(join(dir, "wrong-"));
  writeFileSync(join(wrong, "s.onnx"), exported.bytes);
  const ae = new AutoencoderKL(new ParamStore({ seed: 11 }), LATENT_AE_CONFIG);
  const otherDecoder = exportAutoencoderToOnnx(ae, "decoder", { source: "other.safetensors", sha256: "cd".repeat(32), imageShape: [1, 8, 8], cropTo: 6 });
  ae.dispose();
  writeFileSync(join(wrong, "s.decoder.onnx"), otherDecoder.bytes);
  const pixel = fileURLToPath(new URL("../../../test/fixtures/onnx/fashion-toy-N4.onnx", import.meta.url));
  const cases: [string[], RegExp][] = [
    [["--model", join(other, "s.onnx")], /is a latent model; its decoder .*moved-.*s\.decoder\.onnx cannot be read \(ENOENT\); keep the s\.decoder\.onnx that `fewstep export` wrote beside it/],
    [["--model", join(wrong, "s.onnx")], /s\.decoder\.onnx is the decoder of autoencoder cdcdcdcdcdcd\.\.\., but .*s\.onnx was trained on the latents of [0-9a-f]{12}\.\.\.; export them together/],
    [["--model", pixel, "--steps", "4", "--latents", join(dir, "z2.npy")], /--latents: .*fashion-toy-N4\.onnx is not a latent model/],
    [["--model", studentOnnx, "--steps", "2", "--latents", join(dir, "z2.bin")], /--latents .*z2\.bin: the file name must end in \.npy/],
  ];
  for (const [args, message] of cases) {
    const run = fewstep(...args, "--n", "2", "--out", out);
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.equal(existsSync(out), false);
  }
});
