// A plain host-memory array: dtype, shape and raw little-endian bytes in C (row-major) order,
// the common currency of the safetensors and .npy readers/writers. It needs no tensor engine, so
// files can be inspected and written without libtorch loaded.

import { endianness } from "node:os";
import { FewstepError } from "./errors.js";

import { itemSize as ENGINE_ITEM_SIZE, typedView, type DType } from "../engine/dtype.js";

/** Element types the file formats exchange: the engine's dtypes (PyTorch names, lower case). */
export type { DType };

/** An n-dimensional array in host memory: `data` holds `numel(shape) * itemSize(dtype)` bytes,
 *  little-endian, C order. A 0-d array (`shape: []`) holds one element. */
export interface HostArray {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** The typed array `toTypedArray` returns for each dtype. bfloat16 and float16 come back as their
 *  raw 16-bit patterns, since JavaScript has no 16-bit float array in Node 20. */
export interface TypedArrayFor {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  bool: Uint8Array;
  uint8: Uint8Array;
  bfloat16: Uint16Array;
  float16: Uint16Array;
  int32: Int32Array;
}

/** Any typed array `fromTypedArray` accepts. */
export type AnyTypedArray = TypedArrayFor[DType];

type TypedArrayCtor = { new (buffer: ArrayBuffer, byteOffset: number, length: number): AnyTypedArray; BYTES_PER_ELEMENT: number };

const CTOR: { [D in DType]: TypedArrayCtor } = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  uint8: Uint8Array,
  bfloat16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
};

/** Every supported dtype, in a fixed order (for error messages). */
export const DTYPES = Object.keys(CTOR) as DType[];

// Typed arrays use the host's byte order while the formats are little-endian; every platform Node 20
// ships for is little-endian, so say so loudly rather than silently corrupt data elsewhere.
if (endianness() !== "LE") {
  throw new FewstepError("fewstep I/O: this host is big-endian; only little-endian hosts are supported");
}

/** Bytes per element of `dtype` (bool is one byte, as in PyTorch and NumPy). */
export function itemSize(dtype: DType): number {
  const size = ENGINE_ITEM_SIZE[dtype];
  if (size === undefined) {
    throw new FewstepError(`unknown dtype ${JSON.stringify(dtype)}; supported: ${DTYPES.join(", ")}`);
  }
  return size;
}

/** Number of elements of an array of `shape`; 1 for a 0-d array (`[]`). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Makes a HostArray after checking that `shape` holds non-negative integers and `data` has exactly
 * the bytes the dtype and shape need. `data` is kept, not copied.
 * @param context prefix of the error message, naming the caller or tensor
 * @default context "hostArray"
 * @throws FewstepError "hostArray: float32 [2,3] needs 24 bytes but data has 20"
 */
export function hostArray(dtype: DType, shape: number[], data: Uint8Array, context = "hostArray"): HostArray {
  const size = itemSize(dtype);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new FewstepError(`${context}: shape must be non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const expected = numel(shape) * size;
  if (!(data instanceof Uint8Array) || data.byteLength !== expected) {
    const got = data instanceof Uint8Array ? `${data.byteLength} bytes` : "no Uint8Array";
    throw new FewstepError(`${context}: ${dtype} [${shape.join(",")}] needs ${expected} bytes but data has ${got}`);
  }
  return { dtype, shape, data };
}

/**
 * The elements of `h` as the typed array for its dtype (see `TypedArrayFor`). A view sharing `h.data`
 * when its offset is aligned to the item size, otherwise a copy: typed arrays cannot start unaligned,
 * and a view into a file buffer may (safetensors offsets need not be aligned).
 */
export function toTypedArray<D extends DType>(h: HostArray & { dtype: D }): TypedArrayFor[D] {
  // the engine's view (copies only when the bytes are misaligned for the element size)
  return typedView(h.dtype, h.data.buffer as ArrayBuffer, h.data.byteOffset, h.data.byteLength / itemSize(h.dtype)) as TypedArrayFor[D];
}

/**
 * Wraps a typed array as a HostArray of `dtype` and `shape`, sharing its memory (no copy). The typed
 * array's class must be the one `TypedArrayFor[dtype]` names (bfloat16/float16: raw bits in a
 * Uint16Array) and its length must be `numel(shape)`.
 * @throws FewstepError naming the expected and the given class or length
 */
export function fromTypedArray<D extends DType>(dtype: D, shape: number[], typed: TypedArrayFor[D]): HostArray {
  itemSize(dtype); // throws a clear error on an unknown dtype before the class check
  const ctor = CTOR[dtype];
  if (!(typed instanceof ctor)) {
    const got = (typed as object | null)?.constructor?.name ?? String(typed);
    throw new FewstepError(`fromTypedArray: ${dtype} needs a ${ctor.name}, got ${got}`);
  }
  const data = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  return hostArray(dtype, shape, data, "fromTypedArray");
}

/** The bytes of `parts` one after another, in a new Uint8Array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
