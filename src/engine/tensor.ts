// Tensor: a typed handle on an at::Tensor with PyTorch's op names in camelCase.
// One spelling per op: elementwise, reduction and shape ops are methods; layers with weights
// live in functional.ts; creation in creation.ts. Every method returns a new tensor that joins
// the innermost scope (scope.ts); in-place updates end in `_`, as in PyTorch.
import { type AnyTypedArray, type Device, type DType, dtypeCode, dtypeFromCode, typedView } from "./dtype.js";
import { DisposedError, ShapeError } from "./errors.js";
import { type Handle, native } from "./native.js";
import { currentScope, type Scope, type Tracked } from "./scope.js";

/** A number or a tensor: numbers behave like PyTorch's Python scalars (no dtype promotion). */
export type TensorOrNumber = Tensor | number;

function operand(x: TensorOrNumber): Handle | number {
  return typeof x === "number" ? x : x.handle;
}

export class Tensor implements Tracked, Disposable {
  /** @internal */ owner: Scope | null = null;
  private h: Handle | null;
  private cachedShape: number[] | null = null;
  private cachedDType: DType | null = null;
  private cachedDevice: Device | null = null;

  /** @internal Tensors are made by ops and creation functions, never by `new` from user code. */
  constructor(handle: Handle) {
    this.h = handle;
    const scope = currentScope();
    if (scope) scope.adopt(this);
    else this.untracked();
  }

  /** @internal Called when no scope owns this tensor: from now on GC is its safety net. */
  untracked(): void {
    if (this.h !== null) native.trackExternal(this.h);
  }

  /** @internal The native handle; throws when the tensor was disposed. */
  get handle(): Handle {
    if (this.h === null) {
      throw new DisposedError("this tensor was disposed (by dispose() or by the scope that created it); keep() it or create it outside that scope");
    }
    return this.h;
  }

  private loadMeta(): void {
    const [code, device, , ...shape] = native.meta(this.handle);
    this.cachedDType = dtypeFromCode[code];
    this.cachedDevice = device as Device;
    this.cachedShape = shape;
  }

