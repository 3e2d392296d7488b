// Loads the libtorch addon (native/, built by `npm run build:native`) and types its surface.
// Only src/engine imports this file: everything above it sees Tensor, never a handle.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { FewstepError, TorchError } from "./errors.js";

/** An opaque reference to an at::Tensor held by the addon. */
export type Handle = { readonly __tensorHandle: unique symbol };
/** An opaque reference to an at::Generator (CPU or CUDA). */
export type GeneratorHandle = { readonly __generatorHandle: unique symbol };
type Operand = Handle | number;
type Opt<T> = T | null | undefined;

export interface NativeAddon {
  setErrorClass(ctor: new (message: string, op: string) => Error): void;
  liveCount(): number;
  setNumThreads(n: number): void;
  setAllowTF32(cudnn: boolean, cublas: boolean): void;
  getAllowTF32(): { cudnn: boolean; cublas: boolean };
  getNumThreads(): number;
  torchVersion(): string;
  cudaAvailable(): boolean;
  manualSeed(seed: number): void;
  dispose(h: Handle): void;
  isLive(h: Handle): boolean;
  trackExternal(h: Handle): void;
  meta(h: Handle): [number, string, boolean, ...number[]];

  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number, device?: string): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  item(h: Handle): number | boolean;
  zeros(shape: number[], dtype: number, device: string): Handle;
  ones(shape: number[], dtype: number, device: string): Handle;
  full(shape: number[], value: number, dtype: number, device: string): Handle;
  arange(start: number, end: number, step: number, dtype: number, device: string): Handle;
  linspace(start: number, end: number, steps: number, dtype: number, device: string): Handle;
  generatorNew(seed: number, device?: string): GeneratorHandle;
  /** "cpu" or "cuda:N". */
  generatorDevice(g: GeneratorHandle): string;
  generatorGetState(g: GeneratorHandle): Handle;
  generatorSetState(g: GeneratorHandle, state: Handle): void;
  rand(shape: number[], g: GeneratorHandle, dtype: number, device: string): Handle;
  randn(shape: number[], g: GeneratorHandle, dtype: number, device: string): Handle;
  randint(low: number, high: number, shape: number[], g: GeneratorHandle, device: string): Handle;
  randperm(n: number, g: GeneratorHandle, device: string): Handle;

  // binary (either side may be a number)
  add(a: Operand, b: Operand): Handle;
  sub(a: Operand, b: Operand): Handle;
  mul(a: Operand, b: Operand): Handle;
  div(a: Operand, b: Operand): Handle;
  pow(a: Operand, b: Operand): Handle;
  maximum(a: Operand, b: Operand): Handle;
  minimum(a: Operand, b: Operand): Handle;
  atan2(a: Operand, b: Operand): Handle;
  eq(a: Operand, b: Operand): Handle;
  ne(a: Operand, b: Operand): Handle;
  lt(a: Operand, b: Operand): Handle;
  le(a: Operand, b: Operand): Handle;
  gt(a: Operand, b: Operand): Handle;
  ge(a: Operand, b: Operand): Handle;
  logicalAnd(a: Operand, b: Operand): Handle;
  logicalOr(a: Operand, b: Operand): Handle;
  matmul(a: Handle, b: Handle): Handle;

  // unary
  neg(h: Handle): Handle;
  abs(h: Handle): Handle;
  exp(h: Handle): Handle;
  expm1(h: Handle): Handle;
  log(h: Handle): Handle;
  log1p(h: Handle): Handle;
  sqrt(h: Handle): Handle;
  rsqrt(h: Handle): Handle;
  square(h: Handle): Handle;
  sin(h: Handle): Handle;
  cos(h: Handle): Handle;
  tan(h: Handle): Handle;
  atan(h: Handle): Handle;
  tanh(h: Handle): Handle;
  sigmoid(h: Handle): Handle;
  relu(h: Handle): Handle;
  silu(h: Handle): Handle;
  sign(h: Handle): Handle;
  floor(h: Handle): Handle;
  ceil(h: Handle): Handle;
  round(h: Handle): Handle;
  erf(h: Handle): Handle;
  logicalNot(h: Handle): Handle;
  isnan(h: Handle): Handle;
  isfinite(h: Handle): Handle;
  contiguous(h: Handle): Handle;
  clone(h: Handle): Handle;
  detach(h: Handle): Handle;
  gelu(h: Handle, approximate: "none" | "tanh"): Handle;
  softplus(h: Handle, beta: number, threshold: number): Handle;
  clamp(h: Handle, min: Opt<number>, max: Opt<number>): Handle;
  where(cond: Handle, a: Operand, b: Operand): Handle;
  to(h: Handle, dtype: number, device: string): Handle;

  // reductions
  sum(h: Handle, dims: Opt<number[]>, keepdim: boolean): Handle;
  mean(h: Handle, dims: Opt<number[]>, keepdim: boolean): Handle;
  max(h: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  min(h: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  argmax(h: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  var(h: Handle, dims: Opt<number[]>, unbiased: boolean, keepdim: boolean): Handle;
  std(h: Handle, dims: Opt<number[]>, unbiased: boolean, keepdim: boolean): Handle;
  norm(h: Handle, p: number, dims: Opt<number[]>, keepdim: boolean): Handle;
  logsumexp(h: Handle, dims: number[], keepdim: boolean): Handle;
  cumsum(h: Handle, dim: number): Handle;

  // nn
  linear(x: Handle, weight: Handle, bias: Opt<Handle>): Handle;
  conv2d(x: Handle, w: Handle, b: Opt<Handle>, stride: number[], padding: number[], dilation: number[], groups: number): Handle;
  convTranspose2d(
    x: Handle,
    w: Handle,
    b: Opt<Handle>,
    stride: number[],
    padding: number[],
    outputPadding: number[],
    groups: number,
    dilation: number[],
  ): Handle;
  upsampleNearest2d(x: Handle, size: number[]): Handle;
  avgPool2d(x: Handle, kernel: number[], stride: number[], padding: number[]): Handle;
  groupNorm(x: Handle, groups: number, w: Opt<Handle>, b: Opt<Handle>, eps: number): Handle;
  layerNorm(x: Handle, shape: number[], w: Opt<Handle>, b: Opt<Handle>, eps: number): Handle;
  softmax(x: Handle, dim: number): Handle;
  logSoftmax(x: Handle, dim: number): Handle;
  embedding(weight: Handle, indices: Handle): Handle;
  oneHot(indices: Handle, numClasses: number): Handle;

  // shape
  cat(list: Handle[], dim: number): Handle;
  stack(list: Handle[], dim: number): Handle;
  split(h: Handle, sizes: number | number[], dim: number): Handle[];
  chunk(h: Handle, chunks: number, dim: number): Handle[];
  reshape(h: Handle, shape: number[]): Handle;
  permute(h: Handle, dims: number[]): Handle;
  transpose(h: Handle, d0: number, d1: number): Handle;
  expand(h: Handle, shape: number[]): Handle;
  narrow(h: Handle, dim: number, start: number, length: number): Handle;
  select(h: Handle, dim: number, index: number): Handle;
  indexSelect(h: Handle, dim: number, index: Handle): Handle;
  gather(h: Handle, dim: number, index: Handle): Handle;
  squeeze(h: Handle, dim: Opt<number>): Handle;
  unsqueeze(h: Handle, dim: number): Handle;
  flatten(h: Handle, start: number, end: number): Handle;
  flip(h: Handle, dims: number[]): Handle;
  repeat(h: Handle, repeats: number[]): Handle;

  // linear algebra
  /** [eigenvalues ascending, eigenvectors as columns] of a symmetric matrix (lower triangle read). */
  linalgEigh(h: Handle): [Handle, Handle];

  // in place
  copy_(dst: Handle, src: Handle): void;
  zero_(h: Handle): void;
  fill_(h: Handle, value: number): void;
  mul_(h: Handle, other: Operand): void;
  add_(h: Handle, other: Operand, alpha?: number): void;

  // autograd
  setRequiresGrad(h: Handle, flag: boolean): void;
  backward(h: Handle, gradient: Opt<Handle>, retainGraph: boolean): void;
  grad(h: Handle): Handle | null;
  zeroGrad(list: Handle[]): void;
  setGradEnabled(flag: boolean): boolean;
  isGradEnabled(): boolean;

  // optimizers
  adamStep(
    params: Handle[],
    expAvg: Handle[],
    expAvgSq: Handle[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    step: number,
  ): void;
  sgdStep(
    params: Handle[],
    buffers: Handle[],
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    firstStep: boolean,
  ): void;
  /** The pre-clip global norm, a 0-d tensor on the parameters' device (no host sync). */
  clipGradNorm(params: Handle[], maxNorm: number): Handle;
  emaUpdate(averages: Handle[], params: Handle[], decay: number): void;
}

function findAddon(): string {
  // dist/src/engine/native.js and src/engine/native.ts both sit below the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "native", "build", "Release", "fewstep.node");
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, "..");
  }
  throw new FewstepError(
    "fewstep's native addon is not built (native/build/Release/fewstep.node is missing). " +
      "Run `npm run build:native` (it needs libtorch: `apt-get install libtorch-dev libopenblas0-pthread`, or see README).",
  );
}

function load(): NativeAddon {
  const path = process.env.FEWSTEP_ADDON ?? findAddon();
  const require = createRequire(import.meta.url);
  // libgomp (libtorch's OpenMP) spins its idle workers for ~300k iterations by default; on a small
  // machine they then hold the cores OpenBLAS's own threads need for the next matrix product.
  // A short spin measured 3.5x faster MLP training (8.5 -> 31 steps/s) at equal conv-net speed
  // (BENCHMARKS.md). libgomp reads the variable once, when the addon loads libtorch; it is removed
  // again so child processes (benchmark peers) see the user's own environment.
  const tuneSpin = process.env.GOMP_SPINCOUNT === undefined && process.env.OMP_WAIT_POLICY === undefined && process.env.FEWSTEP_GOMP_SPINCOUNT !== "default";
  if (tuneSpin) process.env.GOMP_SPINCOUNT = process.env.FEWSTEP_GOMP_SPINCOUNT ?? "10000";
  let addon: NativeAddon;
  try {
    addon = require(path) as NativeAddon;
  } catch (error) {
    throw new FewstepError(
      `fewstep's native addon at ${path} failed to load: ${(error as Error).message}. ` +
        "Rebuild it with `npm run build:native` against the libtorch on this machine.",
    );
  } finally {
    if (tuneSpin) delete process.env.GOMP_SPINCOUNT;
  }
  addon.setErrorClass(TorchError);
  return addon;
}

/** The addon, loaded once. */
export const native: NativeAddon = load();
