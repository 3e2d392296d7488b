// NumPy .npy format (numpy/lib/format.py, "NPY format" NEP 1): the magic "\x93NUMPY", a major and
// minor version byte, the header length (u16 little-endian in version 1.0, u32 in 2.0 and 3.0), a
// header that is a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`
// padded with spaces to end in "\n" at a multiple of 64 bytes, then the raw array data.
// The writer mirrors NumPy's `_wrap_header`, minus the spare spaces NumPy reserves for growing the
// first axis in place (readers do not need them).

import { readFileSync } from "node:fs";
import { openAtomicWriter, writeFileAtomic } from "./atomic.js";
import { FewstepError, FormatError } from "./errors.js";
import { type DType, type HostArray, hostArray, itemSize, numel } from "./host-array.js";

// Little-endian descrs as NumPy writes them; one-byte types carry "|" (byte order not applicable).
// bfloat16 has no NumPy dtype, so it has no entry.
const DESCR: { [D in DType]?: string } = {
  float32: "<f4",
  float64: "<f8",
  int64: "<i8",
  bool: "|b1",
  uint8: "|u1",
  int32: "<i4",
  float16: "<f2",
};

const FROM_DESCR = new Map(Object.entries(DESCR).map(([d, descr]) => [descr as string, d as DType]));

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGN = 64; // NumPy's ARRAY_ALIGN: the data start is a multiple of this

/** A Python literal as found in .npy headers: tuples and lists become arrays, dicts become Maps. */
type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

// A small recursive-descent parser for the Python literals NumPy writes with repr(): dicts, tuples,
// lists, quoted strings, integers (with Python 2's "L" suffix), True, False, None. Tolerant of
// whitespace and trailing commas; "(5)" reads as a one-element tuple, which is what a shape means.
function parsePyLiteral(text: string): PyValue {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const unexpected = () =>
    new Error(i < text.length ? `unexpected ${JSON.stringify(text.slice(i, i + 12))} at offset ${i}` : "unexpected end");

  // Items up to `close`, separated by commas; returns them in order.
  const items = <T>(close: string, item: () => T): T[] => {
    const out: T[] = [];
    i++; // the opening bracket
    for (;;) {
      skipSpace();
      if (text[i] === close) break;
      out.push(item());
      skipSpace();
      if (text[i] === ",") i++;
      else if (text[i] !== close) throw unexpected();
    }
    i++;
    return out;
  };

  const string = (): string => {
    const quote = text[i++];
    let out = "";
    while (i < text.length && text[i] !== quote) {
      if (text[i] === "\\") i++; // an escaped character stands for itself (enough for descrs and keys)
      out += text[i++];
    }
    if (i >= text.length) throw unexpected();
    i++;
    return out;
  };

  const value = (): PyValue => {
    skipSpace();
    const c = text[i];
    if (c === "{") {
      return new Map(
        items("}", (): [string, PyValue] => {
          const key = value();
          if (typeof key !== "string") throw new Error(`dict key ${JSON.stringify(key)} is not a string`);
          skipSpace();
          if (text[i] !== ":") throw unexpected();
          i++;
          return [key, value()];
        }),
      );
    }
    if (c === "(") return items(")", value);
    if (c === "[") return items("]", value);
    if (c === "'" || c === '"') return string();
    const word = /^(?:-?\d+L?|True|False|None)\b/.exec(text.slice(i));
    if (word === null) throw unexpected();
    i += word[0].length;
    if (word[0] === "True") return true;
    if (word[0] === "False") return false;
    if (word[0] === "None") return null;
    return Number(word[0].replace("L", ""));
  };

  const result = value();
  skipSpace();
  if (i !== text.length) throw unexpected();
  return result;
}

