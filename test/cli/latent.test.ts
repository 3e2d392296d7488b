// The latent pipeline through bin/fewstep.js on tiny images (12 x 12 halves, padded to 16, factor 2
// -> latents [2, 8, 8]): train-autoencoder (a few steps, exact resume), encode to a latent cache,
// decode it, train-teacher --autoencoder (the record in the checkpoint), both distillation stages
// on the latent teacher (the same code: the record reaches every student), sample (decoded images,
// raw latents), and the refusals: another autoencoder (hash), a cache of another autoencoder, an
// image size the down factor does not divide, latents of the wrong width.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tidy } from "../../src/engine/index.js";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";
import { latentRecordOf } from "../../src/io/latent-record.js";
import { loadAutoencoder } from "../../src/io/load-autoencoder.js";
import { loadNpy, saveNpy } from "../../src/io/npy.js";
import { loadPng } from "../../src/io/png.js";
import { halvesImages } from "../helpers/tiny-images.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fewstep-cli-latent-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const fewstep = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } });
const ok = (run: ReturnType<typeof fewstep>) => assert.equal(run.status, 0, run.stderr);

// 64 images 12 x 12, two classes
const images = halvesImages(64, 0, 12);
const imagesNpy = join(dir, "images.npy");
const labelsNpy = join(dir, "labels.npy");
saveNpy(imagesNpy, { dtype: "uint8", shape: [64, 1, 12, 12], data: images.images });
saveNpy(labelsNpy, { dtype: "int32", shape: [64], data: new Uint8Array(images.labels.buffer) });
const data = `npy:${imagesNpy},${labelsNpy}`;
const aeFlags = ["--data", data, "--size", "16", "--widths", "8,8", "--groups", "4", "--latent-channels", "2", "--batch-size", "8", "--scale-images", "32", "--grid-every", "0"];
const ae = join(dir, "ae", "autoencoder.safetensors");

