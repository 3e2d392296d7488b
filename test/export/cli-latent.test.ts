// `fewstep export` of a latent model and of an autoencoder alone: the student file names its
// decoder, which is written beside it and decodes as libtorch's decodeLatents then the recorded
// crop; --with-encoder adds the encoder; another autoencoder (by hash) is refused in one line
// naming both hashes and nothing is written; --autoencoder alone writes the part --part names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { Generator, noGrad, randn, tensor, tidy } from "../../src/engine/index.js";
import { centerCropOffset } from "../../src/io/latent-record.js";
import { loadAutoencoder } from "../../src/io/load-autoencoder.js";
import { readFewstepAutoencoderMetadata, readFewstepMetadata } from "../../src/portable/onnx-metadata.js";
import { writeAutoencoder, writeLatentStudent, LATENT_CROP } from "../helpers/latent-fixture.js";
import { maxAbsDiff, openSession } from "../helpers/onnx-parity.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));

function fewstep(args: string[]) {
  return spawnSync(process.execPath, [bin, "export", ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" } });
}

function withDir(body: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "fewstep-export-latent-"));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  "a latent student exports with its decoder beside it; the student names it and the decoder is decodeLatents + crop",
  withDir(async (dir) => {
    const { aePath, studentPath, sha256 } = writeLatentStudent(dir);
    const out = join(dir, "s.onnx");
    const run = fewstep(["--model", studentPath, "--out", out]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote .*s\.onnx .*\n {2}model {3}unet, v-prediction, 3 classes .*distilled for 2 steps, w in \[0, 4\], latent \(decoder s\.decoder\.onnx\)/);
    assert.match(run.stdout, /wrote .*s\.decoder\.onnx \(.* parameters\)\n {2}decoder autoencoder-kl from ae\.safetensors \(sha256 [0-9a-f]{12}\.\.\.\), scaling factor 0\.6, images cropped to 6 x 6/);
    assert.match(run.stdout, /input {3}latents float32 \[batch, 2, 4, 4\]/);
    assert.match(run.stdout, /output {2}image {3}float32 \[batch, 1, 6, 6\]/);
    assert.deepEqual(readdirSync(dir).sort(), ["ae.safetensors", "s.decoder.onnx", "s.onnx", "student.safetensors"]);

    const student = readFewstepMetadata(readFileSync(out), "s.onnx");
    assert.deepEqual(student.latent, { decoder: "s.decoder.onnx", autoencoderSha256: sha256, imageShape: [1, 8, 8], cropTo: LATENT_CROP });
    assert.deepEqual(student.exampleShape, [2, 4, 4]);
    const decoderBytes = readFileSync(join(dir, "s.decoder.onnx"));
    const decoder = readFewstepAutoencoderMetadata(decoderBytes, "decoder");
    assert.equal(decoder.autoencoderSha256, sha256);
    assert.deepEqual([decoder.latentShape, decoder.imageShape, decoder.cropTo, decoder.scalingFactor], [[2, 4, 4], [1, 8, 8], 6, 0.6]);

    const n = 2;
    const latents = tidy(() => Float32Array.from(randn([n, 2, 4, 4], new Generator(3)).data() as Float32Array));
    const ae = loadAutoencoder(aePath).model;
    const session = await openSession(decoderBytes);
    try {
      const full = tidy(() => noGrad(() => ae.decodeLatents(tensor(latents, { shape: [n, 2, 4, 4] }))).data() as Float32Array);
      const o = centerCropOffset(8, 6);
      const cropped = Float32Array.from({ length: n * 36 }, (_, k) => full[Math.floor(k / 36) * 64 + (Math.floor((k % 36) / 6) + o) * 8 + (k % 6) + o]);
      const image = (await session.run({ latents: new ort.Tensor("float32", latents, [n, 2, 4, 4]) })).image;
      assert.ok(maxAbsDiff(image.data as Float32Array, cropped) <= 1e-4);
    } finally {
      await session.release();
      ae.dispose();
    }
  }),
);

