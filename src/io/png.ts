// PNG files (PNG spec, W3C 2003 / ISO 15948). Decoding goes through pngjs (PNG.sync.read), a
// maintained pure-JS decoder of every standard format: bit depths 1 to 16; grey, RGB, palette
// (with tRNS), grey+alpha and RGBA; Adam7 interlacing. A check in front of it (signature, chunk
// lengths, CRC-32, IHDR fields, IEND; the image data inflated by node:zlib) names what is wrong
// with a bad file: pngjs 7's sync reader stops at the first bad chunk and then reports only
// "unrecognised content at end of stream" for the unread rest (lib/parser-sync.js), and its sync
// inflate misses zlib's errors on Node 20, returning zeros (lib/sync-inflate.js).
//
// What a decoded image becomes (decodePng, loadPng, and so the PNG-folder reader):
// - 8-bit samples 0..255 in a PngImage. 16-bit samples keep their high byte (v >> 8), as PIL's PNG
//   reader does for 16-bit RGB, RGBA and grey+alpha (raw modes "RGB;16B" ...); 1, 2 and 4-bit grey
//   is stretched to 0..255 (x255, x85, x17), as PIL's "1", "L;2", "L;4". Gamma, sRGB and ICC
//   chunks are ignored, as PIL does by default: the values are the stored samples.
// - alpha "drop" (the dataset reader): grey files (colour types 0 and 4) give 1 channel, colour
//   files (2, 3 palette, 6) give 3; alpha is discarded, colours are left as stored (no composite
//   on a background), as PIL's convert("L") / convert("RGB"), which torchvision's loader calls.
// - alpha "keep" (the default): the same, except that a file carrying alpha (colour type 4 or 6, or
//   a tRNS chunk) gives 4 channels, RGBA with grey copied into R, G and B: PIL's convert("RGBA").
// - One deviation from PIL: its convert("L") of a 16-bit grey file clips at 255 (Pillow issue
//   #3011), so most pixels turn white; fewstep keeps the high byte there as for every 16-bit file.
//
// The encoder stays fewstep's own (8-bit grey, RGB and RGBA, non-interlaced; the five filters of
// spec section 9, CRC-32 of Annex D, zlib via node:zlib): it writes a PngImage as it is in about
// 100 lines, where pngjs's packer assumes RGBA input and would need five of its defaults overridden
// (input colour type, input alpha, output colour type, level 9, Z_RLE strategy) plus a Buffer copy;
// and with our encoder and pngjs's decoder, every round-trip test checks two independent codecs
// against each other. The CRC-32 serves both the encoder and the chunk walk.

import { readFileSync } from "node:fs";
import { deflateSync, inflateSync } from "node:zlib";
import { PNG } from "pngjs";
import { writeFileAtomic } from "./atomic.js";
import { FormatError } from "./errors.js";
import { concatBytes } from "./host-array.js";

/** An 8-bit image, rows top to bottom, channels interleaved (gray; R,G,B; or R,G,B,A): what
 * `encodePng` writes and `decodePng` returns. */
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
// PNG colour type the encoder writes per channel count (spec table 11.1).
const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;
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

// Spec section 9.4 predictor from a (left), b (up), c (up-left), which the encoder subtracts.
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

  return concatBytes(SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: opts.level ?? 6 })), chunk("IEND", new Uint8Array(0)));
}

/** Options of `decodePng` and `loadPng`. */
export interface PngDecodeOptions {
  /**
   * What to do with a file's alpha (colour types 4 and 6, or a tRNS chunk). "keep" returns such a
   * file as 4-channel RGBA (grey copied into R, G, B; PIL's convert("RGBA")); "drop" discards the
   * alpha and leaves colours as stored, giving 1 channel for grey files and 3 for colour and
   * palette files (PIL's convert("L") / convert("RGB")). Files without alpha read the same either way.
   * @default "keep"
   */
  alpha?: "keep" | "drop";
}

// Bit depths each colour type allows (spec table 11.1): 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
const DEPTHS_OF_COLOR_TYPE: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

