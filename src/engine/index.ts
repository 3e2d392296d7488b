// The tensor engine's public face: Tensor, creation, layers, autograd, optimizers, memory scopes.
import { initRuntime } from "./runtime.js";

export * from "./dtype.js";
export * from "./errors.js";
export { Tensor, type TensorOrNumber } from "./tensor.js";
export * from "./creation.js";
export * from "./functional.js";
export * from "./linalg.js";
export * from "./autograd.js";
export * from "./optim.js";
export { Generator, type GeneratorOptions } from "./random.js";
export { Scope, tidy, keep, liveTensors } from "./scope.js";
export { capThreads, checkMemory, availableMemory, maxThreads } from "./bounds.js";
export { setNumThreads, getNumThreads, torchVersion, cudaAvailable, resolveDevice, setAllowTF32, getAllowTF32, blasInfo, type BlasInfo } from "./runtime.js";

initRuntime();
