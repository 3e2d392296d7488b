// Tests for the safetensors reader/writer (src/io/safetensors.ts) against a file and values written by
// PyTorch (test/fixtures/io/make_fixtures.py), against Python reading our output, and on malformed input.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { writeFileAtomic, writeFileAtomicAsync } from "../../src/io/atomic.js";
import { FewstepError, FormatError } from "../../src/io/errors.js";
import { DTYPES, type DType, type HostArray, fromTypedArray, hostArray, itemSize, numel, toTypedArray } from "../../src/io/host-array.js";
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from "../../src/io/safetensors.js";

// Compiled to dist/test/io/, three levels below the repository root.
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/io/", import.meta.url));
const PYTHON = "/usr/bin/python3";
const hasNumpy = spawnSync(PYTHON, ["-c", "import numpy"]).status === 0;

interface Expected {
  dtype: DType;
  shape: number[];
  values: number[];
}
const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")).safetensors as {
  metadata: Record<string, string>;
  tensors: Record<string, Expected>;
};

// IEEE 754 binary16 bits to a number, written out from the definition (independent of the code
// under test): subnormals below exponent 1, infinities and NaN at exponent 31.
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// bfloat16 is the top half of a float32.
function bfloat16ToNumber(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16);
  return view.getFloat32(0);
}

// Element values as plain numbers (bool as 0/1), the form expected.json uses.
function values(h: HostArray): number[] {
  if (h.dtype === "float16") return Array.from(toTypedArray({ ...h, dtype: "float16" }), halfToNumber);
  if (h.dtype === "bfloat16") return Array.from(toTypedArray({ ...h, dtype: "bfloat16" }), bfloat16ToNumber);
  return Array.from(toTypedArray(h) as ArrayLike<number | bigint>, Number);
}

