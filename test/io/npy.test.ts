// Tests for the .npy reader/writer (src/io/npy.ts) against files and values written by NumPy
// (test/fixtures/io/make_fixtures.py), against numpy.load reading our output, and on malformed input.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { FewstepError, FormatError } from "../../src/io/errors.js";
import { DTYPES, type DType, type HostArray, fromTypedArray, hostArray, itemSize, numel, toTypedArray } from "../../src/io/host-array.js";
import { decodeNpy, encodeNpy, loadNpy, openNpyWriter, saveNpy } from "../../src/io/npy.js";

// Compiled to dist/test/io/, three levels below the repository root.
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/io/", import.meta.url));
const PYTHON = "/usr/bin/python3";
const hasNumpy = spawnSync(PYTHON, ["-c", "import numpy"]).status === 0;

const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")).npy as Record<
  string,
  { dtype: DType; shape: number[]; values: number[] }
>;

// A .npy image from a header given as text (padded NumPy's way), so tests can write headers our
// encoder never would.
function rawNpy(header: string, data = new Uint8Array(0), version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const text = new TextEncoder().encode(header);
  const headerLength = Math.ceil((prefix + text.byteLength + 1) / 64) * 64 - prefix;
  const out = new Uint8Array(prefix + headerLength + data.byteLength).fill(0x20, prefix, prefix + headerLength);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(text, prefix);
  out[prefix + headerLength - 1] = 0x0a;
  out.set(data, prefix + headerLength);
  return out;
}

