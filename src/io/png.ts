// PNG encoder and decoder for 8-bit grayscale, RGB and RGBA images (PNG spec, W3C 2003 / ISO 15948):
// signature, IHDR/IDAT/IEND chunks with CRC-32 (spec Annex D), zlib stream via node:zlib, the five
// scanline filters of spec section 9 (None, Sub, Up, Average, Paeth). Enough for fewstep's sample
// plots and for reading back what common tools write at these formats; no palette, 16-bit or Adam7.

import { readFileSync } from "node:fs";
import { deflateSync, inflateSync } from "node:zlib";
import { writeFileAtomic } from "./atomic.js";
import { FormatError } from "./errors.js";

/** An 8-bit image, rows top to bottom, channels interleaved (gray; R,G,B; or R,G,B,A). */
export interface PngImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  /** `width * height * channels` bytes, row-major. */
  data: Uint8Array;
}

/** Options of `encodePng`. */
export interface PngEncodeOptions {
  /**
   * Scanline filtering: "none" writes filter type 0 on every row; "adaptive" picks per row the
   * filter with the smallest sum of |signed bytes| (the heuristic of spec section 12.8), which
   * usually makes plots and photos noticeably smaller at some CPU cost.
   * @default "adaptive"
   */
  filter?: "none" | "adaptive";
  /**
   * zlib compression level, 0 (store) to 9.
   * @default 6
   */
  level?: number;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
// PNG colour type per channel count (spec table 11.1); 4 (gray + alpha) and 3 (palette) are not used.
const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;
const CHANNELS_OF_COLOR_TYPE: Record<number, 1 | 3 | 4> = { 0: 1, 2: 3, 6: 4 };
// Largest width/height the spec allows (section 11.2.2: "0 is an invalid value", at most 2^31 - 1).
const MAX_DIMENSION = 0x7fffffff;

// CRC-32 of ISO 3309 / ITU-T V.42 (polynomial 0xEDB88320, reflected), the byte-at-a-time table of
// spec Annex D, built once on first use.
let crcTable: Uint32Array | undefined;
function getCrcTable(): Uint32Array {
  if (crcTable !== undefined) return crcTable;
  crcTable = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crcTable[n] = c >>> 0;
  }
  return crcTable;
}

/**
 * CRC-32 (the one of PNG, zlib and gzip) of `bytes`, as an unsigned 32-bit number.
 * `crc32(ascii("123456789")) === 0xcbf43926`, the standard check value.
 * @param previous the CRC of the bytes before, to continue a running CRC over several pieces
 * @default previous 0 (start of the data)
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const table = getCrcTable();
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Spec section 9.4 predictor from a (left), b (up), c (up-left); each filter type is written once
// here and serves both the encoder (subtract) and the decoder (add).
function predict(type: number, a: number, b: number, c: number): number {
  switch (type) {
    case 0: // None
      return 0;
    case 1: // Sub
      return a;
    case 2: // Up
      return b;
    case 3: // Average: floor((a + b) / 2), computed without 8-bit overflow
      return (a + b) >>> 1;
    default: {
      // 4, Paeth: the neighbour closest to a + b - c, ties broken a, b, c
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      if (pa <= pb && pa <= pc) return a;
      return pb <= pc ? b : c;
    }
  }
}

// Filters one scanline `row` (prev: the raw row above, zeros for the first) into out[1..] with out[0]
// = type. bpp = bytes per pixel: "left" is the same channel of the previous pixel.
function filterRow(type: number, row: Uint8Array, prev: Uint8Array, bpp: number, out: Uint8Array): void {
  out[0] = type;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const c = i >= bpp ? prev[i - bpp] : 0;
    out[i + 1] = (row[i] - predict(type, a, prev[i], c)) & 0xff;
  }
}

// Sum of bytes read as signed, the "minimum sum of absolute differences" heuristic.
function filteredCost(filtered: Uint8Array): number {
  let sum = 0;
  for (let i = 1; i < filtered.length; i++) sum += filtered[i] < 128 ? filtered[i] : 256 - filtered[i];
  return sum;
}

function checkImage(image: PngImage): void {
  const { width, height, channels, data } = image;
  for (const [name, value] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_DIMENSION) {
      throw new FormatError(`encodePng: ${name} must be an integer in [1, ${MAX_DIMENSION}], got ${value}`);
    }
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new FormatError(`encodePng: channels must be 1 (gray), 3 (RGB) or 4 (RGBA), got ${String(channels)}`);
  }
  if (!(data instanceof Uint8Array)) throw new FormatError("encodePng: data must be a Uint8Array");
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new FormatError(`encodePng: data has ${data.length} bytes but ${width}x${height}x${channels} needs ${expected}`);
  }
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length))); // CRC over type + data
  return out;
}

/**
 * Encodes an 8-bit gray (colour type 0), RGB (2) or RGBA (6) image as a non-interlaced PNG.
 * @throws FormatError when width/height are not positive integers, channels is not 1, 3 or 4, or
 *   `data` does not hold exactly `width * height * channels` bytes
 */
