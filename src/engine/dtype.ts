// Element types and devices, with the numeric codes shared with native/src/addon.cc.

/** Element types. bfloat16/float16 run where the device supports them. */
export type DType = "float32" | "float64" | "int64" | "bool" | "bfloat16" | "float16" | "uint8" | "int32";

/** "cpu", "cuda" or "cuda:N". */
export type Device = "cpu" | "cuda" | `cuda:${number}`;

/** Codes understood by the addon (DType() in native/src/addon.cc). */
export const dtypeCode: Readonly<Record<DType, number>> = {
  float32: 0,
  float64: 1,
  int64: 2,
  bool: 3,
  bfloat16: 4,
  float16: 5,
  uint8: 6,
  int32: 7,
};

export const dtypeFromCode: readonly DType[] = ["float32", "float64", "int64", "bool", "bfloat16", "float16", "uint8", "int32"];

/** Bytes per element. */
export const itemSize: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  bool: 1,
  bfloat16: 2,
  float16: 2,
  uint8: 1,
  int32: 4,
};

/** The typed array that holds each dtype's raw values (16-bit floats as their bit patterns). */
export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "int64"
      ? BigInt64Array
      : D extends "int32"
        ? Int32Array
        : D extends "bfloat16" | "float16"
          ? Uint16Array
          : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;

export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "bfloat16" || dtype === "float16";
}

/** Views raw bytes as the dtype's typed array, copying only when the bytes are misaligned. */
export function typedView(dtype: DType, buffer: ArrayBuffer, byteOffset = 0, length?: number): AnyTypedArray {
  const size = itemSize[dtype];
  const count = length ?? (buffer.byteLength - byteOffset) / size;
  if (byteOffset % size !== 0) {
    const copy = buffer.slice(byteOffset, byteOffset + count * size);
    return typedView(dtype, copy, 0, count);
  }
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, count);
    case "float64":
      return new Float64Array(buffer, byteOffset, count);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, count);
    case "int32":
      return new Int32Array(buffer, byteOffset, count);
    case "bfloat16":
    case "float16":
      return new Uint16Array(buffer, byteOffset, count);
    case "bool":
    case "uint8":
      return new Uint8Array(buffer, byteOffset, count);
  }
}
