// safetensors (huggingface/safetensors, README "Format"): an 8-byte little-endian u64 header
// length N, N bytes of UTF-8 JSON `{"__metadata__": {str: str}, "<name>": {"dtype", "shape",
// "data_offsets": [begin, end]}}`, then the data block; offsets count from the data block's start.
// The writer lays files out as the reference Rust crate does (safetensors/src/tensor.rs, `prepare`):
// compact JSON with `__metadata__` first, tensors by descending dtype (the crate's enum order, which
// puts wider types first so every tensor starts aligned to its item size), then by name, and the
// header padded with spaces so the data block starts 8-byte aligned.

import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./atomic.js";
import { FewstepError, FormatError } from "./errors.js";
import { type DType, type HostArray, hostArray, itemSize, numel } from "./host-array.js";

/** A decoded safetensors file: tensors by name and the `__metadata__` string map ({} if absent). */
export interface Safetensors {
  tensors: Record<string, HostArray>;
  metadata: Record<string, string>;
}

const ST_DTYPE: { [D in DType]: string } = {
  float32: "F32",
  float64: "F64",
  int64: "I64",
  bool: "BOOL",
  bfloat16: "BF16",
  float16: "F16",
  uint8: "U8",
  int32: "I32",
};

const FROM_ST_DTYPE = new Map(Object.entries(ST_DTYPE).map(([d, st]) => [st, d as DType]));

// Position in the Rust crate's `Dtype` enum (BOOL < U8 < F16 < BF16 < I32 < F32 < F64 < I64); its
// writer sorts by this, descending, before the name.
const LAYOUT_RANK: { [D in DType]: number } = {
  bool: 0,
  uint8: 1,
  float16: 2,
  bfloat16: 3,
  int32: 4,
  float32: 5,
  float64: 6,
  int64: 7,
};

const METADATA_KEY = "__metadata__";

// Rust compares `String`s by UTF-8 bytes; JavaScript's default sort compares UTF-16 code units, which
// disagrees for characters beyond the Basic Multilingual Plane.
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