export function encodePng(image: PngImage, opts: PngEncodeOptions = {}): Uint8Array {
  checkImage(image);
  const { width, height, channels, data } = image;
  const filter = opts.filter ?? "adaptive";
  if (filter !== "none" && filter !== "adaptive") {
    throw new FormatError(`encodePng: filter must be "none" or "adaptive", got ${String(filter)}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  const trial = new Uint8Array(stride + 1);
  let prev: Uint8Array = new Uint8Array(stride); // zeros: the row "above" the first row (spec section 9.2)
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * stride, (y + 1) * stride);
    const out = raw.subarray(y * (stride + 1), (y + 1) * (stride + 1));
    if (filter === "none") {
      out[0] = 0;
      out.set(row, 1);
    } else {
      let best = Infinity;
      for (let type = 0; type <= 4; type++) {
        filterRow(type, row, prev, channels, trial);
        const cost = filteredCost(trial);
        if (cost < best) {
          best = cost;
          out.set(trial);
        }
      }
    }
    prev = row;
  }

  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  // ihdr[10..12] = 0: compression method (zlib), filter method (adaptive), no interlace

  const parts = [SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: opts.level ?? 6 })), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Decodes a non-interlaced 8-bit gray, RGB or RGBA PNG (any of the five filter types; ancillary
 * chunks are skipped, CRCs are checked).
 * @param source names the file in error messages
 * @default source "<buffer>"
 * @throws FormatError naming `source` and the problem: bad signature or CRC, truncated data, or a
 *   format outside this subset (bit depth, colour type, interlace)
 */
export function decodePng(bytes: Uint8Array, source = "<buffer>"): PngImage {
  const fail = (problem: string, cause?: unknown): FormatError =>
    new FormatError(`${source}: ${problem}`, cause === undefined ? undefined : { cause });
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw fail("not a PNG file (bad signature)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let channels: 1 | 3 | 4 | undefined;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  let offset = SIGNATURE.length;
  while (offset < bytes.length && !sawEnd) {
    if (offset + 12 > bytes.length) throw fail(`truncated chunk header at byte ${offset}`);
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) throw fail(`chunk ${type} at byte ${offset} is truncated (${length} data bytes declared)`);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    const stored = view.getUint32(offset + 8 + length);
    const computed = crc32(bytes.subarray(offset + 4, offset + 8 + length));
    if (stored !== computed) {
      throw fail(`bad CRC in chunk ${type} at byte ${offset}: stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`);
    }
    if (channels === undefined && type !== "IHDR") throw fail(`first chunk must be IHDR, got ${type}`);
    if (type === "IHDR") {
      if (channels !== undefined) throw fail("more than one IHDR chunk");
      if (length !== 13) throw fail(`IHDR must hold 13 bytes, got ${length}`);
      const b = new DataView(body.buffer, body.byteOffset, 13);
      width = b.getUint32(0);
      height = b.getUint32(4);
      const [bitDepth, colorType, compression, filterMethod, interlace] = body.subarray(8, 13);
      if (width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
        throw fail(`invalid size ${width}x${height}`);
      }
      if (bitDepth !== 8) throw fail(`unsupported bit depth ${bitDepth} (only 8 is read)`);
      const c = CHANNELS_OF_COLOR_TYPE[colorType];
      if (c === undefined) {
        throw fail(`unsupported colour type ${colorType} (read: 0 gray, 2 RGB, 6 RGBA; not 3 palette or 4 gray+alpha)`);
      }
      if (compression !== 0) throw fail(`unknown compression method ${compression}`);
      if (filterMethod !== 0) throw fail(`unknown filter method ${filterMethod}`);
      if (interlace !== 0) throw fail(`unsupported interlace method ${interlace} (only non-interlaced is read)`);
      channels = c;
    } else if (type === "IDAT") {
      idat.push(body);
    } else if (type === "IEND") {
      sawEnd = true;
    } else if ((bytes[offset + 4] & 0x20) === 0 && type !== "PLTE") {
      // Bit 5 of the first type byte clear = critical chunk (spec section 5.4); PLTE is only a
      // suggested palette for colour types 2 and 6, so it can be ignored.
      throw fail(`unsupported critical chunk ${type}`);
    }
    offset += 12 + length;
  }
  if (channels === undefined) throw fail("no IHDR chunk");
  if (!sawEnd) throw fail("missing IEND chunk (file truncated?)");
  if (idat.length === 0) throw fail("no IDAT chunk");

  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (err) {
    throw fail(`corrupt image data (zlib: ${(err as Error).message})`, err);
  }
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) {
    throw fail(`image data has ${raw.length} bytes after inflating, ${width}x${height}x${channels} needs ${height * (stride + 1)}`);
  }
  const data = new Uint8Array(height * stride);
  let prev: Uint8Array = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)];
    if (type > 4) throw fail(`row ${y} has unknown filter type ${type}`);
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = data.subarray(y * stride, (y + 1) * stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels] : 0;
      const c = i >= channels ? prev[i - channels] : 0;
      row[i] = (src[i] + predict(type, a, prev[i], c)) & 0xff;
    }
    prev = row;
  }
  return { width, height, channels, data };
}

/** Writes `image` as a PNG file at `path`, atomically (temporary file, fsync, rename). */
export function savePng(path: string, image: PngImage, opts?: PngEncodeOptions): void {
  writeFileAtomic(path, encodePng(image, opts));
}

/** Reads a PNG file written by `savePng` or another tool within `decodePng`'s subset. */
export function loadPng(path: string): PngImage {
  return decodePng(readFileSync(path), path);
}