// What PNG.sync.read returns at run time: @types/pngjs 6 leaves out colour type 3, `transColor`,
// and that `data` is a Uint16Array for 16-bit files read with skipRescale.
interface PngjsImage {
  width: number;
  height: number;
  depth: 1 | 2 | 4 | 8 | 16;
  colorType: 0 | 2 | 3 | 4 | 6;
  /** True for colour types 4 and 6 and whenever a tRNS chunk is present. */
  alpha: boolean;
  /** The tRNS key colour of a grey or RGB file, in raw samples (1 or 3 values). */
  transColor?: number[];
  /** R, G, B, A per pixel in raw samples (palette entries already looked up, 8-bit). */
  data: Uint8Array | Uint16Array;
}

// Samples per pixel of each colour type, and the Adam7 passes (spec section 8.2: first column,
// first row, column step, row step); a plain image is one pass of step 1.
const SAMPLES_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * Checks what pngjs would report badly or not at all: the chunk structure (signature, lengths,
 * CRCs, IHDR first and valid, PLTE for palette files, IDAT, IEND), and that the IDAT stream
 * inflates (with node:zlib) to at least the bytes the image needs. pngjs 7's sync inflate
 * (lib/sync-inflate.js) misses zlib's errors on current Node and returns a full-size buffer of
 * zeros and stale bytes instead. Returns the offset just past IEND: what follows is ignored, as
 * libpng and PIL do.
 */
function checkPngStructure(bytes: Uint8Array, fail: (problem: string, cause?: unknown) => FormatError): number {
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) throw fail("not a PNG file (bad signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: { width: number; height: number; depth: number; colorType: number; interlace: number } | undefined;
  let sawPalette = false;
  const idat: Uint8Array[] = [];
  let offset = SIGNATURE.length;
  for (;;) {
    const at = offset;
    if (at + 8 > bytes.length) {
      throw fail(`file is truncated at byte ${bytes.length}: ${at === bytes.length ? "no IEND chunk" : "it ends inside a chunk header"}`);
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) {
      throw fail(`file is truncated at byte ${bytes.length}: chunk ${type} at byte ${at} declares ${length} data bytes + 4 CRC bytes`);
    }
    const body = bytes.subarray(at + 8, at + 8 + length);
    const stored = view.getUint32(at + 8 + length);
    const computed = crc32(bytes.subarray(at + 4, at + 8 + length));
    if (stored !== computed) {
      throw fail(`bad CRC in chunk ${type} at byte ${at} (file corrupt): stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`);
    }
    offset = at + 12 + length;
    if (type === "IHDR") {
      if (header !== undefined) throw fail("more than one IHDR chunk");
      if (length !== 13) throw fail(`IHDR must hold 13 bytes, got ${length}`);
      const [width, height] = [view.getUint32(at + 8), view.getUint32(at + 12)];
      const [depth, colorType, compression, filterMethod, interlace] = body.subarray(8, 13);
      if (width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) throw fail(`invalid size ${width}x${height}`);
      const depths = DEPTHS_OF_COLOR_TYPE[colorType];
      if (depths === undefined) throw fail(`invalid colour type ${colorType} (valid: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA)`);
      if (!depths.includes(depth)) throw fail(`invalid bit depth ${depth} for colour type ${colorType} (valid: ${depths.join(", ")})`);
      if (compression !== 0) throw fail(`unknown compression method ${compression}`);
      if (filterMethod !== 0) throw fail(`unknown filter method ${filterMethod}`);
      if (interlace > 1) throw fail(`unknown interlace method ${interlace} (valid: 0 none, 1 Adam7)`);
      header = { width, height, depth, colorType, interlace };
      continue;
    }
    if (header === undefined) throw fail(`first chunk must be IHDR, got ${type}`);
    if (type === "PLTE") {
      sawPalette = true;
    } else if (type === "IDAT") {
      if (header.colorType === 3 && !sawPalette) throw fail("palette image (colour type 3) has no PLTE chunk before its image data");
      idat.push(body);
    } else if (type === "IEND") {
      break;
    } else if ((bytes[at + 4] & 0x20) === 0) {
      // Bit 5 of the first type byte clear = critical chunk (spec section 5.4): one we cannot skip.
      throw fail(`unknown critical chunk ${type}`);
    }
  }
  if (idat.length === 0) throw fail("no IDAT chunk (no image data)");
  const { width, height, depth, colorType, interlace } = header;
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (err) {
    throw fail(`corrupt image data (zlib: ${(err as Error).message})`, err);
  }
  // Each pass has rows of 1 filter byte + its pixels' bits rounded up to whole bytes.
  const bitsPerPixel = SAMPLES_OF_COLOR_TYPE[colorType] * depth;
  let needed = 0;
  for (const [x0, y0, dx, dy] of interlace === 1 ? ADAM7 : [[0, 0, 1, 1]]) {
    const [w, h] = [Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)];
    if (w > 0 && h > 0) needed += h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  }
  if (raw.length < needed) {
    throw fail(`image data has ${raw.length} bytes after inflating, ${width}x${height} at ${depth} bits, colour type ${colorType}${interlace ? ", Adam7" : ""} needs ${needed}`);
  }
  return offset;
}

