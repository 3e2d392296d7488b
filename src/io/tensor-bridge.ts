// Between engine tensors and host arrays (the currency of the file formats).
import { fromBytes, type Device, type Tensor } from "../engine/index.js";
import { hostArray, type HostArray } from "./host-array.js";

/** A contiguous host copy of t. */
export function toHost(t: Tensor): HostArray {
  return hostArray(t.dtype, t.shape, t.bytes(), "toHost");
}

/** A new tensor holding a copy of h's values. */
export function fromHost(h: HostArray, device: Device = "cpu"): Tensor {
  return fromBytes(h.data, h.shape, h.dtype, device);
}

/** Host copies of named tensors, e.g. a ParamStore's named() map, ready for saveSafetensors. */
export function toHostRecord(tensors: Map<string, Tensor> | Record<string, Tensor>): Record<string, HostArray> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  return Object.fromEntries(entries.map(([name, t]) => [name, toHost(t)]));
}
