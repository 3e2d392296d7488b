// Bounds on what a flag can ask for: thread counts and memory estimates, checked before anything
// is made. No libtorch here, so the CLI can check --threads before the engine loads.
import { readFileSync, statfsSync } from "node:fs";
import { availableParallelism, freemem } from "node:os";
import { ConfigError } from "./errors.js";

/** The most threads fewstep gives libtorch or onnxruntime: 4x the available cores. */
export function maxThreads(): number {
  return 4 * availableParallelism();
}

/**
 * Checks a thread count and caps it at maxThreads(), writing one warning line to stderr naming
 * the cap when it does. `what` names where the count came from (threads, --threads, FEWSTEP_THREADS).
 * @throws ConfigError for a non-integer or a count below 1
 */
export function capThreads(n: number, what = "threads"): number {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${what} must be a positive integer, got ${n}`);
  const cap = maxThreads();
  if (n <= cap) return n;
  process.stderr.write(`fewstep: warning: ${what} ${n} capped at ${cap} (4x the ${availableParallelism()} available cores)\n`);
  return cap;
}

/** FEWSTEP_THREADS checked and capped (capThreads); undefined when unset. */
export function threadsFromEnv(): number | undefined {
  const raw = process.env.FEWSTEP_THREADS;
  if (raw === undefined || raw === "") return undefined;
  if (!/^\s*\d+\s*$/.test(raw)) throw new ConfigError(`FEWSTEP_THREADS must be a positive integer, got '${raw}'`);
  return capThreads(Number(raw), "FEWSTEP_THREADS");
}

/** Bytes of memory available now: /proc/meminfo's MemAvailable, else os.freemem(). */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return freemem();
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toPrecision(3)} GiB`;
}

/**
 * Refuses a run whose estimated memory exceeds what is available, before allocating it.
 * `bytes` is a rough upper bound; `what` says what it is for; `flag` is the flag to lower.
 * @throws ConfigError with the estimate, the memory available and the flag
 */
export function checkMemory(bytes: number, what: string, flag: string): void {
  const available = availableMemory();
  if (bytes <= available) return;
  throw new ConfigError(`${what} needs about ${gib(bytes)} (a rough upper bound) but ${gib(available)} of memory is available: lower ${flag}`);
}

/**
 * Refuses an output of `bytes` bytes that would not fit on the disk holding `folder`, before
 * writing any of it (a streamed output grows to its full size only at the end). `flag` is the
 * flag to lower. Where the file system cannot be asked, nothing is checked.
 * @throws ConfigError with the size, the space available and the flag
 */
export function checkDiskSpace(bytes: number, folder: string, what: string, flag: string): void {
  let available: number;
  try {
    const stats = statfsSync(folder);
    available = stats.bavail * stats.bsize;
  } catch {
    return; // the write itself reports a full disk, naming the file
  }
  if (bytes <= available) return;
  throw new ConfigError(`${what} is ${gib(bytes)} but ${gib(available)} of disk is free in ${folder}: lower ${flag}`);
}

/**
 * Sampling n examples: the sampler holds z, x-hat and a few temporaries, so 8 copies of the batch
 * (SAMPLE_MEMORY_FACTOR) of n * prod(exampleShape) elements of `bytesPerElement` bytes.
 */
export const SAMPLE_MEMORY_FACTOR = 8;
export function sampleMemory(n: number, exampleShape: readonly number[], bytesPerElement: number): number {
  return n * exampleShape.reduce((a, b) => a * b, 1) * bytesPerElement * SAMPLE_MEMORY_FACTOR;
}

/**
 * Training on a batch (float32): activations of about 64 x width floats per example element, where
 * width is the U-Net's base channels (images) or the MLP's hidden width (vectors). A rough upper
 * bound: batch 256 of 28x28 images with base channels 24 is 1.2 GiB.
 */
export const TRAIN_ACTIVATION_FACTOR = 64;
export function trainMemory(batchSize: number, exampleShape: readonly number[], width: number): number {
  return batchSize * exampleShape.reduce((a, b) => a * b, 1) * 4 * TRAIN_ACTIVATION_FACTOR * width;
}

/** checkMemory for a training batch (trainMemory), naming --batch-size; `what` says which trainer ("training", "distilling"). */
export function checkTrainMemory(batchSize: number, exampleShape: readonly number[], width: number, what: string): void {
  checkMemory(trainMemory(batchSize, exampleShape, width), `${what} on --batch-size ${batchSize} of [${exampleShape}]`, "--batch-size");
}