  /** Sizes of each dimension. */
  get shape(): number[] {
    if (this.cachedShape === null) this.loadMeta();
    return this.cachedShape!.slice();
  }
  get dtype(): DType {
    if (this.cachedDType === null) this.loadMeta();
    return this.cachedDType!;
  }
  get device(): Device {
    if (this.cachedDevice === null) this.loadMeta();
    return this.cachedDevice!;
  }
  get ndim(): number {
    if (this.cachedShape === null) this.loadMeta();
    return this.cachedShape!.length;
  }
  get numel(): number {
    if (this.cachedShape === null) this.loadMeta();
    return this.cachedShape!.reduce((a, b) => a * b, 1);
  }
  /** Size of one dimension; negative counts from the end. */
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? shape.length + dim : dim;
    if (d < 0 || d >= shape.length) throw new ShapeError(`size(${dim}): tensor has ${shape.length} dimensions`);
    return shape[d];
  }
  get isDisposed(): boolean {
    return this.h === null;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Frees the native tensor now. Safe to call twice. */
  dispose(): void {
    if (this.h === null) return;
    native.dispose(this.h);
    this.h = null;
    this.owner?.release(this);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- autograd ---------------------------------------------------------------------------

  get requiresGrad(): boolean {
    return native.meta(this.handle)[2];
  }
  /** Marks this (leaf) tensor as a parameter whose gradient backward() computes. Returns this. */
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.handle, flag);
    return this;
  }
  /** Backpropagates from this tensor; a non-scalar needs `gradient` of the same shape. */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, gradient?.handle ?? null, opts.retainGraph ?? false);
  }
  /** The accumulated gradient (a new tensor sharing its storage), or null before any backward. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  /** Drops the gradient (PyTorch's set_to_none), so the next backward writes a fresh one. */
  zeroGrad(): void {
    native.zeroGrad([this.handle]);
  }
  /** The same values, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- read-out ---------------------------------------------------------------------------

  /** A host copy of the values as the dtype's typed array (16-bit floats as bit patterns). */
  data(): AnyTypedArray {
    return typedView(this.dtype, native.toBuffer(this.handle));
  }
  /** Raw little-endian bytes of a contiguous host copy. */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.handle));
  }
  /** Values as plain numbers in C order (floats as float64, int64 through Number()). */
  toNumbers(): number[] {
    const t = this.dtype === "bfloat16" || this.dtype === "float16" ? this.to("float32") : this;
    const values = Array.from(t.data() as ArrayLike<number | bigint>, Number);
    if (t !== this) t.dispose();
    return values;
  }
  /** The single value of a one-element tensor. */
  item(): number {
    return Number(native.item(this.handle));
  }
  toString(): string {
    return formatTensor(this);
  }

  // ---- elementwise ------------------------------------------------------------------------

  add(other: TensorOrNumber): Tensor {
    return new Tensor(native.add(this.handle, operand(other)));
  }
  sub(other: TensorOrNumber): Tensor {
    return new Tensor(native.sub(this.handle, operand(other)));
  }
  /** other - this */
  rsub(other: TensorOrNumber): Tensor {
    return new Tensor(native.sub(operand(other), this.handle));
  }
  mul(other: TensorOrNumber): Tensor {
    return new Tensor(native.mul(this.handle, operand(other)));
  }
  div(other: TensorOrNumber): Tensor {
    return new Tensor(native.div(this.handle, operand(other)));
  }
  /** other / this */
  rdiv(other: TensorOrNumber): Tensor {
    return new Tensor(native.div(operand(other), this.handle));
  }
  pow(exponent: TensorOrNumber): Tensor {
    return new Tensor(native.pow(this.handle, operand(exponent)));
  }
  maximum(other: TensorOrNumber): Tensor {
    return new Tensor(native.maximum(this.handle, operand(other)));
  }
  minimum(other: TensorOrNumber): Tensor {
    return new Tensor(native.minimum(this.handle, operand(other)));
  }
  atan2(other: TensorOrNumber): Tensor {
    return new Tensor(native.atan2(this.handle, operand(other)));
  }
  eq(other: TensorOrNumber): Tensor {
    return new Tensor(native.eq(this.handle, operand(other)));
  }
  ne(other: TensorOrNumber): Tensor {
    return new Tensor(native.ne(this.handle, operand(other)));
  }
  lt(other: TensorOrNumber): Tensor {
    return new Tensor(native.lt(this.handle, operand(other)));
  }
  le(other: TensorOrNumber): Tensor {
    return new Tensor(native.le(this.handle, operand(other)));
  }
  gt(other: TensorOrNumber): Tensor {
    return new Tensor(native.gt(this.handle, operand(other)));
  }
  ge(other: TensorOrNumber): Tensor {
    return new Tensor(native.ge(this.handle, operand(other)));
  }
  logicalAnd(other: TensorOrNumber): Tensor {
    return new Tensor(native.logicalAnd(this.handle, operand(other)));
  }
  logicalOr(other: TensorOrNumber): Tensor {
    return new Tensor(native.logicalOr(this.handle, operand(other)));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  expm1(): Tensor {
    return new Tensor(native.expm1(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  square(): Tensor {
    return new Tensor(native.square(this.handle));
  }
  sin(): Tensor {
    return new Tensor(native.sin(this.handle));
  }
  cos(): Tensor {
    return new Tensor(native.cos(this.handle));
  }
  tan(): Tensor {
    return new Tensor(native.tan(this.handle));
  }
  atan(): Tensor {
    return new Tensor(native.atan(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  silu(): Tensor {
    return new Tensor(native.silu(this.handle));
  }
  /** GELU; `approximate: "tanh"` is the tanh approximation. @default "none" */
  gelu(approximate: "none" | "tanh" = "none"): Tensor {
    return new Tensor(native.gelu(this.handle, approximate));
  }
  /** log(1 + exp(beta x)) / beta, linear above `threshold`. @default beta 1, threshold 20 (PyTorch's) */
  softplus(beta = 1, threshold = 20): Tensor {
    return new Tensor(native.softplus(this.handle, beta, threshold));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.handle));
  }
  floor(): Tensor {
    return new Tensor(native.floor(this.handle));
  }
  ceil(): Tensor {
    return new Tensor(native.ceil(this.handle));
  }
  round(): Tensor {
    return new Tensor(native.round(this.handle));
  }
  erf(): Tensor {
    return new Tensor(native.erf(this.handle));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.handle));
  }
  isnan(): Tensor {
    return new Tensor(native.isnan(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  /** Clamps to [min, max]; either bound may be null. */
  clamp(min: number | null, max: number | null): Tensor {
    return new Tensor(native.clamp(this.handle, min, max));
  }
  /** A copy in another dtype and/or on another device. */
  to(dtype: DType, device?: Device): Tensor;
  to(target: { dtype?: DType; device?: Device }): Tensor;
  to(target: DType | { dtype?: DType; device?: Device }, device?: Device): Tensor {
    const dtype = typeof target === "string" ? target : (target.dtype ?? this.dtype);
    const dev = typeof target === "string" ? (device ?? this.device) : (target.device ?? this.device);
    return new Tensor(native.to(this.handle, dtypeCode[dtype], dev));
  }
  contiguous(): Tensor {
    return new Tensor(native.contiguous(this.handle));
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }

  // ---- reductions -------------------------------------------------------------------------

  /** Sum over `dims` (all when omitted). */
  sum(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.sum(this.handle, dimList(dims), keepdim));
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.mean(this.handle, dimList(dims), keepdim));
  }
  /** Maximum over one dim (values only), or over all elements when dim is omitted. */
  max(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.max(this.handle, dim ?? null, keepdim));
  }
  min(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.min(this.handle, dim ?? null, keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, dim ?? null, keepdim));
  }
  /** Variance; `unbiased` divides by n - 1. @default unbiased true (PyTorch's) */
  var(dims?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(native.var(this.handle, dimList(dims), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  std(dims?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(native.std(this.handle, dimList(dims), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  /** p-norm over `dims` (all when omitted). @default p 2 */
  norm(p = 2, dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.norm(this.handle, p, dimList(dims), keepdim));
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, dimList(dims)!, keepdim));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.cumsum(this.handle, dim));
  }
  softmax(dim: number): Tensor {
    return new Tensor(native.softmax(this.handle, dim));
  }
  logSoftmax(dim: number): Tensor {
    return new Tensor(native.logSoftmax(this.handle, dim));
  }
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.handle, other.handle));
  }

  // ---- shape ------------------------------------------------------------------------------

  /** New shape with the same number of elements; one entry may be -1. */
  reshape(shape: number[]): Tensor {
    return new Tensor(native.reshape(this.handle, shape));
  }
  permute(dims: number[]): Tensor {
    return new Tensor(native.permute(this.handle, dims));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this.handle, dim0, dim1));
  }
  /** Broadcasts size-1 dims to `shape` without copying; -1 keeps a size. */
  expand(shape: number[]): Tensor {
    return new Tensor(native.expand(this.handle, shape));
  }
  /** `length` entries of `dim` from `start` (a view). */
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.handle, dim, start, length));
  }
  /** Index `index` along `dim`, removing that dim (a view). */
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  /** Removes size-1 dims (only `dim` when given). */
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim ?? null));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this.handle, startDim, endDim));
  }
  flip(dims: number[]): Tensor {
    return new Tensor(native.flip(this.handle, dims));
  }
  repeat(repeats: number[]): Tensor {
    return new Tensor(native.repeat(this.handle, repeats));
  }
  /** Pieces of `size` along dim (the last may be smaller), or of the given sizes. */
  split(sizes: number | number[], dim = 0): Tensor[] {
    return native.split(this.handle, sizes, dim).map((h) => new Tensor(h));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return native.chunk(this.handle, chunks, dim).map((h) => new Tensor(h));
  }

  // ---- in place (for optimizers and buffers; not recorded by autograd under noGrad) ------

  copy_(src: Tensor): this {
    native.copy_(this.handle, src.handle);
    return this;
  }
  zero_(): this {
    native.zero_(this.handle);
    return this;
  }
  fill_(value: number): this {
    native.fill_(this.handle, value);
    return this;
  }
  mul_(other: TensorOrNumber): this {
    native.mul_(this.handle, operand(other));
    return this;
  }
  /** this += alpha * other */
  add_(other: TensorOrNumber, alpha = 1): this {
    native.add_(this.handle, operand(other), alpha);
    return this;
  }
}