function throwsFormat(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected a FormatError, got ${String(err)}`);
    assert.equal(err.name, "FormatError");
    assert.match(err.message, /bad\.npy/);
    assert.match(err.message, message);
    return true;
  });
}

// Every dtype .npy holds (all but bfloat16), with varied bytes (bool: 0 or 1).
function arraysOfEachDtype(): HostArray[] {
  return DTYPES.filter((d) => d !== "bfloat16").map((dtype, k) => {
    const shape = [[], [5], [2, 3], [2, 1, 3], [0, 4]][k % 5];
    const data = new Uint8Array(numel(shape) * itemSize(dtype)).map((_, i) => (dtype === "bool" ? (i + k) % 2 : (i * 29 + k * 7) % 256));
    return hostArray(dtype, shape, data);
  });
}

test("decodes the files NumPy wrote to the values NumPy computed", () => {
  for (const [name, want] of Object.entries(expected)) {
    const h = loadNpy(join(FIXTURES, `${name}.npy`));
    assert.equal(h.dtype, want.dtype, name);
    assert.deepEqual(h.shape, want.shape, name);
    assert.deepEqual(Array.from(toTypedArray(h) as ArrayLike<number | bigint>, Number), want.values, name);
  }
});

test("reads version 2.0 (u32 header length)", () => {
  const h = loadNpy(join(FIXTURES, "v2.npy"));
  assert.deepEqual(h.shape, expected.i4_2d.shape);
  assert.deepEqual(Array.from(toTypedArray({ ...h, dtype: "int32" })), expected.i4_2d.values);
});

test("refuses Fortran order and big-endian files with the NumPy fix", () => {
  assert.throws(() => loadNpy(join(FIXTURES, "fortran.npy")), (err: unknown) =>
    err instanceof FormatError && /fortran\.npy: .*only C order.*np\.ascontiguousarray\(arr\)/.test(err.message));
  assert.throws(() => loadNpy(join(FIXTURES, "big_endian.npy")), (err: unknown) =>
    err instanceof FormatError && /big_endian\.npy: big-endian dtype '>f4'.*arr\.astype\('<f4'\)/.test(err.message));
});

test("round trips every dtype, with NumPy's header layout", () => {
  for (const h of arraysOfEachDtype()) {
    const bytes = encodeNpy(h);
    assert.equal(bytes[6], 1, "version 1.0");
    const dataStart = 10 + new DataView(bytes.buffer).getUint16(8, true);
    assert.equal(dataStart % 64, 0, "header is a multiple of 64 bytes");
    assert.equal(bytes[dataStart - 1], 0x0a, 'header ends with "\\n"');
    const got = decodeNpy(bytes);
    assert.equal(got.dtype, h.dtype);
    assert.deepEqual(got.shape, h.shape);
    assert.deepEqual(got.data, h.data);
  }
});

test("writes version 2.0 when the header outgrows 65535 bytes", () => {
  const shape = new Array<number>(25000).fill(1); // "1, " per axis: about 75 kB of header
  const h = fromTypedArray("float32", shape, Float32Array.of(7));
  const bytes = encodeNpy(h);
  assert.equal(bytes[6], 2);
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  assert.ok(headerLength > 0xffff);
  assert.equal((12 + headerLength) % 64, 0);
  const got = decodeNpy(bytes);
  assert.deepEqual(got.shape, shape);
  assert.deepEqual(Array.from(toTypedArray({ ...got, dtype: "float32" })), [7]);
});

test("bfloat16 cannot be saved as .npy", () => {
  const h = fromTypedArray("bfloat16", [1], Uint16Array.of(0x3f80));
  assert.throws(() => encodeNpy(h), (err: unknown) => err instanceof FewstepError && /NumPy has no bfloat16/.test(err.message));
});

test("files we write load with numpy.load", (t) => {
  if (!hasNumpy) {
    t.skip(`${PYTHON} with numpy is not available`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "fewstep-io-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sent: { name: string; h: HostArray; descr: string; values: number[] }[] = [
    { name: "f4", h: fromTypedArray("float32", [2, 2], Float32Array.of(0.5, -1.25, 3, 1e-3)), descr: "<f4", values: Array.from(Float32Array.of(0.5, -1.25, 3, 1e-3)) },
    { name: "f8", h: fromTypedArray("float64", [1, 3, 1], Float64Array.of(Math.PI, -0, 1e-300)), descr: "<f8", values: [Math.PI, -0, 1e-300] },
    { name: "i8", h: fromTypedArray("int64", [3], BigInt64Array.of(-(2n ** 50n), 0n, 9n)), descr: "<i8", values: [-(2 ** 50), 0, 9] },
    { name: "scalar", h: fromTypedArray("float32", [], Float32Array.of(2.5)), descr: "<f4", values: [2.5] },
    { name: "b1", h: fromTypedArray("bool", [4], Uint8Array.of(1, 0, 0, 1)), descr: "|b1", values: [1, 0, 0, 1] },
    { name: "u1", h: fromTypedArray("uint8", [3], Uint8Array.of(0, 128, 255)), descr: "|u1", values: [0, 128, 255] },
    { name: "i4", h: fromTypedArray("int32", [2], Int32Array.of(-(2 ** 31), 5)), descr: "<i4", values: [-(2 ** 31), 5] },
    { name: "f2", h: fromTypedArray("float16", [2], Uint16Array.of(0x3c00, 0x0001)), descr: "<f2", values: [1, 2 ** -24] },
    { name: "empty", h: hostArray("float32", [0, 3], new Uint8Array(0)), descr: "<f4", values: [] },
  ];
  for (const { name, h } of sent) saveNpy(join(dir, `${name}.npy`), h);
  assert.equal(readdirSync(dir).filter((f) => f.includes(".tmp-")).length, 0);

  const script = `
import json, sys
import numpy as np
out = {}
for path in sys.argv[1:]:
    a = np.load(path)
    out[path] = {"descr": a.dtype.str, "shape": list(a.shape), "c": bool(a.flags.c_contiguous), "values": [float(v) for v in a.ravel()]}
print(json.dumps(out))
`;
  const paths = sent.map(({ name }) => join(dir, `${name}.npy`));
  const run = spawnSync(PYTHON, ["-c", script, ...paths], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const py = JSON.parse(run.stdout) as Record<string, { descr: string; shape: number[]; c: boolean; values: number[] }>;
  for (const [k, { name, h, descr, values }] of sent.entries()) {
    assert.deepEqual(py[paths[k]], { descr, shape: h.shape, c: true, values }, name);
  }
});

test("reads headers written by hand: double quotes, Python 2 longs, odd spacing", () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  const h = decodeNpy(rawNpy(`{"descr":"<f4","fortran_order":False,"shape":(2L,3L)}`, data));
  assert.deepEqual(h.shape, [2, 3]);
  assert.deepEqual(Array.from(toTypedArray({ ...h, dtype: "float32" })), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(decodeNpy(rawNpy(`{ 'shape' : ( 6 , ) , 'fortran_order' : False , 'descr' : '<f4' , }`, data)).shape, [6]);
  // Bytes after the array (a second np.save to the same handle) are ignored, as numpy.load does.
  assert.deepEqual(decodeNpy(rawNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }`, data)).data, data.subarray(0, 8));
});