/**
 * Decodes a PNG of any standard format (see the file header for what it becomes): bit depth 1 to
 * 16 scaled to 8 bits, grey, RGB, palette, grey+alpha or RGBA, plain or Adam7-interlaced.
 * @param source names the file in error messages
 * @param opts `alpha`: keep it (RGBA) or drop it, see `PngDecodeOptions`
 * @default source "<buffer>"
 * @throws FormatError naming `source` and the problem: bad signature, truncated file, bad CRC,
 *   invalid IHDR, missing chunks, image data that does not inflate or is too short, or that pngjs
 *   cannot unfilter (its message)
 */
export function decodePng(bytes: Uint8Array, source = "<buffer>", opts: PngDecodeOptions = {}): PngImage {
  const fail = (problem: string, cause?: unknown): FormatError =>
    new FormatError(`${source}: ${problem}`, cause === undefined ? undefined : { cause });
  const alpha = opts.alpha ?? "keep";
  if (alpha !== "keep" && alpha !== "drop") throw new FormatError(`decodePng: alpha must be "keep" or "drop", got ${String(alpha)}`);
  const end = checkPngStructure(bytes, fail);
  let png: PngjsImage;
  try {
    // skipRescale: pngjs would round 16-bit samples to v * 255 / 65535; we keep the high byte, as PIL.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, end), { skipRescale: true }) as unknown as PngjsImage;
  } catch (err) {
    throw fail(`corrupt image data (pngjs: ${(err as Error).message})`, err);
  }
  const { width, height, depth, colorType, transColor, data } = png;
  const grey = colorType === 0 || colorType === 4;
  const channels = alpha === "keep" && png.alpha ? 4 : grey ? 1 : 3;
  // Raw sample -> 8 bits: 16-bit keeps the high byte; 1/2/4-bit grey or RGB stretches to 0..255
  // (exact integer factors 255, 85, 17); palette entries are 8-bit already.
  const shift = depth === 16 ? 8 : 0;
  const stretch = depth < 8 && colorType !== 3 ? 255 / (2 ** depth - 1) : 1;
  // pngjs zeroes all four values of a pixel matching the tRNS key colour (format-normaliser.js); a
  // pixel matched exactly when its samples were the key, so the key gives them back.
  const key = transColor !== undefined && (colorType === 0 || colorType === 2) ? transColor : undefined;
  const out = new Uint8Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const a = data[4 * p + 3];
    for (let c = 0; c < channels; c++) {
      let v: number;
      if (c === 3) v = a;
      else if (key !== undefined && a === 0) v = key[grey ? 0 : c];
      else v = data[4 * p + c];
      out[p * channels + c] = (v >> shift) * stretch;
    }
  }
  return { width, height, channels, data: out };
}

/** Writes `image` as a PNG file at `path`, atomically (temporary file, fsync, rename). */
export function savePng(path: string, image: PngImage, opts?: PngEncodeOptions): void {
  writeFileAtomic(path, encodePng(image, opts));
}

/** Reads a PNG file of any standard format, as `decodePng` (errors name `path`). */
export function loadPng(path: string, opts?: PngDecodeOptions): PngImage {
  return decodePng(readFileSync(path), path, opts);
}