// A safetensors image from a header given as text, so tests can write headers our encoder refuses.
function rawFile(header: string, data = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function throwsFormat(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected a FormatError, got ${String(err)}`);
    assert.equal(err.name, "FormatError");
    assert.match(err.message, /bad\.safetensors/);
    assert.match(err.message, message);
    return true;
  });
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-io-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// One small tensor per dtype, with varied bytes (bool: 0 or 1, as PyTorch stores it).
function oneOfEach(): Record<string, HostArray> {
  const out: Record<string, HostArray> = {};
  DTYPES.forEach((dtype, k) => {
    const shape = k % 2 === 0 ? [k + 1] : [2, k];
    const data = new Uint8Array(numel(shape) * itemSize(dtype)).map((_, i) => (dtype === "bool" ? (i + k) % 2 : (i * 37 + k * 11) % 256));
    out[`t.${dtype}`] = hostArray(dtype, shape, data);
  });
  out.scalar = fromTypedArray("float64", [], Float64Array.of(Math.PI));
  out.empty = hostArray("float32", [0, 3], new Uint8Array(0));
  return out;
}

test("decodes the file PyTorch wrote to the values PyTorch computed", () => {
  const { tensors, metadata } = loadSafetensors(join(FIXTURES, "tensors.safetensors"));
  assert.deepEqual(metadata, expected.metadata);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected.tensors).sort());
  for (const [name, want] of Object.entries(expected.tensors)) {
    assert.equal(tensors[name].dtype, want.dtype, name);
    assert.deepEqual(tensors[name].shape, want.shape, name);
    assert.deepEqual(values(tensors[name]), want.values, name);
  }
});

test("re-encoding the PyTorch-side file reproduces it byte for byte (the reference layout)", () => {
  const file = readFileSync(join(FIXTURES, "tensors.safetensors"));
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(file));
  assert.deepEqual(encodeSafetensors(tensors, metadata), new Uint8Array(file));
});

test("round trips every dtype, with a 0-d and an empty tensor, and aligns the data", () => {
  const tensors = oneOfEach();
  const metadata = { note: "héllo ✓", config: JSON.stringify({ w: [0, 4] }) };
  const bytes = encodeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0, "data block starts 8-byte aligned");
  const decoded = decodeSafetensors(bytes);
  assert.deepEqual(decoded.metadata, metadata);
  assert.deepEqual(Object.keys(decoded.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const got = decoded.tensors[name];
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(got.data, t.data, name);
    assert.equal(got.data.byteOffset % itemSize(t.dtype), 0, `${name} starts aligned to its item size`);
  }
  assert.deepEqual(decodeSafetensors(encodeSafetensors({})), { tensors: {}, metadata: {} });
});

test("unaligned tensor data, which the format allows, reads through a copy", () => {
  // A U8 tensor first puts the F32 tensor at data offset 1.
  const data = new Uint8Array(9);
  data[0] = 42;
  new DataView(data.buffer).setFloat32(1, -1.5, true);
  const header = `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}`;
  const { tensors } = decodeSafetensors(rawFile(header.padEnd(header.length + ((8 - (header.length % 8)) % 8)), data));
  assert.notEqual(tensors.b.data.byteOffset % 4, 0);
  assert.deepEqual(Array.from(toTypedArray({ ...tensors.b, dtype: "float32" })), [-1.5, 0]);
  assert.deepEqual(Array.from(toTypedArray({ ...tensors.a, dtype: "uint8" })), [42]);
});

test("host arrays check their byte length and typed array class", () => {
  assert.throws(() => hostArray("int64", [2, 3], new Uint8Array(40)), (err: unknown) =>
    err instanceof FewstepError && err.message === "hostArray: int64 [2,3] needs 48 bytes but data has 40 bytes");
  assert.throws(() => hostArray("float32", [2, -1], new Uint8Array(0)), /shape must be non-negative integers, got \[2,-1\]/);
  assert.throws(() => hostArray("complex64" as DType, [1], new Uint8Array(8)), /unknown dtype "complex64"; supported: float32, /);
  assert.throws(() => fromTypedArray("float32", [2], Float64Array.of(1, 2) as unknown as Float32Array), /float32 needs a Float32Array, got Float64Array/);
  assert.throws(() => fromTypedArray("int32", [3], Int32Array.of(1, 2)), /int32 \[3\] needs 12 bytes but data has 8 bytes/);
  const h = fromTypedArray("int64", [2], BigInt64Array.of(-3n, 2n ** 62n));
  assert.deepEqual(toTypedArray(h), BigInt64Array.of(-3n, 2n ** 62n));
  assert.equal(numel([]), 1);
  assert.equal(numel([4, 0]), 0);
});

test("a file we write reads back in Python (struct + json + numpy)", (t) => {
  if (!hasNumpy) {
    t.skip(`${PYTHON} with numpy is not available`);
    return;
  }
  const dir = tempDir(t);
  const path = join(dir, "ours.safetensors");
  const sent: Record<string, { tensor: HostArray; values: number[] }> = {
    "layer.weight": { tensor: fromTypedArray("float32", [2, 2], Float32Array.of(0.5, -1.25, 3, 1e-3)), values: Array.from(Float32Array.of(0.5, -1.25, 3, 1e-3)) },
    double: { tensor: fromTypedArray("float64", [3], Float64Array.of(Math.E, -0, 1e300)), values: [Math.E, -0, 1e300] },
    step: { tensor: fromTypedArray("int64", [], BigInt64Array.of(-(2n ** 40n))), values: [-(2 ** 40)] },
    ints: { tensor: fromTypedArray("int32", [2], Int32Array.of(-7, 2 ** 31 - 1)), values: [-7, 2 ** 31 - 1] },
    mask: { tensor: fromTypedArray("bool", [3], Uint8Array.of(1, 0, 1)), values: [1, 0, 1] },
    pixels: { tensor: fromTypedArray("uint8", [1, 3], Uint8Array.of(0, 128, 255)), values: [0, 128, 255] },
    // Bit patterns with known values: 1, -3, 3.140625, the smallest subnormal 2^-133.
    bf: { tensor: fromTypedArray("bfloat16", [4], Uint16Array.of(0x3f80, 0xc040, 0x4049, 0x0001)), values: [1, -3, 3.140625, 2 ** -133] },
    // 1, -2, the smallest subnormal 2^-24, the largest finite 65504.
    half: { tensor: fromTypedArray("float16", [2, 2], Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7bff)), values: [1, -2, 2 ** -24, 65504] },
  };
  const metadata = { format: "pt", stage: "2" };
  saveSafetensors(path, Object.fromEntries(Object.entries(sent).map(([k, v]) => [k, v.tensor])), metadata);

  // Parses the file the way the format's README describes it, with no fewstep code involved.
  const script = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
kinds = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "BOOL": "?", "U8": "u1", "F16": "<f2"}
out = {"metadata": header.pop("__metadata__", {}), "tensors": {}, "aligned": (8 + n) % 8 == 0}
for name, info in header.items():
    b, e = info["data_offsets"]
    if info["dtype"] == "BF16":
        a = (np.frombuffer(data[b:e], "<u2").astype("<u4") << 16).view("<f4")
    else:
        a = np.frombuffer(data[b:e], kinds[info["dtype"]])
    a = a.reshape(info["shape"])
    out["tensors"][name] = {"dtype": info["dtype"], "shape": list(a.shape), "values": [float(v) for v in a.ravel()]}
print(json.dumps(out))
`;
  const run = spawnSync(PYTHON, ["-c", script, path], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const py = JSON.parse(run.stdout) as { metadata: Record<string, string>; aligned: boolean; tensors: Record<string, { dtype: string; shape: number[]; values: number[] }> };
  assert.deepEqual(py.metadata, metadata);
  assert.equal(py.aligned, true);
  const stNames: Record<DType, string> = { float32: "F32", float64: "F64", int64: "I64", int32: "I32", bool: "BOOL", uint8: "U8", bfloat16: "BF16", float16: "F16" };
  for (const [name, { tensor, values: want }] of Object.entries(sent)) {
    assert.equal(py.tensors[name].dtype, stNames[tensor.dtype], name);
    assert.deepEqual(py.tensors[name].shape, tensor.shape, name);
    assert.deepEqual(py.tensors[name].values, want, name);
  }
});

