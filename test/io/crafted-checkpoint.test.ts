// Crafted safetensors files and checkpoints (issue 18, "Checkpoints"): bytes written by hand (an
// 8-byte little-endian header length, the JSON header, the data block), so each file holds exactly
// the flaw under test. Every one must fail fast, before any large allocation, with fewstep's own
// error naming the problem: duplicate keys, overlapping offsets, gaps and trailing bytes, integer or
// non-finite weights, and configs past their size limits or larger than the stored weights.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { ShapeError, zeros } from "../../src/engine/index.js";
import { CheckpointError, FormatError } from "../../src/io/errors.js";
import { loadClassifier } from "../../src/io/load-classifier.js";
import { loadModel } from "../../src/io/load-model.js";
import { decodeSafetensors } from "../../src/io/safetensors.js";
import { toHostRecord } from "../../src/io/tensor-bridge.js";
import { MlpDenoiser } from "../../src/nn/mlp-denoiser.js";
import { ParamStore } from "../../src/nn/param-store.js";

/** A safetensors image from a header text and a data block, nothing checked. */
function rawFile(header: string, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A safetensors image from entries laid out back to back, with a "fewstep" metadata record. */
function craft(entries: Entry[], fewstep?: unknown): Uint8Array {
  const parts: string[] = [];
  if (fewstep !== undefined) parts.push(`"__metadata__":${JSON.stringify({ fewstep: JSON.stringify(fewstep) })}`);
  let offset = 0;
  for (const e of entries) {
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.byteLength] })}`);
    offset += e.data.byteLength;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const e of entries) {
    data.set(e.data, at);
    at += e.data.byteLength;
  }
  return rawFile(`{${parts.join(",")}}`, data);
}

const f32 = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

function tempFile(t: TestContext, bytes: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-crafted-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "crafted.safetensors");
  writeFileSync(path, bytes);
  return path;
}

/** fn throws `cls` matching `pattern`, within a second. */
function failsFast(fn: () => unknown, cls: new (...args: never[]) => Error, pattern: RegExp): void {
  const start = performance.now();
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
  const ms = performance.now() - start;
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
}

test("the header's keys, top level or nested, must be unique", () => {
  const dup = rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1));
  failsFast(() => decodeSafetensors(dup, "dup.safetensors"), FormatError, /dup\.safetensors: .*tensor "w": duplicate key "w" in the header/);
  const dupMeta = rawFile(`{"__metadata__":{"a":"1","a":"2"}}`);
  failsFast(() => decodeSafetensors(dupMeta), FormatError, /"__metadata__": duplicate key "a"/);
  const dupField = rawFile(`{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}`, f32(1));
  failsFast(() => decodeSafetensors(dupField), FormatError, /tensor "w": duplicate key "shape"/);
  // Equal names in different objects, and a key-like string inside a value, are fine.
  const ok = rawFile(`{"__metadata__":{"w":"{\\"w\\":1}"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1));
  assert.deepEqual(Object.keys(decodeSafetensors(ok).tensors), ["w"]);
});

test("the tensors tile the data block: no overlap, no gap, no trailing bytes", () => {
  const t = (name: string, begin: number, end: number) => `"${name}":{"dtype":"F32","shape":[${(end - begin) / 4}],"data_offsets":[${begin},${end}]}`;
  failsFast(() => decodeSafetensors(rawFile(`{${t("w", 0, 4)}}`, f32(1, 2)), "x.st"), FormatError, /x\.st: .*4 trailing bytes after the last tensor "w"/);
  failsFast(() => decodeSafetensors(rawFile(`{${t("a", 0, 8)},${t("b", 4, 8)}}`, f32(1, 2))), FormatError, /tensor "b": data_offsets \[4,8\] overlap tensor "a" \[0,8\]/);
  failsFast(() => decodeSafetensors(rawFile(`{${t("a", 0, 4)},${t("b", 8, 12)}}`, f32(1, 2, 3))), FormatError, /tensor "b": data_offsets \[8,12\] leave bytes 4\.\.8 of the data block unused after tensor "a"/);
  failsFast(() => decodeSafetensors(rawFile(`{${t("a", 4, 8)}}`, f32(1, 2))), FormatError, /tensor "a": .*leave bytes 0\.\.4/);
  // Out of order in the header but tiling the block is valid.
  assert.deepEqual(Object.keys(decodeSafetensors(rawFile(`{${t("b", 4, 8)},${t("a", 0, 4)}}`, f32(1, 2))).tensors).sort(), ["a", "b"]);
});

const small = { dim: 2, numClasses: 2, hidden: 8, depth: 1, fourierFeatures: 2 };

/** The entries of a real small MLP denoiser, so only the flaw under test is wrong. */
function smallEntries(): Entry[] {
  const model = new MlpDenoiser(new ParamStore({ seed: 0 }), small);
  try {
    return Object.entries(toHostRecord(model.store.named())).map(([name, h]) => ({ name, dtype: "F32", shape: h.shape, data: new Uint8Array(h.data) }));
  } finally {
    model.dispose();
  }
}