test("latent CLI: train-autoencoder resumes exactly, encode/decode round trip, a latent teacher and its students carry the record", async () => {
  ok(fewstep("train-autoencoder", ...aeFlags, "--steps", "4", "--checkpoint-every", "2", "--out-dir", join(dir, "ae")));
  // the same run in two halves: the resumed one ends with the same weights
  ok(fewstep("train-autoencoder", ...aeFlags, "--steps", "2", "--out-dir", join(dir, "ae-half")));
  ok(fewstep("train-autoencoder", ...aeFlags, "--steps", "4", "--checkpoint-every", "2", "--out-dir", join(dir, "ae-half"), "--resume"));
  const [a, b] = [loadAutoencoder(ae), loadAutoencoder(join(dir, "ae-half", "autoencoder.safetensors"))];
  assert.equal(a.sha256, b.sha256, "a resumed run must end where the uninterrupted one does");
  assert.deepEqual(a.model.latentShape([1, 16, 16]), [2, 8, 8]);
  assert.ok(a.model.config.scaling_factor > 0 && a.model.config.scaling_factor !== 1, `scaling factor ${a.model.config.scaling_factor}`);
  a.model.dispose();
  b.model.dispose();

  const cache = join(dir, "latents.safetensors");
  ok(fewstep("encode", "--autoencoder", ae, "--data", data, "--out", cache));
  // the same cache in shards of 24: read back from any shard, it is the same data
  ok(fewstep("encode", "--autoencoder", ae, "--data", data, "--out", join(dir, "sharded.safetensors"), "--shard-size", "24"));
  const { readLatentCache } = await import("../../src/latent/latent-space.js");
  const whole = readLatentCache(cache);
  const sharded = readLatentCache(join(dir, "sharded-00002-of-00003.safetensors"));
  assert.equal(sharded.dataset.count, 64);
  assert.equal(tidy(() => whole.dataset.all().x.sub(sharded.dataset.all().x).abs().max().item()), 0);
  whole.dataset.dispose();
  sharded.dataset.dispose();
  rmSync(join(dir, "sharded-00003-of-00003.safetensors"));
  assert.throws(() => readLatentCache(join(dir, "sharded-00001-of-00003.safetensors")), /shard .*sharded-00003-of-00003\.safetensors of the cache is missing/);
  const decoded = join(dir, "decoded.png");
  ok(fewstep("decode", "--latents", cache, "--n", "4", "--columns", "4", "--out", decoded));
  // four 12 x 12 images (cropped back from 16) at scale 2 in one row
  assert.equal(loadPng(decoded).width, 6 + 4 * 24 + 3 * 2 + 6);

  const teacherDir = join(dir, "teacher");
  const unet = ["--base-channels", "8", "--channel-mults", "1,2", "--batch-size", "8", "--grid-every", "0", "--grid-steps", "2"];
  ok(fewstep("train-teacher", "--data", cache, "--autoencoder", ae, "--steps", "3", ...unet, "--out-dir", teacherDir));
  const teacher = join(teacherDir, "teacher.safetensors");
  const checkpoint = loadCheckpoint(teacher);
  const record = latentRecordOf(checkpoint.metadata, teacher)!;
  disposeCheckpoint(checkpoint);
  const aeHash = loadAutoencoder(ae);
  assert.equal(record.autoencoder.sha256, aeHash.sha256);
  aeHash.model.dispose();
  assert.deepEqual(record.imageShape, [1, 16, 16]);
  assert.equal(record.cropTo, 12);

  const run = join(dir, "distill");
  ok(fewstep("distill", "stage-one", "--teacher", teacher, "--data", data, "--steps", "2", "--batch-size", "8", "--out-dir", run));
  ok(fewstep("distill", "stage-two", "--out-dir", run, "--start-steps", "4", "--target-steps", "2", "--steps-per-halving", "2", "--batch-size", "8"));
  const student = join(run, "student-N2.safetensors");
  const s = loadCheckpoint(student);
  assert.equal(latentRecordOf(s.metadata, student)?.autoencoder.sha256, record.autoencoder.sha256);
  disposeCheckpoint(s);

  const out = join(dir, "x.npy");
  const latents = join(dir, "z.npy");
  ok(fewstep("sample", "--model", student, "--steps", "2", "--w", "1", "--n", "3", "--out", out, "--latents", latents));
  assert.deepEqual(loadNpy(out).shape, [3, 1, 12, 12]);
  assert.deepEqual(loadNpy(latents).shape, [3, 2, 8, 8]);
  // the kept latents decode with the autoencoder named (cropped to the data's 12 x 12)
  const again = join(dir, "again.png");
  ok(fewstep("decode", "--latents", latents, "--autoencoder", ae, "--crop", "12", "--columns", "3", "--out", again));
  assert.equal(loadPng(again).width, 6 + 3 * 24 + 2 * 2 + 6);

  // refusals, each one line naming the problem and the fix
  const other = join(dir, "ae-other");
  ok(fewstep("train-autoencoder", ...aeFlags, "--steps", "1", "--seed", "7", "--out-dir", other));
  const otherAe = join(other, "autoencoder.safetensors");
  let bad = fewstep("sample", "--model", student, "--steps", "2", "--n", "2", "--out", join(dir, "y.npy"), "--autoencoder", otherAe);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /trained on latents of the autoencoder .* but .*ae-other.* is another one \(sha256 [0-9a-f]{12}\.\.\.\); pass that autoencoder/);
  bad = fewstep("train-teacher", "--data", cache, "--autoencoder", otherAe, "--steps", "1", ...unet, "--out-dir", join(dir, "t2"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /latents\.safetensors holds latents of the autoencoder .* not of .*ae-other.*; encode the data again/);
  bad = fewstep("train-autoencoder", "--data", data, "--widths", "8,8,8,8", "--groups", "4", "--steps", "1", "--out-dir", join(dir, "ae-bad"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /image size 12 does not divide by the autoencoder's down factor 8 \(4 levels\): pass --size 16/);
  bad = fewstep("distill", "stage-one", "--teacher", fileURLToPath(new URL("../../../models/fashion-mnist/teacher.safetensors", import.meta.url)), "--data", cache, "--steps", "1", "--out-dir", join(dir, "d2"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /latents\.safetensors is a latent cache, but .*teacher\.safetensors is a pixel-space model; give it images/);
  const wide = join(dir, "wide.npy");
  saveNpy(wide, { dtype: "float32", shape: [1, 3, 8, 8], data: new Uint8Array(3 * 64 * 4) });
  bad = fewstep("decode", "--latents", wide, "--autoencoder", ae, "--out", join(dir, "w.png"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /the decoder takes latents \[n, 2, h, w\], got \[1,3,8,8\]; were these latents made by another autoencoder/);
});