test("refuses malformed files with a FormatError that names the source and the problem", () => {
  const decode = (bytes: Uint8Array) => () => decodeNpy(bytes, "bad.npy");
  const f4 = (shape: string, data = new Uint8Array(8)) => rawNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`, data);

  throwsFormat(decode(new TextEncoder().encode("PK\x03\x04 this is a zip")), /not a \.npy file/);
  throwsFormat(decode(Uint8Array.of(0x93, 0x4e, 0x55)), /not a \.npy file/);
  throwsFormat(decode(rawNpy("{}").map((b, i) => (i === 6 ? 4 : b))), /unsupported \.npy version 4\.0 \(supported: 1\.0, 2\.0, 3\.0\)/);
  throwsFormat(decode(rawNpy("{}").subarray(0, 40)), /header length 54 runs past the end of the file \(40 bytes\)/);
  throwsFormat(decode(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,")), /not a Python dict literal \(unexpected/);
  throwsFormat(decode(rawNpy("{'descr': '<f4', 'shape': (2,)}")), /must be a dict with 'descr', 'fortran_order' and 'shape'/);
  throwsFormat(decode(rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}")), /unsupported dtype '<c8'; supported: '<f4', '<f8', '<i8', '\|b1', '\|u1', '<i4', '<f2'/);
  throwsFormat(decode(rawNpy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}")), /structured dtypes are not supported/);
  throwsFormat(decode(f4("(-2,)")), /shape must be a tuple of non-negative integers, got \[-2\]/);
  throwsFormat(decode(f4("(3,)")), /data is truncated: '<f4' \(3,\) needs 12 bytes but 8 follow the header/);
});

test("openNpyWriter: rows appended in blocks give the bytes encodeNpy gives; a short or aborted write leaves no file", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-npy-stream-"));
  try {
    const values = Float32Array.from({ length: 5 * 3 }, (_, i) => i * 0.5 - 2);
    const whole = encodeNpy(fromTypedArray("float32", [5, 3], values));
    const path = join(dir, "streamed.npy");
    const writer = openNpyWriter(path, "float32", [5, 3]);
    for (const [start, rows] of [[0, 2], [2, 2], [4, 1]]) {
      writer.append(new Uint8Array(values.buffer, start * 12, rows * 12), rows);
    }
    assert.ok(!readdirSync(dir).includes("streamed.npy"), "nothing is published before commit");
    writer.commit();
    assert.deepEqual(new Uint8Array(readFileSync(path)), whole);

    const short = openNpyWriter(join(dir, "short.npy"), "float32", [5, 3]);
    short.append(new Uint8Array(values.buffer, 0, 24), 2);
    assert.throws(() => short.commit(), (e: unknown) => e instanceof FewstepError && /2 of 5 rows written; nothing saved/.test((e as Error).message));
    const aborted = openNpyWriter(join(dir, "aborted.npy"), "float64", [2]);
    aborted.abort();
    aborted.abort(); // twice is harmless
    assert.deepEqual(readdirSync(dir), ["streamed.npy"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a message quoting the header's text stays one line, control bytes escaped (found by test/io/fuzz.test.ts)", () => {
  const decode = (bytes: Uint8Array) => () => decodeNpy(bytes, "bad.npy");
  throwsFormat(decode(rawNpy("{'descr': '<f\n4', 'fortran_order': False, 'shape': (2,)}")), /^bad\.npy: unsupported dtype '<f\\n4'; supported/);
  throwsFormat(decode(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': \u007f(2,)}")), /^bad\.npy: \.npy header is not a Python dict literal \(unexpected "\\u007f\(2,\)\}[^\u007f\n]*" at offset 50\)$/);
});
