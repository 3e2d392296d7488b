// The latent record: malformed records are refused naming the file, a teacher's own record and a
// student's inherited one are both found, and the autoencoder is looked for at its recorded path,
// then beside the checkpoint (a shipped folder copied elsewhere), else one error with the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { latentRecordOf, locateAutoencoder, parseLatentRecord, type LatentRecord } from "../../src/io/latent-record.js";

const record: LatentRecord = { autoencoder: { path: "/nowhere/runs/ae/autoencoder.safetensors", sha256: "a".repeat(64) }, imageShape: [1, 32, 32], cropTo: 28, posterior: "mean" };

test("latent record: a teacher's own and a student's inherited record; malformed ones refused", () => {
  assert.deepEqual(latentRecordOf({ latent: record }, "t.safetensors"), record);
  assert.deepEqual(latentRecordOf({ distill: { stage: "two", data: { kind: "images", spec: "fashion-mnist", latent: record } } }, "s.safetensors"), record);
  assert.equal(latentRecordOf({ distill: { stage: "two", data: { kind: "images", spec: "fashion-mnist" } } }, "s.safetensors"), null);
  for (const bad of [{ ...record, cropTo: 33 }, { ...record, posterior: "mode" }, { ...record, autoencoder: { path: "x", sha256: "abc" } }, { ...record, imageShape: [1, 32] }]) {
    assert.throws(() => parseLatentRecord(bad, "m.safetensors"), /m\.safetensors: its latent record is malformed/);
  }
});

test("locateAutoencoder: the recorded path, else the file of that name beside the checkpoint, else an error with the fix", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-record-"));
  try {
    const student = join(dir, "student-N4.safetensors");
    assert.throws(() => locateAutoencoder(record, student), /its autoencoder \/nowhere\/runs\/ae\/autoencoder\.safetensors is not there, nor beside the checkpoint; pass --autoencoder/);
    writeFileSync(join(dir, "autoencoder.safetensors"), "");
    assert.equal(locateAutoencoder(record, student), join(dir, "autoencoder.safetensors"));
    const here = { ...record, autoencoder: { ...record.autoencoder, path: join(dir, "autoencoder.safetensors") } };
    assert.equal(locateAutoencoder(here, "/elsewhere/s.safetensors"), here.autoencoder.path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
