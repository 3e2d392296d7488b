// Named parameters with PyTorch-style dotted paths (`down.0.conv1.weight`), so safetensors
// written from here open in Python under the same names (tch-rs's VarStore, STYLE.md).
import { Generator, keep, noGrad, tidy, ShapeError, ConfigError, type Device, type DType, type Tensor } from "../engine/index.js";

const FLOAT_DTYPES: readonly DType[] = ["float32", "float64", "float16", "bfloat16"];

/** Whether a value of dtype `got` may be copied into a parameter of dtype `want`: equal, or both floating point. */
export function isLoadableDtype(want: DType, got: DType): boolean {
  return want === got || (FLOAT_DTYPES.includes(want) && FLOAT_DTYPES.includes(got));
}

interface Root {
  params: Map<string, Tensor>;
  generator: Generator;
  device: Device;
}

export class ParamStore {
  private readonly root: Root;
  /** This store's path prefix, "" at the root. */
  readonly prefix: string;

  /**
   * A root store; `seed` drives every initialisation in it, `device` is where its parameters live
   * (initial values are drawn on the CPU and moved, so a seed gives the same model on every device).
   * @default seed 0, device "cpu"
   */
  constructor(opts: { seed?: number; device?: Device } = {}, root?: Root, prefix = "") {
    this.root = root ?? { params: new Map(), generator: new Generator(opts.seed ?? 0), device: opts.device ?? "cpu" };
    this.prefix = prefix;
  }

  /** A sub-path: `store.sub("down").sub(0)` names its parameters `down.0.*`. */
  sub(name: string | number): ParamStore {
    const part = String(name);
    if (part === "" || part.includes(".")) throw new ConfigError(`ParamStore.sub: path part '${part}' must be non-empty and contain no '.'`);
    return new ParamStore({}, this.root, this.prefix ? `${this.prefix}.${part}` : part);
  }

  /** Where the parameters live. */
  get device(): Device {
    return this.root.device;
  }

  /** The generator used for initialisation. */
  get generator(): Generator {
    return this.root.generator;
  }

  /**
   * Creates (once) a trainable parameter `name` from init(), outside every scope.
   * A second call with the same path is an error: each layer owns its names.
   */
  param(name: string, init: (generator: Generator) => Tensor): Tensor {
    const path = this.prefix ? `${this.prefix}.${name}` : name;
    if (this.root.params.has(path)) throw new ConfigError(`ParamStore: parameter '${path}' already exists`);
    const device = this.root.device;
    // init's temporaries are freed; values are drawn on the CPU, then moved
    const t = keep(tidy(() => noGrad(() => {
      const value = init(this.root.generator).detach();
      return value.device === device ? value : value.to({ device });
    })));
    t.requiresGrad_(true);
    this.root.params.set(path, t);
    return t;
  }

  /** All parameters of the root, by full path, in creation order. */
  named(): Map<string, Tensor> {
    return this.root.params;
  }

  /** All parameters of the root, in creation order. */
  parameters(): Tensor[] {
    return [...this.root.params.values()];
  }

  /** Number of scalar parameters. */
  count(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /**
   * Copies values in by name; reports every missing and unexpected name, every shape mismatch
   * and every dtype mismatch other than float to float (an integer tensor is no weight) in one
   * error (loading never half-succeeds silently).
   */
  load(values: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const given = values instanceof Map ? values : new Map(Object.entries(values));
    const missing = [...this.root.params.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !this.root.params.has(k));
    const mismatched: string[] = [];
    const dtypeMismatched: string[] = [];
    for (const [name, p] of this.root.params) {
      const v = given.get(name);
      if (v && v.shape.join() !== p.shape.join()) mismatched.push(`${name}: expected [${p.shape}] got [${v.shape}]`);
      if (v && !isLoadableDtype(p.dtype, v.dtype)) dtypeMismatched.push(`${name}: expected ${p.dtype} got ${v.dtype}`);
    }
    if (mismatched.length > 0 || dtypeMismatched.length > 0 || ((opts.strict ?? true) && (missing.length > 0 || unexpected.length > 0))) {
      throw new ShapeError(
        `ParamStore.load: ${[
          missing.length ? `missing ${missing.join(", ")}` : "",
          unexpected.length ? `unexpected ${unexpected.join(", ")}` : "",
          mismatched.length ? `shape mismatch ${mismatched.join("; ")}` : "",
          dtypeMismatched.length ? `dtype mismatch ${dtypeMismatched.join("; ")}` : "",
        ]
          .filter(Boolean)
          .join("; ")}`,
      );
    }
    noGrad(() => {
      for (const [name, p] of this.root.params) {
        const v = given.get(name);
        if (v) p.copy_(v);
      }
    });
    return { missing, unexpected };
  }

  /**
   * `load`, allowing one difference: when every parameter under `newPathPrefix` (a w path) is
   * absent from `values` (a teacher's weights), those keep their fresh initialisation (last layer
   * zero: the model computes exactly the teacher's x-hat). Any other missing or unexpected name,
   * or a shape mismatch, is one ShapeError listing them all.
   * @returns the names that kept their initial values (empty when all were given)
   */
  loadAllowingNewPath(who: string, values: Map<string, Tensor>, newPathPrefix: string): { initialisedWPath: string[] } {
    const prefix = this.prefix ? `${this.prefix}.${newPathPrefix}` : newPathPrefix;
    const fresh = [...this.root.params.keys()].filter((k) => k.startsWith(prefix));
    const allAbsent = fresh.length > 0 && fresh.every((n) => !values.has(n));
    const { missing, unexpected } = this.load(values, { strict: !allAbsent });
    const other = missing.filter((n) => !fresh.includes(n));
    if (allAbsent && (unexpected.length > 0 || other.length > 0)) {
      throw new ShapeError(`${who}.loadWeights: ${[other.length ? `missing ${other.join(", ")}` : "", unexpected.length ? `unexpected ${unexpected.join(", ")}` : ""].filter(Boolean).join("; ")}`);
    }
    return { initialisedWPath: allAbsent ? fresh : [] };
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const p of this.root.params.values()) p.dispose();
    this.root.params.clear();
  }
}
