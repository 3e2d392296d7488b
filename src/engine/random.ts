// Seeded random generators. Every random draw in fewstep names its generator, so a seed gives
// the same numbers on every run (and a saved state resumes the exact stream).
import { native, type GeneratorHandle } from "./native.js";
import { fromHandle, type Tensor } from "./tensor.js";

export class Generator {
  /** @internal */ readonly handle: GeneratorHandle;
  readonly seed: number;

  /** A CPU generator (libtorch's mt19937) seeded with `seed`; the same as torch.Generator().manual_seed(seed). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`Generator: seed must be a non-negative integer, got ${seed}`);
    this.seed = seed;
    this.handle = native.generatorNew(seed);
  }

  /** The full generator state as a uint8 tensor (to save with a checkpoint). */
  getState(): Tensor {
    return fromHandle(native.generatorGetState(this.handle));
  }

  /** Restores a state from getState(). */
  setState(state: Tensor): void {
    native.generatorSetState(this.handle, state.handle);
  }
}
