// Tests for the PNG encoder/decoder (src/io/png.ts): the CRC-32 check value, round trips at each
// channel count, files written by Python's zlib + struct (test/fixtures/io/make_png_fixture.py, rows
// with every filter type), our files read back by that same script, and malformed input.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { deflateSync, inflateSync } from "node:zlib";
import { FormatError } from "../../src/io/errors.js";
import { type PngImage, crc32, decodePng, encodePng, loadPng, savePng } from "../../src/io/png.js";

// Compiled to dist/test/io/, three levels below the repository root.
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/io/", import.meta.url));
const FIXTURE_SCRIPT = join(FIXTURES, "make_png_fixture.py");
const PYTHON = "/usr/bin/python3";
const hasPython = spawnSync(PYTHON, ["-c", "import zlib, struct, json"]).status === 0;

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// The pixel formula of make_png_fixture.py.
const pixel = (x: number, y: number, c: number): number => (x * 37 + y * 91 + c * 53 + x * y * 13) % 256;

function formulaImage(width: number, height: number, channels: 1 | 3 | 4): PngImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = pixel(x, y, c);
  }
  return { width, height, channels, data };
}

// Rows of noise, gradient, flat colour and an x*y pattern, so the adaptive encoder uses every filter.
function mixedImage(width: number, height: number, channels: 1 | 3 | 4, seed: number): PngImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / channels);
    const [x, y] = [p % width, Math.floor(p / width)];
    const kind = y % 4;
    if (kind === 0) data[i] = s >>> 24;
    else if (kind === 1) data[i] = (x * 5 + y * 3 + (i % channels)) & 0xff;
    else if (kind === 2) data[i] = 200;
    else data[i] = (((x * y) >> 2) + (i % channels)) & 0xff;
  }
  return { width, height, channels, data };
}