test("refuses malformed files with a FormatError that names the source and the problem", () => {
  const decode = (bytes: Uint8Array) => () => decodeSafetensors(bytes, "bad.safetensors");
  const f32 = (extra: string) => rawFile(`{"w":{"dtype":"F32","shape":[2],${extra}}}`, new Uint8Array(8));

  throwsFormat(decode(new Uint8Array(5)), /5 bytes long, shorter than the 8-byte header length/);
  throwsFormat(decode(rawFile("{}", new Uint8Array(0), 1000)), /header length 1000 runs past the end of the file \(10 bytes\)/);
  throwsFormat(decode(rawFile("{not json")), /header is not UTF-8 JSON/);
  throwsFormat(decode(Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0x7d)), /header is not UTF-8 JSON/);
  throwsFormat(decode(rawFile("[1,2]")), /header is not a JSON object/);
  throwsFormat(decode(rawFile(`{"w":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}}`, new Uint8Array(8))), /tensor "w": unknown dtype "F8"; supported: F32, F64, I64, BOOL, BF16, F16, U8, I32/);
  throwsFormat(decode(rawFile(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, new Uint8Array(8))), /tensor "w": shape must be a list of non-negative integers, got \[-2\]/);
  throwsFormat(decode(rawFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, new Uint8Array(8))), /shape must be a list of non-negative integers/);
  throwsFormat(decode(f32(`"data_offsets":[0,16]`)), /tensor "w": data_offsets \[0,16\] out of range of the 8-byte data block/);
  throwsFormat(decode(f32(`"data_offsets":[8,0]`)), /data_offsets \[8,0\] out of range/);
  throwsFormat(decode(f32(`"data_offsets":[0]`)), /data_offsets \[0\] out of range/);
  throwsFormat(decode(f32(`"data_offsets":[0,4]`)), /tensor "w": data_offsets \[0,4\] hold 4 bytes but F32 \[2\] needs 8/);
  throwsFormat(decode(rawFile(`{"w":[1]}`)), /tensor "w": entry is not an object/);
  throwsFormat(decode(rawFile(`{"__metadata__":{"step":3}}`)), /"__metadata__" must map strings to strings/);
});

