// Tests for the PNG encoder/decoder (src/io/png.ts): the CRC-32 check value, round trips at each
// channel count, files written by Python's zlib + struct (test/fixtures/io/make_png_fixture.py, rows
// with every filter type), one file per PNG format decoded to exactly PIL's pixels
// (test/fixtures/io/make_png_kinds.py), our files read back by that same script, and malformed input.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { deflateSync, inflateSync } from "node:zlib";
import { FormatError } from "../../src/io/errors.js";
import { concatBytes } from "../../src/io/host-array.js";
import { loadNpy } from "../../src/io/npy.js";
import { type PngImage, crc32, decodePng, encodePng, loadPng, savePng } from "../../src/io/png.js";

// Compiled to dist/test/io/, three levels below the repository root.
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/io/", import.meta.url));
const FIXTURE_SCRIPT = join(FIXTURES, "make_png_fixture.py");
const KINDS = join(FIXTURES, "png-kinds");
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
  return concatBytes(SIGNATURE, header, chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array(0)));
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

// test/fixtures/io/make_png_kinds.py: one 5x7 file per format, with the pixels PIL reads from it.
const KIND_NAMES = [
  "palette", "palette_trns", "palette_4bit", "grey_1bit", "grey_trns", "rgb_trns", "grey16", "rgb16",
  "grey_alpha", "grey_alpha16", "rgba", "rgba16", "interlaced_rgb", "interlaced_grey",
] as const;
const WITH_ALPHA = ["palette_trns", "grey_trns", "rgb_trns", "grey_alpha", "grey_alpha16", "rgba", "rgba16"];

/** A PIL-written .npy of uint8 [H, W] (grey) or [H, W, C] as the PngImage it stands for. */
function npyImage(path: string): PngImage {
  const a = loadNpy(path);
  assert.equal(a.dtype, "uint8", path);
  const [height, width, channels = 1] = a.shape;
  assert.ok(channels === 1 || channels === 3 || channels === 4, `${path}: shape [${a.shape.join(", ")}]`);
  return { width, height, channels, data: a.data as Uint8Array };
}

test("every PNG format decodes with alpha dropped to exactly PIL's convert(\"L\") / convert(\"RGB\")", () => {
  for (const name of KIND_NAMES) {
    const want = npyImage(join(KINDS, `${name}.npy`));
    const grey = name.startsWith("grey") || name === "interlaced_grey";
    assert.equal(want.channels, grey ? 1 : 3, `${name}: the fixture's own channel count`);
    assert.deepEqual(loadPng(join(KINDS, `${name}.png`), { alpha: "drop" }), want, name);
  }
});

test("files with alpha decode by default to exactly PIL's convert(\"RGBA\"); the others as with alpha dropped", () => {
  for (const name of KIND_NAMES) {
    const path = join(KINDS, `${name}.png`);
    const want = npyImage(join(KINDS, WITH_ALPHA.includes(name) ? `${name}_rgba.npy` : `${name}.npy`));
    assert.deepEqual(loadPng(path), want, name);
  }
});

test("16-bit samples keep their high byte (v >> 8), not round(v * 255 / 65535)", () => {
  // make_png_kinds.py puts 0x7FFF, 0x00FF, 0xFFFF, 0x0000, 0x8080, 0x80FF, 0x0180, 0xFF7F first.
  const rgb = loadPng(join(KINDS, "rgb16.png"));
  assert.deepEqual(Array.from(rgb.data.subarray(0, 8)), [0x7f, 0x00, 0xff, 0x00, 0x80, 0x80, 0x01, 0xff]);
  const grey = loadPng(join(KINDS, "grey16.png"));
  assert.deepEqual(Array.from(grey.data.subarray(0, 5)), [0x7f, 0x00, 0xff, 0x00, 0x80]);
});

