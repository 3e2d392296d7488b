// Creating tensors: from JS values, constants, ranges, and seeded random draws.
import { type AnyTypedArray, type Device, type DType, dtypeCode, itemSize } from "./dtype.js";
import { ShapeError } from "./errors.js";
import { native } from "./native.js";
import { fromHandle, Tensor } from "./tensor.js";
import type { Generator } from "./random.js";

/** dtype and device of a new tensor. @default { dtype: "float32", device: "cpu" } */
export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}

/** Nested arrays of numbers or booleans, e.g. [[1, 2], [3, 4]]. */
export type NestedArray = number | boolean | NestedArray[];

function inferShape(value: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

function flatten(value: NestedArray, shape: number[], dim: number, out: (number | boolean)[]): void {
  if (dim === shape.length) {
    if (Array.isArray(value)) throw new ShapeError(`tensor(): ragged nested array: expected a scalar at depth ${dim}`);
    out.push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[dim]) {
    throw new ShapeError(`tensor(): ragged nested array: expected ${shape[dim]} entries at depth ${dim}, got ${Array.isArray(value) ? value.length : "a scalar"}`);
  }
  for (const v of value) flatten(v, shape, dim + 1, out);
}

function encode(values: ArrayLike<number | boolean | bigint>, dtype: DType): ArrayBufferView {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values as ArrayLike<number>, Number);
    case "float64":
      return Float64Array.from(values as ArrayLike<number>, Number);
    case "int64":
      return BigInt64Array.from(values as ArrayLike<number>, (v) => BigInt(Math.trunc(Number(v))));
    case "int32":
      return Int32Array.from(values as ArrayLike<number>, Number);
    case "bool":
    case "uint8":
      return Uint8Array.from(values as ArrayLike<number>, (v) => Number(v));
    case "bfloat16":
    case "float16":
      // 16-bit floats have no JS type: build float32, then let libtorch round.
      throw new ShapeError(`tensor(): create ${dtype} tensors from float32 data with .to("${dtype}")`);
  }
}

/**
 * A tensor from nested arrays or a typed array (which needs `shape`, default 1-D).
 * Numbers default to float32, booleans to bool; a BigInt64Array gives int64.
 */
export function tensor(data: NestedArray | AnyTypedArray, opts: TensorOptions & { shape?: number[] } = {}): Tensor {
  let shape: number[];
  let dtype: DType;
  let bytes: ArrayBufferView;
  if (ArrayBuffer.isView(data)) {
    shape = opts.shape ?? [data.length];
    dtype = opts.dtype ?? typedArrayDType(data);
    const expected = shape.reduce((a, b) => a * b, 1);
    if (expected !== data.length) throw new ShapeError(`tensor(): shape [${shape.join(", ")}] needs ${expected} values, got ${data.length}`);
    bytes = typedArrayDType(data) === dtype && data.byteLength === expected * itemSize[dtype] ? data : encode(data as ArrayLike<number>, dtype);
  } else {
    shape = inferShape(data);
    const flat: (number | boolean)[] = [];
    flatten(data, shape, 0, flat);
    dtype = opts.dtype ?? (typeof flat[0] === "boolean" ? "bool" : "float32");
    bytes = encode(flat, dtype);
    if (opts.shape) shape = opts.shape;
  }
  return fromHandle(native.fromBuffer(bytes, shape, dtypeCode[dtype], opts.device ?? "cpu"));
}

function typedArrayDType(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint16Array) return "float16";
  return "uint8";
}

/** A tensor over raw little-endian bytes (C order) of the given dtype: the bridge for file formats. */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType, device: Device = "cpu"): Tensor {
  return fromHandle(native.fromBuffer(bytes, shape, dtypeCode[dtype], device));
}

export function zeros(shape: number[], opts: TensorOptions = {}): Tensor {
  return fromHandle(native.zeros(shape, dtypeCode[opts.dtype ?? "float32"], opts.device ?? "cpu"));
}
export function ones(shape: number[], opts: TensorOptions = {}): Tensor {
  return fromHandle(native.ones(shape, dtypeCode[opts.dtype ?? "float32"], opts.device ?? "cpu"));
}
export function full(shape: number[], value: number, opts: TensorOptions = {}): Tensor {
  return fromHandle(native.full(shape, value, dtypeCode[opts.dtype ?? "float32"], opts.device ?? "cpu"));
}
/** Zeros with the shape, dtype and device of `like`. */
export function zerosLike(like: Tensor): Tensor {
  return zeros(like.shape, { dtype: like.dtype, device: like.device });
}
export function onesLike(like: Tensor): Tensor {
  return ones(like.shape, { dtype: like.dtype, device: like.device });
}
/** [start, end) in steps of `step`. @default dtype "float32" */
export function arange(start: number, end: number, step = 1, opts: TensorOptions = {}): Tensor {
  return fromHandle(native.arange(start, end, step, dtypeCode[opts.dtype ?? "float32"], opts.device ?? "cpu"));
}
/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  return fromHandle(native.linspace(start, end, steps, dtypeCode[opts.dtype ?? "float32"], opts.device ?? "cpu"));
}

/**
 * Uniform on [0, 1), drawn from `generator`. A CPU generator draws on the CPU and the values move
 * to `opts.device` (the same numbers on every device); a generator on a device draws there, so
 * `opts.device` must then be that device or left out (a mismatch is a TorchError naming both).
 * @default opts.device the generator's device ("cpu" for a CPU generator), opts.dtype "float32"
 */
export function rand(shape: number[], generator: Generator, opts: TensorOptions = {}): Tensor {
  return fromHandle(native.rand(shape, generator.handle, dtypeCode[opts.dtype ?? "float32"], opts.device ?? generator.device));
}
/** Standard normal, drawn from `generator`; devices as in rand(). @default opts.device the generator's device */
export function randn(shape: number[], generator: Generator, opts: TensorOptions = {}): Tensor {
  return fromHandle(native.randn(shape, generator.handle, dtypeCode[opts.dtype ?? "float32"], opts.device ?? generator.device));
}
/** int64 uniform on [low, high); devices as in rand(). @default opts.device the generator's device */
export function randint(low: number, high: number, shape: number[], generator: Generator, opts: { device?: Device } = {}): Tensor {
  return fromHandle(native.randint(low, high, shape, generator.handle, opts.device ?? generator.device));
}
/** A random permutation of 0..n-1 (int64); devices as in rand(). @default opts.device the generator's device */
export function randperm(n: number, generator: Generator, opts: { device?: Device } = {}): Tensor {
  return fromHandle(native.randperm(n, generator.handle, opts.device ?? generator.device));
}

// Free functions over several tensors (no natural receiver).

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return fromHandle(native.cat(tensors.map((t) => t.handle), dim));
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return fromHandle(native.stack(tensors.map((t) => t.handle), dim));
}
/** Elementwise `cond ? a : b`; a or b may be a number. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return fromHandle(native.where(cond.handle, typeof a === "number" ? a : a.handle, typeof b === "number" ? b : b.handle));
}