// Python's repr of a shape tuple: "()", "(5,)", "(3, 4)".
function pyTuple(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

// The .npy header of an array of `dtype` and `shape`: version 1.0, or 2.0 when the header needs more
// than 65535 bytes (NumPy's rule); the data follows it directly.
function npyHeader(dtype: DType, shape: number[], context: string): Uint8Array {
  const descr = DESCR[dtype];
  if (descr === undefined) {
    throw new FewstepError(`${context}: NumPy has no ${dtype} dtype; convert to float32 before saving .npy`);
  }
  const dict = new TextEncoder().encode(`{'descr': '${descr}', 'fortran_order': False, 'shape': ${pyTuple(shape)}, }`);
  // As NumPy's _wrap_header: count the final "\n", then pad with 1..64 spaces to the alignment.
  const wrap = (prefix: number) => {
    const length = dict.byteLength + 1;
    return length + ALIGN - ((prefix + length) % ALIGN);
  };
  let version = 1;
  let prefix = 10; // magic, 2 version bytes, u16 length
  let headerLength = wrap(prefix);
  if (headerLength > 0xffff) {
    version = 2;
    prefix = 12; // u32 length
    headerLength = wrap(prefix);
  }
  const out = new Uint8Array(prefix + headerLength);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(dict, prefix);
  out.fill(0x20, prefix + dict.byteLength, prefix + headerLength - 1);
  out[prefix + headerLength - 1] = 0x0a;
  return out;
}

/**
 * Encodes a HostArray as a .npy file image: version 1.0, or 2.0 when the header needs more than
 * 65535 bytes (NumPy's rule).
 * @throws FewstepError on an inconsistent HostArray or a dtype NumPy lacks (bfloat16)
 */
export function encodeNpy(h: HostArray): Uint8Array {
  hostArray(h.dtype, h.shape, h.data, "encodeNpy");
  const header = npyHeader(h.dtype, h.shape, "encodeNpy");
  const out = new Uint8Array(header.byteLength + h.data.byteLength);
  out.set(header, 0);
  out.set(h.data, header.byteLength);
  return out;
}

/**
 * Decodes a .npy file image (versions 1.0, 2.0 and 3.0; C order; little-endian descrs `<f4`, `<f8`,
 * `<i8`, `<i4`, `<f2`, `|b1`, `|u1`). The data is a view into `bytes` (no copy). Bytes past the array
 * are ignored, as `numpy.load` does (several arrays may be saved to one file handle in turn).
 * @param source names the file in error messages
 * @default source "<buffer>"
 * @throws FormatError naming `source` and the problem, with the NumPy fix where there is one
 *   (Fortran order: `np.ascontiguousarray`; big-endian: `arr.astype('<f4')`)
 */
export function decodeNpy(bytes: Uint8Array, source = "<buffer>"): HostArray {
  const fail = (problem: string, cause?: unknown) =>
    new FormatError(`${source}: ${problem}`, cause === undefined ? undefined : { cause });
  if (bytes.byteLength < 10 || !MAGIC.every((b, k) => bytes[k] === b)) {
    throw fail(`not a .npy file (it does not start with the magic "\\x93NUMPY")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [major, minor] = [bytes[6], bytes[7]];
  let prefix: number;
  let headerLength: number;
  if (major === 1 && minor === 0) {
    prefix = 10;
    headerLength = view.getUint16(8, true);
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (bytes.byteLength < 12) throw fail(`file ends inside the .npy header length field`);
    prefix = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw fail(`unsupported .npy version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dataStart = prefix + headerLength;
  if (dataStart > bytes.byteLength) {
    throw fail(`.npy header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  // Versions 1.0 and 2.0 hold latin-1, 3.0 UTF-8; NumPy's own keys and descrs are ASCII, which both
  // decode alike.
  const text = new TextDecoder("utf-8").decode(bytes.subarray(prefix, dataStart));
  let header: PyValue;
  try {
    header = parsePyLiteral(text);
  } catch (err) {
    throw fail(`.npy header is not a Python dict literal (${(err as Error).message})`, err);
  }
  if (!(header instanceof Map) || !header.has("descr") || !header.has("fortran_order") || !header.has("shape")) {
    throw fail(`.npy header must be a dict with 'descr', 'fortran_order' and 'shape', got ${JSON.stringify(text.trim())}`);
  }

  const descr = header.get("descr");
  if (typeof descr !== "string") {
    throw fail(`structured dtypes are not supported (descr ${JSON.stringify(descr)}); save a plain numeric array`);
  }
  const dtype = FROM_DESCR.get(descr);
  if (dtype === undefined) {
    const little = FROM_DESCR.has(`<${descr.slice(1)}`) ? `<${descr.slice(1)}` : undefined;
    if (descr.startsWith(">") && little !== undefined) {
      throw fail(`big-endian dtype '${descr}' is not supported; save arr.astype('${little}') instead`);
    }
    throw fail(`unsupported dtype '${descr}'; supported: ${[...FROM_DESCR.keys()].map((d) => `'${d}'`).join(", ")}`);
  }
  if (header.get("fortran_order") !== false) {
    throw fail(`Fortran-order arrays are not supported, only C order; save np.ascontiguousarray(arr) instead`);
  }
  const shape = header.get("shape");
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw fail(`shape must be a tuple of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const dims = shape as number[];
  const need = numel(dims) * itemSize(dtype);
  const available = bytes.byteLength - dataStart;
  if (available < need) {
    throw fail(`data is truncated: '${descr}' ${pyTuple(dims)} needs ${need} bytes but ${available} follow the header`);
  }
  return { dtype, shape: dims, data: bytes.subarray(dataStart, dataStart + need) };
}

/**
 * Writes a HostArray to `path` as .npy, atomically (temporary file, fsync, rename).
 * @throws FewstepError as `encodeNpy`; Node's file system errors as they come
 */
export function saveNpy(path: string, h: HostArray): void {
  writeFileAtomic(path, encodeNpy(h));
}

/**
 * A .npy file written row block by row block (the header first, its shape known up front), published
 * atomically by `commit` once every row has come: large sampling runs stream to the file instead of
 * holding the whole array. `abort` leaves no file.
 */
export interface NpyStreamWriter {
  /** Appends `rows` rows given as the raw little-endian bytes of `rows * prod(shape[1:])` elements. */
  append(data: Uint8Array, rows: number): void;
  /** Publishes the file. @throws FewstepError when fewer rows came than the header promised */
  commit(): void;
  /** Removes the partial file. Never throws. */
  abort(): void;
}

/**
 * Opens `path` for a streamed .npy of `dtype` and `shape` (shape[0] rows in total).
 * @throws WriteError when the target cannot be written (as writeFileAtomic); FewstepError on a
 *   dtype NumPy lacks
 */
export function openNpyWriter(path: string, dtype: DType, shape: number[]): NpyStreamWriter {
  const header = npyHeader(dtype, shape, "openNpyWriter");
  const rowBytes = itemSize(dtype) * numel(shape.slice(1));
  const writer = openAtomicWriter(path);
  let written = 0;
  try {
    writer.write(header);
  } catch (err) {
    writer.abort();
    throw err;
  }
  return {
    append(data, rows) {
      if (data.byteLength !== rows * rowBytes || written + rows > shape[0]) {
        writer.abort();
        throw new FewstepError(`openNpyWriter(${path}): ${rows} rows of ${data.byteLength} bytes do not fit rows of ${rowBytes} bytes with ${shape[0] - written} left`);
      }
      writer.write(data);
      written += rows;
    },
    commit() {
      if (written !== shape[0]) {
        writer.abort();
        throw new FewstepError(`openNpyWriter(${path}): ${written} of ${shape[0]} rows written; nothing saved`);
      }
      writer.commit();
    },
    abort: () => writer.abort(),
  };
}

/**
 * Reads a .npy file. The data is a view into a buffer holding the whole file.
 * @throws FormatError as `decodeNpy`, naming `path`; Node's file system errors as they come
 */
export function loadNpy(path: string): HostArray {
  const file = readFileSync(path);
  // A plain Uint8Array view, so callers get the same type from a file as from decodeNpy.
  return decodeNpy(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path);
}