test("a tRNS key colour keeps its colour: transparent pixels are not zeroed", () => {
  // grey_trns.png: key grey 77 on pixels (0..2, 0); rgb_trns.png: key (10, 200, 30) on (1..3, 1).
  const grey = loadPng(join(KINDS, "grey_trns.png"));
  assert.equal(grey.channels, 4);
  assert.deepEqual(Array.from(grey.data.subarray(0, 12)), [77, 77, 77, 0, 77, 77, 77, 0, 77, 77, 77, 0]);
  assert.equal(grey.data[15], 255, "pixel (3, 0) is not the key: opaque");
  const rgb = loadPng(join(KINDS, "rgb_trns.png"), { alpha: "drop" });
  assert.deepEqual(Array.from(rgb.data.subarray(3 * 6, 3 * 9)), [10, 200, 30, 10, 200, 30, 10, 200, 30]);
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
  const iend = chunk("IEND", new Uint8Array(0));

  // Framing, checked by our chunk walk before pngjs sees the bytes.
  throwsFormat(() => decodePng(ascii("GIF89a...."), "x.png"), /^x\.png: not a PNG file \(bad signature\)$/);
  throwsFormat(() => decodePng(new Uint8Array(0)), /^<buffer>: not a PNG file/);
  const corrupt = good.slice();
  corrupt[45] ^= 0xff; // a byte inside the IDAT data
  throwsFormat(() => decodePng(corrupt, "bad.png"), /^bad\.png: bad CRC in chunk IDAT at byte 33 \(file corrupt\): stored 0x[0-9a-f]+, computed 0x[0-9a-f]+$/);
  throwsFormat(() => decodePng(good.subarray(0, good.length - 5)), /file is truncated at byte \d+: it ends inside a chunk header/);
  throwsFormat(() => decodePng(good.subarray(0, good.length - 12)), /file is truncated at byte \d+: no IEND chunk/);
  throwsFormat(() => decodePng(good.subarray(0, 50)), /file is truncated at byte 50: chunk IDAT at byte 33 declares \d+ data bytes \+ 4 CRC bytes/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 16, 3), raw3x1)), /invalid bit depth 16 for colour type 3 \(valid: 1, 2, 4, 8\)/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 4, 2), raw3x1)), /invalid bit depth 4 for colour type 2 \(valid: 8, 16\)/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 5), raw3x1)), /invalid colour type 5/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 2, 2), raw3x1)), /unknown interlace method 2/);
  throwsFormat(() => decodePng(handPng(ihdr(0, 1, 8, 2), raw3x1)), /invalid size 0x1/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 3), Uint8Array.of(0, 0, 1, 0))), /palette image \(colour type 3\) has no PLTE chunk/);
  const noIhdr = concatBytes(SIGNATURE, chunk("IDAT", deflateSync(raw3x1)), iend);
  throwsFormat(() => decodePng(noIhdr), /first chunk must be IHDR, got IDAT/);
  throwsFormat(() => decodePng(concatBytes(SIGNATURE, ihdr(3, 1, 8, 2), iend)), /no IDAT chunk/);
  const unknownCritical = concatBytes(SIGNATURE, ihdr(3, 1, 8, 2), chunk("ABCD", new Uint8Array(1)), chunk("IDAT", deflateSync(raw3x1)), iend);
  throwsFormat(() => decodePng(unknownCritical), /unknown critical chunk ABCD/);

  // Image data. pngjs 7's sync inflate returns zeros for these on Node 20 instead of failing, so
  // node:zlib inflates the stream first.
  throwsFormat(() => decodePng(concatBytes(SIGNATURE, ihdr(3, 1, 8, 2), chunk("IDAT", ascii("not zlib")), iend)), /corrupt image data \(zlib: incorrect header check\)/);
  const cut = deflateSync(raw3x1).subarray(0, -6); // CRCs fine, the deflate stream stops early
  throwsFormat(() => decodePng(concatBytes(SIGNATURE, ihdr(3, 1, 8, 2), chunk("IDAT", cut), iend)), /corrupt image data \(zlib: unexpected end of file\)/);
  throwsFormat(() => decodePng(handPng(ihdr(3, 2, 8, 2), raw3x1)), /image data has 10 bytes after inflating, 3x2 at 8 bits, colour type 2 needs 20$/);
  // Adam7 of 3x2: passes 1, 4 and 6 hold one pixel (1 + 3 bytes each), pass 7 one row of 3 (1 + 9).
  throwsFormat(() => decodePng(handPng(ihdr(3, 2, 8, 2, 1), raw3x1)), /image data has 10 bytes after inflating, 3x2 at 8 bits, colour type 2, Adam7 needs 22$/);
  // Then pngjs's own message, wrapped.
  throwsFormat(() => decodePng(handPng(ihdr(3, 1, 8, 2), Uint8Array.of(5, ...raw3x1.subarray(1)))), /corrupt image data \(pngjs: Unrecognised filter type - 5\)/);
  const twoColours = chunk("PLTE", Uint8Array.of(1, 2, 3, 4, 5, 6));
  const badIndex = concatBytes(SIGNATURE, ihdr(3, 1, 8, 3), twoColours, chunk("IDAT", deflateSync(Uint8Array.of(0, 0, 9, 1))), iend);
  throwsFormat(() => decodePng(badIndex), /corrupt image data \(pngjs: index 9 not in palette\)/);

  throwsFormat(() => decodePng(good, "x.png", { alpha: "composite" as "drop" }), /decodePng: alpha must be "keep" or "drop", got composite/);
});

test("a corrupt chunk type is named on one line, its control bytes escaped (found by test/io/fuzz.test.ts)", () => {
  const raw3x1 = Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
  const lineBreakType = concatBytes(SIGNATURE, ihdr(3, 1, 8, 2), chunk("I\nAT", deflateSync(raw3x1)), chunk("IEND", new Uint8Array(0)));
  throwsFormat(() => decodePng(lineBreakType, "x.png"), /^x\.png: unknown critical chunk I\\nAT$/);
  throwsFormat(() => decodePng(concatBytes(SIGNATURE, chunk("a\r\nb", new Uint8Array(0))), "x.png"), /^x\.png: first chunk must be IHDR, got a\\r\\nb$/);
});

test("decodePng ignores bytes after IEND, as libpng and PIL do", () => {
  const good = encodePng(formulaImage(4, 3, 3));
  assert.deepEqual(decodePng(concatBytes(good, ascii("trailing junk"))), decodePng(good));
});

test("loadPng of a truncated or corrupt file names the file", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-png-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = readFileSync(join(KINDS, "palette_trns.png"));
  const truncated = join(dir, "truncated.png");
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 30));
  throwsFormat(() => loadPng(truncated), new RegExp(`^${truncated.replace(/[.]/g, "\\.")}: file is truncated at byte ${bytes.length - 30}: `));
  const corrupt = join(dir, "corrupt.png");
  const flipped = Uint8Array.from(bytes);
  flipped[bytes.length - 20] ^= 0x01; // inside the last IDAT
  writeFileSync(corrupt, flipped);
  throwsFormat(() => loadPng(corrupt), new RegExp(`^${corrupt.replace(/[.]/g, "\\.")}: bad CRC in chunk IDAT`));
});