test(
  "--with-encoder adds s.encoder.onnx; an autoencoder not where the record says is found by --autoencoder",
  withDir((dir) => {
    const { aePath, studentPath, sha256 } = writeLatentStudent(dir, { recordedPath: "/nonexistent/ae.safetensors" });
    // the recorded path is gone; the file of that name beside the checkpoint is used
    const out = join(dir, "s.onnx");
    const run = fewstep(["--model", studentPath, "--out", out, "--with-encoder"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /wrote .*s\.encoder\.onnx/);
    const encoder = readFewstepAutoencoderMetadata(readFileSync(join(dir, "s.encoder.onnx")), "encoder");
    assert.deepEqual([encoder.latentShape, encoder.imageShape, encoder.cropTo, encoder.autoencoderSha256], [[2, 4, 4], [1, 8, 8], null, sha256]);
    // moved under another name: only --autoencoder finds it
    const moved = join(dir, "elsewhere.safetensors");
    renameSync(aePath, moved);
    const missing = fewstep(["--model", studentPath, "--out", join(dir, "t.onnx")]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /its autoencoder \/nonexistent\/ae\.safetensors is not there, nor beside the checkpoint; pass --autoencoder/);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    const found = fewstep(["--model", studentPath, "--out", join(dir, "t.onnx"), "--autoencoder", moved]);
    assert.equal(found.status, 0, found.stderr);
    assert.match(found.stdout, /decoder autoencoder-kl from elsewhere\.safetensors/);
  }),
);

test(
  "another autoencoder is refused by hash in one line naming both hashes, and nothing is written",
  withDir((dir) => {
    const { studentPath, sha256 } = writeLatentStudent(dir);
    const other = join(dir, "other.safetensors");
    const otherSha = writeAutoencoder(other, 9);
    const run = fewstep(["--model", studentPath, "--out", join(dir, "s.onnx"), "--autoencoder", other]);
    assert.equal(run.status, 1);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.ok(run.stderr.includes(`other.safetensors: autoencoder sha256 ${otherSha} is not ${sha256}, the one`), run.stderr);
    assert.match(run.stderr, /pass --autoencoder with that autoencoder \(recorded as .*ae\.safetensors\)/);
    assert.deepEqual(readdirSync(dir).sort(), ["ae.safetensors", "other.safetensors", "student.safetensors"]);
  }),
);

test(
  "--autoencoder alone: the decoder by default, --part encoder, --size; misplaced flags are one line",
  withDir((dir) => {
    const { aePath, studentPath } = writeLatentStudent(dir);
    const dec = fewstep(["--autoencoder", aePath, "--out", join(dir, "dec.onnx")]);
    assert.equal(dec.status, 0, dec.stderr);
    const decoder = readFewstepAutoencoderMetadata(readFileSync(join(dir, "dec.onnx")), "decoder");
    assert.deepEqual([decoder.latentShape, decoder.imageShape, decoder.cropTo], [[2, 4, 4], [1, 8, 8], null]);
    const enc = fewstep(["--autoencoder", aePath, "--part", "encoder", "--size", "16", "--out", join(dir, "enc.onnx")]);
    assert.equal(enc.status, 0, enc.stderr);
    assert.match(enc.stdout, /input {3}image {3}float32 \[batch, 1, 16, 16\]/);
    assert.match(enc.stdout, /output {2}logvar {2}float32 \[batch, 2, 8, 8\]/);
    const cases: [string[], RegExp][] = [
      [["--autoencoder", aePath, "--size", "7", "--out", join(dir, "x.onnx")], /image size 7x7 does not divide by the autoencoder's down factor 2/],
      [["--autoencoder", aePath, "--with-encoder", "--out", join(dir, "x.onnx")], /--with-encoder goes with --model/],
      [["--model", studentPath, "--part", "encoder", "--out", join(dir, "x.onnx")], /--part and --size go with --autoencoder alone/],
      [["--autoencoder", studentPath, "--out", join(dir, "x.onnx")], /not an autoencoder checkpoint: metadata\.model\.kind is "unet"/],
      [["--autoencoder", join(dir, "nope"), "--out", join(dir, "x.onnx")], /--autoencoder .*nope: no such file or folder/],
      [["--model", aePath, "--out", join(dir, "x.onnx")], /ae\.safetensors is an autoencoder, not a denoiser: export its decoder or encoder with --autoencoder/],
    ];
    for (const [args, message] of cases) {
      const run = fewstep(args);
      assert.equal(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    }
    assert.ok(!readdirSync(dir).includes("x.onnx"));
  }),
);

test(
  "a pixel model refuses --with-encoder and --autoencoder in one line",
  withDir((dir) => {
    const teacher = fileURLToPath(new URL("../../../models/fashion-mnist/teacher.safetensors", import.meta.url));
    const run = fewstep(["--model", teacher, "--out", join(dir, "t.onnx"), "--with-encoder"]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /teacher\.safetensors is not a latent model \(no latent record\), so it has no autoencoder to export/);
    assert.deepEqual(readdirSync(dir), []);
  }),
);