test("a checkpoint's weights must be finite floating-point tensors", (t) => {
  const meta = { model: { kind: "mlp-denoiser", config: small } };
  const good = smallEntries();
  loadModel(tempFile(t, craft(good, meta))).dispose(); // the unmodified file loads

  const asInt = good.map((e) => (e.name === "input.weight" ? { ...e, dtype: "I32" } : e));
  failsFast(() => loadModel(tempFile(t, craft(asInt, meta))), CheckpointError, /weight input\.weight is int32, not a floating-point type/);

  const withNaN = good.map((e) => {
    if (e.name !== "input.weight") return e;
    const v = new Float32Array(e.data.slice().buffer);
    v[0] = v[3] = v[5] = NaN;
    v[1] = -Infinity;
    return { ...e, data: new Uint8Array(v.buffer) };
  });
  failsFast(() => loadModel(tempFile(t, craft(withNaN, meta))), CheckpointError, /weight input\.weight has 3 NaN values; weight input\.weight has 1 infinite value/);
});

test("a crafted config is refused before anything is built", (t) => {
  const weights = smallEntries();
  const mlp = (config: object) => tempFile(t, craft(weights, { model: { kind: "mlp-denoiser", config: { ...small, ...config } } }));
  failsFast(() => loadModel(mlp({ depth: 1e6 })), CheckpointError, /depth must be an integer in \[0, 256\], got 1000000/);
  failsFast(() => loadModel(mlp({ hidden: 1e7, numClasses: 1e9, fourierFeatures: 1e8 })), CheckpointError,
    /numClasses must be an integer in \[1, 100000\], got 1000000000; hidden must be an integer in \[1, 16384\], got 10000000; fourierFeatures must be an integer in \[1, 1024\]/);
  // Within the limits but far larger than the stored weights: refused by the parameter estimate.
  failsFast(() => loadModel(mlp({ hidden: 4096, depth: 64 })), CheckpointError, /mlp-denoiser config implies at least \d+ parameters but the checkpoint stores \d+ weight values/);

  const unet = (config: object) => tempFile(t, craft(weights, { model: { kind: "unet", config: { channels: 3, size: 8, numClasses: 2, ...config } } }));
  failsFast(() => loadModel(unet({ baseChannels: 1e6, channelMults: Array(20).fill(1) })), CheckpointError, /baseChannels must be an integer in \[8, 4096\].*channelMults must be a list of at most 8 integers/);
  failsFast(() => loadModel(unet({ baseChannels: 1024 })), CheckpointError, /unet config implies at least \d+ parameters/);

  const classifier = tempFile(t, craft(weights, { model: { kind: "classifier", config: { channels: 3, size: 8, numClasses: 1e9 } } }));
  failsFast(() => loadClassifier(classifier), CheckpointError, /numClasses must be an integer in \[2, 100000\], got 1000000000/);
});

test("a checkpoint error quoting the file's own text stays one line (found by test/io/fuzz.test.ts)", (t) => {
  const meta = { model: { kind: "mlp-denoiser", config: small } };
  const good = smallEntries();
  // A weight named with a line break: listed as unexpected, escaped.
  const renamed = good.map((e) => (e.name === "input.weight" ? { ...e, name: "input.weight\n" } : e));
  failsFast(() => loadModel(tempFile(t, craft(renamed, meta))), CheckpointError, /^[^\n]*missing input\.weight; unexpected input\.weight\\n$/);
  // "fewstep" metadata that is not JSON: V8 quotes the text around the error, line break included.
  const brokenMeta = rawFile(`{"__metadata__":${JSON.stringify({ fewstep: '{"model":\n x}' })}}`);
  failsFast(() => loadModel(tempFile(t, brokenMeta)), CheckpointError, /^[^\n]*"fewstep" metadata is not valid JSON \(Unexpected token 'x', "\{"model":\\n x\}" is not valid JSON\)$/);
  // An unknown config field, as the file spells it.
  const oddField = craft(good, { model: { kind: "mlp-denoiser", config: { ...small, "a\nb": 1 } } });
  failsFast(() => loadModel(tempFile(t, oddField)), CheckpointError, /^[^\n]*unknown field 'a\\nb'/);
});

test("ParamStore.load refuses a dtype change other than float to float", () => {
  const store = new ParamStore();
  try {
    store.param("w", () => zeros([2]));
    assert.throws(() => store.load({ w: zeros([2], { dtype: "int32" }) }), (err: unknown) =>
      err instanceof ShapeError && /dtype mismatch w: expected float32 got int32/.test(err.message));
    store.load({ w: zeros([2], { dtype: "float64" }) }); // float to float converts
  } finally {
    store.dispose();
  }
});