function dimList(dims: number | number[] | undefined): number[] | null {
  if (dims === undefined) return null;
  return typeof dims === "number" ? [dims] : dims;
}

/** @internal Wraps a handle the addon returned. */
export function fromHandle(h: Handle): Tensor {
  return new Tensor(h);
}

// ---- printing -----------------------------------------------------------------------------

const EDGE = 3; // values shown at each end of a long dimension, as PyTorch's summarised print

function formatTensor(t: Tensor): string {
  if (t.isDisposed) return "Tensor(disposed)";
  const shape = t.shape;
  const header = `Tensor(shape=[${shape.join(", ")}], dtype=${t.dtype}, device=${t.device}${t.requiresGrad ? ", requiresGrad" : ""})`;
  if (t.numel > 100_000) return header;
  const values = t.dtype === "bool" ? Array.from(t.data() as Uint8Array, (v) => (v ? "true" : "false")) : t.toNumbers().map(formatNumber);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const render = (dim: number, offset: number, indent: string): string => {
    if (dim === shape.length) return values[offset];
    const n = shape[dim];
    const indices = n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()];
    const parts = indices.map((i) => (i < 0 ? "..." : render(dim + 1, offset + i * strides[dim], indent + " ")));
    const sep = dim === shape.length - 1 ? ", " : `,\n${indent} `;
    return `[${parts.join(sep)}]`;
  };
  return `${header}\n${render(0, 0, "")}`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const abs = Math.abs(v);
  return abs !== 0 && (abs < 1e-4 || abs >= 1e6) ? v.toExponential(4) : v.toFixed(4);
}