// A JSON object from keys and already-serialized values, keys in the given order. Built by hand
// because a JavaScript object would move integer-like keys ("0", "1", ...) to the front.
function jsonObject(entries: [string, string][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors file image.
 * @param tensors arrays by name; each is validated (byte length against dtype and shape)
 * @param metadata free-form strings stored under `__metadata__`; left out of the header when undefined
 * @throws FewstepError on a tensor named `__metadata__`, an inconsistent HostArray, or a metadata value
 *   that is not a string
 */
export function encodeSafetensors(tensors: Record<string, HostArray>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === METADATA_KEY) {
      throw new FewstepError(`encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    }
    const t = tensors[name];
    hostArray(t.dtype, t.shape, t.data, `encodeSafetensors: tensor "${name}"`);
  }
  names.sort((a, b) => LAYOUT_RANK[tensors[b].dtype] - LAYOUT_RANK[tensors[a].dtype] || compareUtf8(a, b));

  const entries: [string, string][] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8); // sorted so equal inputs give equal bytes
    for (const key of keys) {
      const value: unknown = metadata[key];
      if (typeof value !== "string") {
        throw new FewstepError(
          `encodeSafetensors: metadata "${key}" must be a string (safetensors stores only strings), got ${typeof value}; JSON.stringify it first`,
        );
      }
    }
    entries.push([METADATA_KEY, jsonObject(keys.map((k) => [k, JSON.stringify(metadata[k])]))]);
  }
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    const begin = offset;
    offset += data.byteLength;
    entries.push([name, JSON.stringify({ dtype: ST_DTYPE[dtype], shape, data_offsets: [begin, offset] })]);
  }

  const json = new TextEncoder().encode(jsonObject(entries));
  const headerLength = json.byteLength + ((8 - (json.byteLength % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength); // trailing spaces: still valid JSON
  let at = 8 + headerLength;
  for (const name of names) {
    out.set(tensors[name].data, at);
    at += tensors[name].data.byteLength;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// JSON.parse keeps the last of duplicate keys silently; the format forbids them (the Rust crate's
// serde reader refuses them). A scan of the already-parsed text: a string followed by ':' is a key
// of the innermost open object. Returns where the first duplicate is, or undefined.
function findDuplicateKey(text: string): { key: string; parent: string | undefined } | undefined {
  const frames: { keys: Set<string> | null; name: string | undefined; lastKey?: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j + 1;
      let k = i;
      while (text[k] === " " || text[k] === "\t" || text[k] === "\n" || text[k] === "\r") k++;
      const top = frames[frames.length - 1];
      if (text[k] === ":" && top?.keys) {
        const key = JSON.parse(raw) as string;
        if (top.keys.has(key)) return { key, parent: top.name };
        top.keys.add(key);
        top.lastKey = key;
      }
      continue;
    }
    if (ch === "{" || ch === "[") {
      const parent = frames[frames.length - 1];
      const name = frames.length === 0 ? undefined : parent.keys ? parent.lastKey : parent.name;
      frames.push({ keys: ch === "{" ? new Set() : null, name });
    } else if (ch === "}" || ch === "]") {
      frames.pop();
    }
    i++;
  }
  return undefined;
}

function isIndex(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/**
 * Decodes a safetensors file image. Tensor data are views into `bytes` (no copy), so keep `bytes`
 * unchanged while they are in use; `toTypedArray` copies where a view would be unaligned.
 * @param source names the file in error messages
 * @default source "<buffer>"
 * @throws FormatError naming `source` and the problem: too short, header length past the end, header
 *   not UTF-8 JSON or not an object, metadata not a string map, an unknown dtype, a shape that is not
 *   non-negative integers, data_offsets outside the data block or not matching dtype and shape,
 *   a duplicate key, tensors that overlap or leave bytes of the data block unused (gaps, trailing bytes)
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<buffer>"): Safetensors {
  const fail = (problem: string, cause?: unknown) =>
    new FormatError(`${source}: not a valid safetensors file: ${problem}`, cause === undefined ? undefined : { cause });
  if (bytes.byteLength < 8) {
    throw fail(`it is ${bytes.byteLength} bytes long, shorter than the 8-byte header length`);
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8)) {
    throw fail(`header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  const dataStart = 8 + Number(n);
  const dataLength = bytes.byteLength - dataStart;

  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
    header = JSON.parse(text);
  } catch (err) {
    throw fail(`header is not UTF-8 JSON (${(err as Error).message})`, err);
  }
  if (!isPlainObject(header)) {
    throw fail(`header is not a JSON object`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const where = duplicate.parent === undefined ? (duplicate.key === METADATA_KEY ? "" : `tensor "${duplicate.key}": `) : duplicate.parent === METADATA_KEY ? `"${METADATA_KEY}": ` : `tensor "${duplicate.parent}": `;
    throw fail(`${where}duplicate key "${duplicate.key}" in the header (the format forbids duplicate keys; JSON readers disagree on which one wins)`);
  }

  const tensors: [string, HostArray][] = [];
  const spans: { name: string; begin: number; end: number }[] = [];
  let metadata: [string, string][] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      // The crate reads `__metadata__` as Option<HashMap<String, String>>: null means none.
      if (info === null) continue;
      if (!isPlainObject(info) || !Object.values(info).every((v) => typeof v === "string")) {
        throw fail(`"${METADATA_KEY}" must map strings to strings`);
      }
      metadata = Object.entries(info as Record<string, string>);
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(info)) {
      throw fail(`${where}: entry is not an object with dtype, shape and data_offsets`);
    }
    const dtype = typeof info.dtype === "string" ? FROM_ST_DTYPE.get(info.dtype) : undefined;
    if (dtype === undefined) {
      throw fail(`${where}: unknown dtype ${JSON.stringify(info.dtype)}; supported: ${[...FROM_ST_DTYPE.keys()].join(", ")}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw fail(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1] || offsets[1] > dataLength) {
      throw fail(`${where}: data_offsets ${JSON.stringify(offsets)} out of range of the ${dataLength}-byte data block`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = numel(shape) * itemSize(dtype);
    if (end - begin !== expected) {
      throw fail(
        `${where}: data_offsets [${begin},${end}] hold ${end - begin} bytes but ${info.dtype} [${shape.join(",")}] needs ${expected}`,
      );
    }
    tensors.push([name, { dtype, shape, data: bytes.subarray(dataStart + begin, dataStart + end) }]);
    spans.push({ name, begin, end });
  }
  // As the Rust crate's `validate`: the tensors tile the data block exactly, no overlap, no gap, no
  // trailing bytes (bytes nothing names are either corruption or a place to smuggle data).
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: { name: string; begin: number; end: number } | undefined;
  for (const s of spans) {
    if (s.begin < covered && previous) {
      throw fail(`tensor "${s.name}": data_offsets [${s.begin},${s.end}] overlap tensor "${previous.name}" [${previous.begin},${previous.end}]`);
    }
    if (s.begin > covered) {
      throw fail(`tensor "${s.name}": data_offsets [${s.begin},${s.end}] leave bytes ${covered}..${s.begin} of the data block unused${previous ? ` after tensor "${previous.name}"` : ""}`);
    }
    covered = s.end;
    previous = s;
  }
  if (covered !== dataLength) {
    throw fail(`${dataLength - covered} trailing bytes after the last tensor${previous ? ` "${previous.name}"` : ""} (the tensors end at byte ${covered} of the ${dataLength}-byte data block)`);
  }
  // Object.fromEntries defines own properties, so a name like "__proto__" stays an ordinary key.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

/**
 * Writes tensors and metadata to `path` as safetensors, atomically (temporary file, fsync, rename),
 * so a crash never leaves a torn checkpoint.
 * @throws FewstepError as `encodeSafetensors`; Node's file system errors as they come
 */
export function saveSafetensors(path: string, tensors: Record<string, HostArray>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads a safetensors file. The tensors are views into one buffer holding the whole file.
 * @throws FormatError as `decodeSafetensors`, naming `path`; Node's file system errors as they come
 */
export function loadSafetensors(path: string): Safetensors {
  const file = readFileSync(path);
  // A plain Uint8Array view, so callers get the same type from a file as from decodeSafetensors.
  return decodeSafetensors(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path);
}
