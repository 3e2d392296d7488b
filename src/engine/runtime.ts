// Runtime settings: libtorch's thread count and the BLAS that matrix products run on.
// libtorch starts with one thread here; fewstep defaults to all available cores.
// Debian's libtorch takes matmul from whatever libblas.so.3 is selected; the reference BLAS
// runs at 3.4 GFLOP/s against OpenBLAS's 115+ (DESIGN.md section 2), so it is named loudly.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { capThreads, threadsFromEnv } from "./bounds.js";
import { ConfigError } from "./errors.js";
import type { Device } from "./dtype.js";
import { native } from "./native.js";

/**
 * Sets libtorch's intra-op thread count, capped at 4x the available cores (one warning line on
 * stderr names the cap). Returns the count set.
 * @throws ConfigError for a non-integer or a count below 1
 */
export function setNumThreads(n: number, what = "threads"): number {
  const count = capThreads(n, what);
  native.setNumThreads(count);
  return count;
}

/**
 * Lets CUDA convolutions and matrix products use TF32 (faster on Ampere and later, ~1e-3 relative
 * error): one boolean for both, or each apart (e.g. to restore getAllowTF32()'s values).
 * libtorch's defaults: on for cuDNN convolutions, off for cuBLAS. No effect on the CPU.
 */
export function setAllowTF32(on: boolean | { cudnn: boolean; cublas: boolean }): void {
  const { cudnn, cublas } = typeof on === "boolean" ? { cudnn: on, cublas: on } : on;
  native.setAllowTF32(cudnn, cublas);
}

/** Whether TF32 is allowed for cuDNN convolutions and cuBLAS matrix products. */
export function getAllowTF32(): { cudnn: boolean; cublas: boolean } {
  return native.getAllowTF32();
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

export function torchVersion(): string {
  return native.torchVersion();
}

export function cudaAvailable(): boolean {
  return native.cudaAvailable();
}

/** Which BLAS library the process mapped, read from /proc/self/maps. */
export interface BlasInfo {
  kind: "openblas" | "reference" | "mkl" | "blis" | "unknown";
  path: string | null;
}

export function blasInfo(): BlasInfo {
  let maps = "";
  try {
    maps = readFileSync("/proc/self/maps", "utf8");
  } catch {
    return { kind: "unknown", path: null };
  }
  const paths = [...new Set(maps.split("\n").map((l) => l.slice(l.indexOf("/")).trim()).filter((p) => p.startsWith("/")))];
  const find = (re: RegExp) => paths.find((p) => re.test(p)) ?? null;
  const openblas = find(/openblas/i);
  if (openblas) return { kind: "openblas", path: openblas };
  const mkl = find(/libmkl/);
  if (mkl) return { kind: "mkl", path: mkl };
  const blis = find(/blis/);
  if (blis) return { kind: "blis", path: blis };
  const reference = find(/\/blas\/libblas\.so/);
  if (reference) return { kind: "reference", path: reference };
  return { kind: "unknown", path: find(/libblas/) };
}

let initialised = false;

/** Applies FEWSTEP_THREADS (default: all cores) and warns on the reference BLAS. Runs once on import. */
export function initRuntime(): void {
  if (initialised) return;
  initialised = true;
  native.setNumThreads(threadsFromEnv() ?? availableParallelism());
  const blas = blasInfo();
  if (blas.kind === "reference") {
    process.emitWarning(
      `matrix products run on the reference BLAS (${blas.path}), about 30x slower than OpenBLAS. ` +
        "Install OpenBLAS: `apt-get install libopenblas0-pthread` (it becomes the system libblas.so.3).",
      { code: "FEWSTEP_REFERENCE_BLAS" },
    );
  }
}

/**
 * Checks a device name a user gave (a --device flag) and that this build can use it.
 * @throws ConfigError naming the fix: an unknown name, or "cuda" on a CPU-only libtorch
 */
export function resolveDevice(name: string): Device {
  return checkDevice(name, { instead: "use --device cpu" });
}

/**
 * @internal The one device check behind resolveDevice and `new Generator(seed, { device })`.
 * `op` leads the message when given; `instead` is the CPU alternative the message offers.
 */
export function checkDevice(name: string, opts: { op?: string; instead: string }): Device {
  const lead = opts.op ? `${opts.op}: ` : "";
  if (name !== "cpu" && name !== "cuda" && !/^cuda:\d+$/.test(name)) {
    throw new ConfigError(`${lead}unknown device '${name}': use cpu, cuda or cuda:N`);
  }
  if (name !== "cpu" && !cudaAvailable()) {
    throw new ConfigError(
      `${lead}device '${name}': the native addon was built against a libtorch without CUDA or no GPU is visible (${torchVersion()}); ` +
        `rebuild it against a CUDA build (LIBTORCH=/path/to/libtorch or a Python with CUDA PyTorch, then npm run build:native), or ${opts.instead}`,
    );
  }
  return name as Device;
}
