// Seeded random generators. Every random draw in fewstep names its generator, so a seed gives
// the same numbers on every run (and a saved state resumes the exact stream).
import type { Device } from "./dtype.js";
import { native, type GeneratorHandle } from "./native.js";
import { checkDevice } from "./runtime.js";
import { fromHandle, type Tensor } from "./tensor.js";

/** Options of a new Generator. */
export interface GeneratorOptions {
  /**
   * Where the generator draws. "cpu": libtorch's mt19937, and draws for any device are made on
   * the CPU and moved (the same numbers on every device). "cuda" / "cuda:N": CUDA's Philox
   * generator on that device, which draws there with no host copy (other numbers than the CPU's
   * for the same seed); needs a native addon built against a CUDA libtorch.
   * @default "cpu"
   */
  device?: Device;
}

export class Generator {
  /** @internal */ readonly handle: GeneratorHandle;
  readonly seed: number;
  /**
   * The device the generator draws on, as libtorch names it: "cpu" or "cuda:N" (for a generator
   * made with "cuda", N is the device that was current, as a tensor's `device` reports it).
   */
  readonly device: Device;

  /**
   * A generator seeded with `seed`. On the CPU (the default) it is the same as
   * torch.Generator().manual_seed(seed); on a CUDA device it is a fresh generator of that device
   * (torch.Generator("cuda").manual_seed(seed)), independent of libtorch's default one.
   * @throws ConfigError for an unknown device, or a CUDA device on a CPU-only build (naming the rebuild)
   */
  constructor(seed: number, opts: GeneratorOptions = {}) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`Generator: seed must be a non-negative integer, got ${seed}`);
    const device = checkDevice(opts.device ?? "cpu", { op: "Generator", instead: "use a CPU generator (the default device)" });
    this.seed = seed;
    this.handle = native.generatorNew(seed, device);
    this.device = native.generatorDevice(this.handle) as Device;
  }

  /**
   * The full generator state as a CPU uint8 tensor (to save with a checkpoint). A CPU and a CUDA
   * generator have different state layouts: a state restores only a generator of the same kind.
   */
  getState(): Tensor {
    return fromHandle(native.generatorGetState(this.handle));
  }

  /** Restores a state from getState() of a generator of the same kind (CPU or CUDA). */
  setState(state: Tensor): void {
    native.generatorSetState(this.handle, state.handle);
  }
}