// One PNG chunk: length, type, body, CRC (with our crc32, checked separately against Python's).
function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(ascii(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function ihdr(width: number, height: number, bitDepth: number, colorType: number, interlace = 0): Uint8Array {
  const body = new Uint8Array(13);
  new DataView(body.buffer).setUint32(0, width);
  new DataView(body.buffer).setUint32(4, height);
  body.set([bitDepth, colorType, 0, 0, interlace], 8);
  return chunk("IHDR", body);
}

// A hand-built PNG whose zlib stream holds `raw` (filter bytes included).
function handPng(header: Uint8Array, raw: Uint8Array): Uint8Array {
  return concat(SIGNATURE, header, chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array(0)));
}

function throwsFormat(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected a FormatError, got ${String(err)}`);
    assert.equal(err.name, "FormatError");
    assert.match(err.message, message);
    return true;
  });
}

test("crc32 gives the standard check value and continues across pieces", () => {
  assert.equal(crc32(ascii("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(ascii("6789"), crc32(ascii("12345"))), 0xcbf43926);
  // The IEND chunk's CRC is fixed by the spec: every PNG ends in AE 42 60 82.
  assert.equal(crc32(ascii("IEND")), 0xae426082);
});

// The filter type byte of each row of a PNG we wrote (one IDAT chunk, right after IHDR).
function rowFilterTypes(bytes: Uint8Array, image: PngImage): number[] {
  const idatLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(33);
  const raw = inflateSync(bytes.subarray(41, 41 + idatLength));
  const stride = image.width * image.channels + 1;
  return Array.from({ length: image.height }, (_, y) => raw[y * stride]);
}

test("round trips gray, RGB and RGBA, with and without filtering", () => {
  const used = new Set<number>();
  for (const channels of [1, 3, 4] as const) {
    for (const [width, height] of [[1, 1], [13, 7], [64, 33]]) {
      const image = mixedImage(width, height, channels, width * 31 + channels);
      for (const filter of ["none", "adaptive"] as const) {
        const bytes = encodePng(image, { filter });
        const types = rowFilterTypes(bytes, image);
        if (filter === "none") assert.ok(types.every((t) => t === 0));
        types.forEach((t) => used.add(t));
        assert.deepEqual(decodePng(bytes), image, `${width}x${height}x${channels} filter ${filter}`);
      }
    }
  }
  assert.deepEqual([...used].sort(), [0, 1, 2, 3, 4], "the adaptive encoder exercised every filter type");
});

test("writes the spec's layout: signature, IHDR, zlib rows with filter bytes, IEND", () => {
  const image = formulaImage(5, 3, 3);
  const bytes = encodePng(image, { filter: "none" });
  assert.deepEqual(bytes.subarray(0, 8), SIGNATURE);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(view.getUint32(8), 13);
  assert.equal(String.fromCharCode(...bytes.subarray(12, 16)), "IHDR");
  assert.deepEqual([view.getUint32(16), view.getUint32(20), ...bytes.subarray(24, 29)], [5, 3, 8, 2, 0, 0, 0]);
  const idatLength = view.getUint32(33);
  assert.equal(String.fromCharCode(...bytes.subarray(37, 41)), "IDAT");
  const raw = inflateSync(bytes.subarray(41, 41 + idatLength));
  const rows: number[] = [];
  for (let y = 0; y < 3; y++) rows.push(0, ...image.data.subarray(y * 15, (y + 1) * 15));
  assert.deepEqual(Array.from(raw), rows);
  assert.deepEqual(Array.from(bytes.subarray(-12)), [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
});

test("adaptive filtering makes smooth images smaller than filter None", () => {
  const width = 200;
  const data = new Uint8Array(width * width * 3).map((_, i) => (Math.floor(i / 3) % width) + Math.floor(i / (3 * width)));
  const image: PngImage = { width, height: width, channels: 3, data };
  assert.ok(encodePng(image, { filter: "adaptive" }).length < encodePng(image, { filter: "none" }).length);
});

test("decodes PNGs written by Python's zlib + struct, every filter type", () => {
  for (const [name, width, height, channels] of [
    ["rgb_filters.png", 6, 5, 3], // rows 2, 4, 1, 3, 0; two IDAT chunks
    ["gray_up.png", 7, 3, 1], // rows 2, 2, 4; a tEXt chunk to skip
    ["rgba_paeth.png", 4, 4, 4], // rows 4, 4, 2, 4
  ] as const) {
    assert.deepEqual(loadPng(join(FIXTURES, name)), formulaImage(width, height, channels), name);
  }
});

test("files we write decode with the Python reader (zlib.crc32, all filters undone)", (t) => {
  if (!hasPython) {
    t.skip(`${PYTHON} is not available`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "fewstep-png-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const channels of [1, 3, 4] as const) {
    const image = mixedImage(37, 11, channels, 7 + channels);
    const path = join(dir, `c${channels}.png`);
    savePng(path, image);
    const run = spawnSync(PYTHON, [FIXTURE_SCRIPT, "--read", path], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const got = JSON.parse(run.stdout) as { width: number; height: number; channels: number; data: number[] };
    assert.deepEqual(got, { width: 37, height: 11, channels, data: Array.from(image.data) });
  }
});

test("savePng writes atomically and loadPng reads it back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-png-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "img.png");
  const image = formulaImage(9, 4, 4);
  savePng(path, image);
  savePng(path, image); // replacing an existing file
  assert.deepEqual(readdirSync(dir), ["img.png"], "no temporary files left beside it");
  assert.deepEqual(loadPng(path), image);
  assert.deepEqual(decodePng(readFileSync(path)), image);
});

test("encodePng refuses bad sizes, channel counts and data lengths", () => {
  const data = new Uint8Array(12);
  throwsFormat(() => encodePng({ width: 2, height: 2, channels: 4, data: new Uint8Array(15) }), /encodePng: data has 15 bytes but 2x2x4 needs 16/);
  throwsFormat(() => encodePng({ width: 0, height: 12, channels: 1, data }), /encodePng: width must be an integer in \[1, \d+\], got 0/);
  throwsFormat(() => encodePng({ width: 12, height: 1.5, channels: 1, data }), /height must be an integer .* got 1\.5/);
  throwsFormat(() => encodePng({ width: 12, height: -1, channels: 1, data }), /height must be an integer/);
  throwsFormat(() => encodePng({ width: 3, height: 2, channels: 2 as 1, data }), /channels must be 1 \(gray\), 3 \(RGB\) or 4 \(RGBA\), got 2/);
  throwsFormat(() => encodePng({ width: 4, height: 1, channels: 3, data }, { filter: "paeth" as "none" }), /filter must be "none" or "adaptive"/);
});

test("decodePng names the source and the problem for bad files", () => {
  const good = encodePng(formulaImage(4, 3, 3));
  const raw3x1 = Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);

  throwsFormat(() => decodePng(ascii("GIF89a...."), "x.png"), /^x\.png: not a PNG file \(bad signature\)$/);
  throwsFormat(() => decodePng(new Uint8Array(0)), /^<buffer>: not a PNG file/);

  const corrupt = good.slice();
  corrupt[45] ^= 0xff; // a byte inside the IDAT data
  throwsFormat(() => decodePng(corrupt, "bad.png"), /bad\.png: bad CRC in chunk IDAT at byte 33: stored 0x[0-9a-f]+, computed 0x[0-9a-f]+/);

  throwsFormat(() => decodePng(good.subarray(0, good.length - 5)), /chunk IEND at byte \d+ is truncated|truncated chunk header/);
  throwsFormat(() => decodePng(good.subarray(0, good.length - 12)), /missing IEND chunk/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 16, 2), raw3x1)), /unsupported bit depth 16 \(only 8 is read\)/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 3), raw3x1)), /unsupported colour type 3/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 4), raw3x1)), /unsupported colour type 4/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 2, 1), raw3x1)), /unsupported interlace method 1/);
  throwsFormat(() => decodePng(handPng(ihdr(0, 1, 8, 2), raw3x1)), /invalid size 0x1/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 2), Uint8Array.of(5, ...raw3x1.subarray(1)))), /row 0 has unknown filter type 5/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 2, 8, 2), raw3x1)), /image data has 10 bytes after inflating, 3x2x3 needs 20/);

  const badZlib = concat(SIGNATURE, ihdr(3, 1, 8, 2), chunk("IDAT", ascii("not zlib")), chunk("IEND", new Uint8Array(0)));
  throwsFormat(() => decodePng(badZlib), /corrupt image data \(zlib: /);
  const noIhdr = concat(SIGNATURE, chunk("IDAT", deflateSync(raw3x1)), chunk("IEND", new Uint8Array(0)));
  throwsFormat(() => decodePng(noIhdr), /first chunk must be IHDR, got IDAT/);
  const noIdat = concat(SIGNATURE, ihdr(3, 1, 8, 2), chunk("IEND", new Uint8Array(0)));
  throwsFormat(() => decodePng(noIdat), /no IDAT chunk/);
  const unknownCritical = concat(SIGNATURE, ihdr(3, 1, 8, 2), chunk("ABCD", new Uint8Array(1)), chunk("IDAT", deflateSync(raw3x1)), chunk("IEND", new Uint8Array(0)));
  throwsFormat(() => decodePng(unknownCritical), /unsupported critical chunk ABCD/);
});
