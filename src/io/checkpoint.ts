// Training checkpoints as one safetensors file (DESIGN.md section 6): the ecosystem's format, so
// `safetensors.torch.load_file` opens it in Python, written atomically (temporary file, fsync,
// rename) so a crash never leaves a torn one.
//
// Layout. Tensors: parameters under their own names (a PyTorch state_dict), EMA averages as
// "ema.<name>", optimizer state as "optim.<name>", the generator state as "rng.state".
// __metadata__ (strings only): "fewstep" = JSON of the caller's metadata (model kind and config,
// step, ...); it marks the file as a fewstep checkpoint. "fewstep.optimizer" = JSON of the
// optimizer's scalars, present exactly when an optimizer state was saved.
import type { Device, OptimizerState, Tensor } from "../engine/index.js";
import { CheckpointError } from "./errors.js";
import { loadSafetensors, saveSafetensors, type Safetensors } from "./safetensors.js";
import { fromHost, toHost } from "./tensor-bridge.js";
import type { HostArray } from "./host-array.js";

/** Everything a training run saves: weights, their EMA, optimizer and generator state, metadata. */
export interface Checkpoint {
  /** Model parameters by PyTorch-style name. */
  params: Map<string, Tensor>;
  /** EMA averages by the same names. */
  ema?: Map<string, Tensor>;
  /** Optimizer state (Optimizer.stateDict()). */
  optimizer?: OptimizerState;
  /** Generator.getState(), so the random stream resumes exactly. */
  generatorState?: Tensor;
  /** JSON-serialisable facts: model kind and config, training step, run settings. */
  metadata: Record<string, unknown>;
}

const EMA = "ema.";
const OPTIM = "optim.";
const RNG = "rng.";
const RNG_STATE = "rng.state";
const META_KEY = "fewstep";
const OPTIM_META_KEY = "fewstep.optimizer";

/**
 * Writes `checkpoint` to `path` atomically. Tensors are copied to host memory first, so the
 * caller's tensors stay untouched and may live in any scope.
 * @throws CheckpointError when a parameter name starts with a reserved prefix ("ema.", "optim.",
 *   "rng.") or the metadata is not JSON-serialisable; Node's file system errors as they come
 */