test("a message quoting the file's own text stays one line (found by test/io/fuzz.test.ts)", () => {
  const decode = (bytes: Uint8Array) => () => decodeSafetensors(bytes, "bad.safetensors");
  // V8's JSON.parse message quotes the text around the error, line break included.
  throwsFormat(decode(rawFile('{"w":\n x}')), /header is not UTF-8 JSON \(Unexpected token 'x', "\{"w":\\n x\}" is not valid JSON\)$/);
  // Tensor names are the file's to choose; control characters in them are escaped.
  throwsFormat(decode(rawFile('{"a\\r\\nb\\u001b":{"dtype":"F8","shape":[],"data_offsets":[0,0]}}')), /^[^\n\r\u001b]*tensor "a\\r\\nb\\u001b": unknown dtype "F8"/);
});

test("the encoder refuses what safetensors cannot hold", () => {
  const w = fromTypedArray("float32", [1], Float32Array.of(1));
  assert.throws(() => encodeSafetensors({ w }, { step: 3 } as unknown as Record<string, string>), (err: unknown) =>
    err instanceof FewstepError && /metadata "step" must be a string.*got number/.test(err.message));
  assert.throws(() => encodeSafetensors({ __metadata__: w }), /"__metadata__" is reserved/);
  assert.throws(() => encodeSafetensors({ w: { dtype: "float32", shape: [2], data: new Uint8Array(4) } }), (err: unknown) =>
    err instanceof FewstepError && /tensor "w": float32 \[2\] needs 8 bytes but data has 4 bytes/.test(err.message));
});

test("saveSafetensors replaces the file atomically and leaves no temporary files", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "model.safetensors");
  saveSafetensors(path, { a: fromTypedArray("float32", [1], Float32Array.of(1)) });
  saveSafetensors(path, { b: fromTypedArray("float32", [1], Float32Array.of(2)) }, { step: "2" });
  assert.deepEqual(readdirSync(dir), ["model.safetensors"]);
  assert.deepEqual(Object.keys(loadSafetensors(path).tensors), ["b"]);

  // No folder: the temporary file cannot be made, and nothing appears.
  assert.throws(() => saveSafetensors(join(dir, "missing", "model.safetensors"), {}), { code: "ENOENT" });
  assert.equal(existsSync(join(dir, "missing")), false);

  // The rename fails (the target is a non-empty folder) after the temporary file was written: it is removed.
  mkdirSync(join(dir, "taken", "inside"), { recursive: true });
  assert.throws(() => saveSafetensors(join(dir, "taken"), {}));
  assert.deepEqual(readdirSync(dir).sort(), ["model.safetensors", "taken"]);
});

test("writeFileAtomic and writeFileAtomicAsync write strings and bytes, and clean up on failure", async (t) => {
  const dir = tempDir(t);
  writeFileAtomic(join(dir, "a.json"), '{"ok":true}');
  await writeFileAtomicAsync(join(dir, "b.bin"), Uint8Array.of(1, 2, 3));
  assert.equal(readFileSync(join(dir, "a.json"), "utf8"), '{"ok":true}');
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, "b.bin"))), Uint8Array.of(1, 2, 3));
  mkdirSync(join(dir, "taken", "inside"), { recursive: true });
  await assert.rejects(writeFileAtomicAsync(join(dir, "taken"), "x"));
  await assert.rejects(writeFileAtomicAsync(join(dir, "missing", "c"), "x"), { code: "ENOENT" });
  assert.deepEqual(readdirSync(dir).sort(), ["a.json", "b.bin", "taken"]);
});