export function saveCheckpoint(path: string, checkpoint: Checkpoint): void {
  const tensors: Record<string, HostArray> = {};
  for (const name of checkpoint.params.keys()) {
    if ([EMA, OPTIM, RNG].some((p) => name.startsWith(p))) {
      throw new CheckpointError(`saveCheckpoint ${path}: parameter name '${name}' starts with a reserved prefix (${EMA}, ${OPTIM}, ${RNG})`);
    }
  }
  for (const [name, t] of checkpoint.params) tensors[name] = toHost(t);
  if (checkpoint.ema) for (const [name, t] of checkpoint.ema) tensors[EMA + name] = toHost(t);
  if (checkpoint.optimizer) for (const [name, t] of Object.entries(checkpoint.optimizer.tensors)) tensors[OPTIM + name] = toHost(t);
  if (checkpoint.generatorState) tensors[RNG_STATE] = toHost(checkpoint.generatorState);

  let json: string | undefined;
  try {
    json = JSON.stringify(checkpoint.metadata);
  } catch (err) {
    throw new CheckpointError(`saveCheckpoint ${path}: metadata is not JSON-serialisable (${(err as Error).message})`, { cause: err });
  }
  if (json === undefined || !isRecord(checkpoint.metadata)) throw new CheckpointError(`saveCheckpoint ${path}: metadata must be a plain object`);
  const metadata: Record<string, string> = { [META_KEY]: json };
  if (checkpoint.optimizer) metadata[OPTIM_META_KEY] = JSON.stringify(checkpoint.optimizer.scalars);
  saveSafetensors(path, tensors, metadata);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads a checkpoint written by saveCheckpoint. The tensors are new (in the current scope, if any);
 * free them with disposeCheckpoint() when done. `ema`, `optimizer` and `generatorState` are present
 * exactly when they were saved.
 * @param opts.device where the tensors go @default "cpu"
 * @throws CheckpointError naming `path` when the file cannot be read, is not safetensors, or has no
 *   "fewstep" metadata (not a fewstep checkpoint) or unreadable metadata JSON
 */
export function loadCheckpoint(path: string, opts: { device?: Device } = {}): Checkpoint {
  let file: Safetensors;
  try {
    file = loadSafetensors(path);
  } catch (err) {
    // One error type for "this path is no usable checkpoint", whatever the reason underneath.
    throw new CheckpointError(`${path}: cannot read checkpoint: ${(err as Error).message}`, { cause: err });
  }
  const raw = file.metadata[META_KEY];
  if (raw === undefined) {
    const keys = Object.keys(file.metadata);
    throw new CheckpointError(
      `${path}: not a fewstep checkpoint: its safetensors metadata has no "${META_KEY}" entry (found ${keys.length ? keys.map((k) => JSON.stringify(k)).join(", ") : "no metadata"}); ` +
        "plain weight files have no model config to rebuild from",
    );
  }
  const metadata = parseJson(path, META_KEY, raw);
  if (!isRecord(metadata)) throw new CheckpointError(`${path}: "${META_KEY}" metadata must be a JSON object, got ${raw.slice(0, 80)}`);
  const optimScalars = file.metadata[OPTIM_META_KEY] === undefined ? undefined : parseJson(path, OPTIM_META_KEY, file.metadata[OPTIM_META_KEY]);

  const device = opts.device ?? "cpu";
  const params = new Map<string, Tensor>();
  const ema = new Map<string, Tensor>();
  const optimTensors: Record<string, Tensor> = {};
  let generatorState: Tensor | undefined;
  for (const [name, h] of Object.entries(file.tensors)) {
    if (name === RNG_STATE) generatorState = fromHost(h); // generators live on the CPU
    else if (name.startsWith(EMA)) ema.set(name.slice(EMA.length), fromHost(h, device));
    else if (name.startsWith(OPTIM)) optimTensors[name.slice(OPTIM.length)] = fromHost(h, device);
    else params.set(name, fromHost(h, device));
  }
  const checkpoint: Checkpoint = { params, metadata };
  if (ema.size > 0) checkpoint.ema = ema;
  if (optimScalars !== undefined) checkpoint.optimizer = { tensors: optimTensors, scalars: optimScalars as Record<string, number> };
  if (generatorState) checkpoint.generatorState = generatorState;
  return checkpoint;
}

function parseJson(path: string, key: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new CheckpointError(`${path}: "${key}" metadata is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** Frees every tensor of a loaded checkpoint. */
export function disposeCheckpoint(checkpoint: Checkpoint): void {
  for (const t of checkpoint.params.values()) t.dispose();
  if (checkpoint.ema) for (const t of checkpoint.ema.values()) t.dispose();
  if (checkpoint.optimizer) for (const t of Object.values(checkpoint.optimizer.tensors)) t.dispose();
  checkpoint.generatorState?.dispose();
}

/**
 * Writes the weights one samples with (the EMA averages when saved, else the parameters) and the
 * metadata to `dst`, without EMA, optimizer or generator state: a checkpoint to ship, a quarter
 * of a training checkpoint's size. Metadata gains `weightsFrom` (the source path and which weights).
 * @throws CheckpointError when `src` is not a fewstep checkpoint
 */
export function saveSamplingWeights(src: string, dst: string): { usedEma: boolean } {
  const checkpoint = loadCheckpoint(src);
  try {
    const usedEma = checkpoint.ema !== undefined;
    saveCheckpoint(dst, { params: checkpoint.ema ?? checkpoint.params, metadata: { ...checkpoint.metadata, weightsFrom: { path: src, weights: usedEma ? "ema" : "params" } } });
    return { usedEma };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}
