// Seeded, bounded fuzzing of every file reader (issue 18, part 7). A few hundred mutations per
// format of committed fixtures (and of a tiny teacher checkpoint trained here through the CLI):
// each must load, or be refused with fewstep's own error (a FewstepError with a one-line message
// and no raw TypeError/RangeError underneath), quickly and without absurd allocations. A few dozen
// more go through `fewstep sample`, which must exit 0 or 1 with one line: never a stack trace, a
// signal or a timeout. All failures of a format are reported together with the seed, the case
// index and the mutation; a case replays with FEWSTEP_FUZZ_SEED=<seed> (each case draws from its
// own generator, so case i is the same whatever the other cases do). FEWSTEP_FUZZ_DUMP=1 prints
// every case's outcome, to see which checks the mutations reach.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { deflateSync, gunzipSync, gzipSync, inflateSync } from "node:zlib";
import { sampleSpec } from "../../src/cli/commands/sample.js";
import { trainTeacherSpec } from "../../src/cli/commands/train-teacher.js";
import { parseFlags, type CommandSpec } from "../../src/cli/flags.js";
import { loadMixture, validateMixtureSpec } from "../../src/diffusion/mixture.js";
import { FewstepError } from "../../src/engine/errors.js";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";
import { readIdx } from "../../src/io/datasets.js";
import { loadModel } from "../../src/io/load-model.js";
import { decodeNpy, encodeNpy } from "../../src/io/npy.js";
import { crc32, decodePng } from "../../src/io/png.js";
import { decodeSafetensors } from "../../src/io/safetensors.js";
import { concatBytes, hostArray } from "../../src/io/host-array.js";

const SEED = Number(process.env.FEWSTEP_FUZZ_SEED ?? 1807);
const REPLAY = `FEWSTEP_FUZZ_SEED=${SEED} node --test dist/test/io/fuzz.test.js`;

// Compiled to dist/test/io/, three levels below the repository root.
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const IO = join(ROOT, "test/fixtures/io");
const DATASETS = join(ROOT, "test/fixtures/datasets");
const BIN = join(ROOT, "bin/fewstep.js");
const dir = mkdtempSync(join(tmpdir(), "fewstep-fuzz-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

// ---- a seeded generator (mulberry32: 32 bits of state, good enough to pick mutations) ----

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The generator of case `index` of `format`: independent of every other case. */
function caseRng(format: string, index: number): Rng {
  let h = SEED ^ 0x9e3779b9;
  for (const ch of `${format}#${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return new Rng(h);
}

// ---- what counts as a pass ----

// V8 and libtorch messages that mean a reader passed something absurd down instead of refusing it.
const ABSURD = /can't allocate|out of memory|bad_alloc|DefaultCPUAllocator|Array buffer allocation failed|Invalid array length|Invalid typed array length/i;
const SLOW_MS = 2000; // a reader of a file under 30 kB has no business taking longer
const RSS_GROWTH = 512 * 2 ** 20; // resident memory a single case may leave behind

/** Why `err` is not an acceptable refusal, or undefined when it is one. */
function whyBad(err: unknown): string | undefined {
  if (!(err instanceof FewstepError)) {
    return `raw ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : `throw of ${String(err)}`}${err instanceof Error && err.stack ? ` (${err.stack.split("\n")[1]?.trim()})` : ""}`;
  }
  if (ABSURD.test(err.message)) return `absurd allocation reached the allocator: ${err.message.slice(0, 300)}`;
  if (/[\n\r]/.test(err.message)) return `message is not one line: ${JSON.stringify(err.message.slice(0, 300))}`;
  if (/[\u0000-\u001f\u007f]/.test(err.message)) return `message holds raw control characters: ${JSON.stringify(err.message.slice(0, 300))}`;
  if (err.message.length > 2000) return `message is ${err.message.length} characters long: ${err.message.slice(0, 200)}...`;
  // A FewstepError that wraps a raw TypeError or RangeError hides a bug behind our own class
  // (file system and zlib errors carry a `code`; JSON.parse's SyntaxError and libraries' plain
  // Errors are wrapped on purpose).
  for (let cause = (err as Error).cause; cause instanceof Error; cause = cause.cause) {
    if ((cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError) && !("code" in cause)) {
      return `${err.constructor.name} wraps a raw ${cause.constructor.name}: ${cause.message} (${cause.stack?.split("\n")[1]?.trim()})`;
    }
  }
  return undefined;
}

interface Case {
  /** What was mutated, for the report. */
  what: string;
  /** Reads the mutated input; whatever it returns is released with `release`. */
  run: () => unknown;
  release?: (value: unknown) => void;
}

interface Tally {
  loaded: number;
  refused: number;
  failures: string[];
}

/** Runs one case: loads, refuses with a FewstepError, or fails (recorded in `tally`). */
function runCase(format: string, index: number, c: Case, tally: Tally): void {
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  let bad: string | undefined;
  try {
    const value = c.run();
    tally.loaded++;
    c.release?.(value);
  } catch (err) {
    bad = whyBad(err);
    if (bad === undefined) tally.refused++;
    if (process.env.FEWSTEP_FUZZ_DUMP) console.log(`${format} #${index} [${c.what}] -> ${String(err).slice(0, 200)}`);
  }
  const ms = performance.now() - start;
  if (bad === undefined && ms > SLOW_MS) bad = `took ${ms.toFixed(0)} ms`;
  const grew = process.memoryUsage().rss - rssBefore;
  if (bad === undefined && grew > RSS_GROWTH) bad = `resident memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB`;
  if (bad !== undefined) tally.failures.push(`  ${format} #${index} [${c.what}]: ${bad}`);
}

/**
 * Runs `count` cases made by `make(rng, index)`, then asserts: no failures (all listed at once),
 * and at least `minRefused` of the cases refused, so a mutator that mutates nothing cannot pass.
 */
function fuzz(t: TestContext, format: string, count: number, make: (rng: Rng, index: number) => Case, minRefused = 0.3): Tally {
  const tally: Tally = { loaded: 0, refused: 0, failures: [] };
  for (let i = 0; i < count; i++) {
    let c: Case;
    try {
      c = make(caseRng(format, i), i);
    } catch (err) {
      tally.failures.push(`  ${format} #${i}: the mutator itself threw ${String(err)}`);
      continue;
    }
    runCase(format, i, c, tally);
  }
  assert.equal(tally.failures.length, 0, `fuzz seed ${SEED}: ${tally.failures.length} of ${count} ${format} cases failed (replay: ${REPLAY}):\n${tally.failures.join("\n")}`);
  t.diagnostic(`${format}: ${count} cases, seed ${SEED}: ${tally.loaded} loaded, ${tally.refused} refused`);
  assert.ok(tally.refused >= minRefused * count, `fuzz seed ${SEED}: only ${tally.refused} of ${count} ${format} cases were refused; the mutations are too weak`);
  return tally;
}

// ---- mutations shared by every format ----

// JSON values that break a field's type or range: huge, negative, fractional, of the wrong type.
const WEIRD: readonly unknown[] = [1e9, 1e15, 2 ** 53, -1, 0, 0.5, 1.5, -0.0, 1e308, "x", "", "1", [], [1], [-1], [1e9, 1e9], [[2]], ["a"], null, {}, { a: 1 }, true, false];
// 32-bit values for length and dimension fields.
const WEIRD_U32: readonly number[] = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);


function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

/** One byte-level mutation anywhere in `bytes` (or in [from, to)): flips, overwrites, cuts, inserts. */
function byteMutation(rng: Rng, bytes: Uint8Array, from = 0, to = bytes.length): { bytes: Uint8Array; what: string } {
  const out = bytes.slice();
  const at = from + rng.int(Math.max(1, to - from));
  switch (rng.int(8)) {
    case 0: {
      const bit = rng.int(8);
      out[at] ^= 1 << bit;
      return { bytes: out, what: `flip bit ${bit} of byte ${at}` };
    }
    case 1: {
      const v = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
      out[at] = v;
      return { bytes: out, what: `byte ${at} = 0x${v.toString(16)}` };
    }
    case 2: {
      const n = 1 + rng.int(8);
      for (let k = 0; k < n && at + k < out.length; k++) out[at + k] = rng.int(256);
      return { bytes: out, what: `${n} random bytes at ${at}` };
    }
    case 3:
      return { bytes: bytes.slice(0, at), what: `truncate to ${at} bytes` };
    case 4: {
      const extra = rng.chance(0.5) ? randomBytes(rng, 1 + rng.int(64)) : new Uint8Array(1 + rng.int(64));
      return { bytes: concatBytes(bytes, extra), what: `append ${extra.length} bytes` };
    }
    case 5: {
      const n = 1 + rng.int(16);
      return { bytes: concatBytes(bytes.subarray(0, at), bytes.subarray(at + n)), what: `delete ${n} bytes at ${at}` };
    }
    case 6: {
      const extra = randomBytes(rng, 1 + rng.int(8));
      return { bytes: concatBytes(bytes.subarray(0, at), extra, bytes.subarray(at)), what: `insert ${extra.length} bytes at ${at}` };
    }
    default: {
      const n = 1 + rng.int(32);
      const src = rng.int(bytes.length);
      const piece = bytes.slice(src, src + n);
      return { bytes: concatBytes(bytes.subarray(0, at), piece, bytes.subarray(at)), what: `duplicate ${piece.length} bytes from ${src} at ${at}` };
    }
  }
}

/** A random path of keys and indices into a JSON value, and the value found there. */
function randomPath(rng: Rng, value: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  let at = value;
  while (typeof at === "object" && at !== null && rng.chance(0.75)) {
    const keys: (string | number)[] = Array.isArray(at) ? at.map((_, k) => k) : Object.keys(at);
    if (keys.length === 0) break;
    const key = rng.pick(keys);
    path.push(key);
    at = (at as Record<string | number, unknown>)[key];
  }
  return path;
}

/** A copy of `value` with one structural change at a random path: a weird value, a deletion, a growth. */
function jsonMutation(rng: Rng, value: unknown): { value: unknown; what: string } {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  const path = randomPath(rng, copy);
  if (path.length === 0) {
    const root = rng.pick(WEIRD);
    return { value: root, what: `root = ${JSON.stringify(root)}` };
  }
  const parent = path.slice(0, -1).reduce<Record<string | number, unknown>>((o, k) => o[k] as Record<string | number, unknown>, copy);
  const key = path[path.length - 1];
  const where = path.join(".");
  switch (rng.int(4)) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return { value: copy, what: `delete ${where}` };
    case 1:
      if (Array.isArray(parent)) {
        parent.push(structuredClone(parent[key]));
        return { value: copy, what: `repeat ${where} at the end` };
      }
      parent[key] = [parent[key]];
      return { value: copy, what: `wrap ${where} in a list` };
    default: {
      const v = rng.pick(WEIRD);
      parent[key] = structuredClone(v);
      return { value: copy, what: `${where} = ${JSON.stringify(v)}` };
    }
  }
}

/** Text edits JSON.stringify cannot make: non-finite numbers, duplicate keys, cut text. */
function jsonTextMutation(rng: Rng, text: string): { text: string; what: string } {
  const numbers = [...text.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/g)];
  const keys = [...text.matchAll(/"([^"\\]+)":/g)];
  switch (rng.int(4)) {
    case 0: {
      if (numbers.length === 0) break;
      const m = rng.pick(numbers);
      const v = rng.pick(["1e309", "-1e309", "1e-400", "123456789012345678901234567890", "-0", "0.0000001"]);
      return { text: text.slice(0, m.index) + v + text.slice(m.index! + m[0].length), what: `number at ${m.index} = ${v}` };
    }
    case 1: {
      if (keys.length === 0) break;
      // Repeat a key inside the object it belongs to: `"k":` becomes `"k":<weird>,"k":`.
      const m = rng.pick(keys);
      const v = JSON.stringify(rng.pick(WEIRD));
      return { text: `${text.slice(0, m.index! + m[0].length)}${v},${m[0]}${text.slice(m.index! + m[0].length)}`, what: `duplicate key "${m[1]}" at ${m.index}` };
    }
    case 2: {
      const at = rng.int(text.length);
      return { text: text.slice(0, at), what: `cut the JSON at ${at}` };
    }
    default:
      break;
  }
  const at = rng.int(text.length);
  // "\n x": a stray token after a line break, which V8 quotes (line break included) in its message.
  const ch = rng.pick(["{", "}", "[", "]", '"', ",", ":", "\\", "\n", "\n x", "\r\n}", "\u001b[31m", "\u00e9", "\ud83d", "\0"]);
  return { text: text.slice(0, at) + ch + text.slice(at), what: `insert ${JSON.stringify(ch)} at ${at}` };
}

// ---- safetensors ----

interface StFile {
  header: Record<string, unknown>;
  data: Uint8Array;
}

function splitSafetensors(bytes: Uint8Array): StFile {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, data: bytes.slice(8 + n) };
}

/** A safetensors image of a header text and a data block, the length prefix right. */
function joinSafetensors(headerText: string, data: Uint8Array): Uint8Array {
  const json = ascii(headerText);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  return concatBytes(prefix, json, data);
}

/** One mutation of a safetensors image: its header (parsed or as text), its length prefix, or bytes. */
function safetensorsMutation(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const { header, data } = splitSafetensors(bytes);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  switch (rng.int(8)) {
    case 0: {
      // A tensor's field: the values each field must not take.
      const name = rng.pick(names);
      const entry = header[name] as Record<string, unknown>;
      const field = rng.pick(["dtype", "shape", "data_offsets"]);
      const pool: unknown[] =
        field === "dtype"
          ? ["F32", "F64", "I64", "I32", "U8", "BOOL", "F16", "BF16", "f32", "F8_E4M3", "I8", "U64", "C64", "", 4, null]
          : [...WEIRD, [0, 0], [1e9, 1e9, 1e9], [2 ** 31, 2 ** 31], [0, 2 ** 50], [0, 1e15, 1e15], [3, -1], [1.5], ["2", "3"], [0, data.length + 8], [data.length, 0]];
      const v = rng.pick(pool);
      entry[field] = v;
      return { bytes: joinSafetensors(JSON.stringify(header), data), what: `${name}.${field} = ${JSON.stringify(v)}` };
    }
    case 1: {
      const m = jsonMutation(rng, header);
      return { bytes: joinSafetensors(JSON.stringify(m.value) ?? "", data), what: m.what };
    }
    case 2: {
      const m = jsonTextMutation(rng, JSON.stringify(header));
      return { bytes: joinSafetensors(m.text, data), what: m.what };
    }
    case 3: {
      // The 8-byte length prefix: off by a little, huge, or past 2^53.
      const out = bytes.slice();
      const v = rng.pick([0n, 1n, 2n, BigInt(headerLength - 1), BigInt(headerLength + 1), BigInt(headerLength + 8), BigInt(bytes.length - 8), BigInt(bytes.length), 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]);
      new DataView(out.buffer).setBigUint64(0, v < 0n ? 0n : v, true);
      return { bytes: out, what: `header length = ${v}` };
    }
    case 4: {
      // A tensor renamed: a reserved or odd name.
      const name = rng.pick(names);
      const to = rng.pick(["__proto__", "constructor", "", "rng.state", "ema.", "optim.x", "__metadata__", `${name}.extra`, "a".repeat(300), `${name}\n`, "a\r\nb", "\u001b[2J"]);
      const entries = Object.entries(header).map(([k, v]) => [k === name ? to : k, v] as const);
      const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
      return { bytes: joinSafetensors(text, data), what: `rename "${name}" to ${JSON.stringify(to.slice(0, 20))}` };
    }
    case 5: {
      const m = byteMutation(rng, bytes, 8, 8 + headerLength);
      return { bytes: m.bytes, what: `header bytes: ${m.what}` };
    }
    case 6: {
      const m = byteMutation(rng, bytes, 8 + headerLength);
      return { bytes: m.bytes, what: `data bytes: ${m.what}` };
    }
    default: {
      const m = byteMutation(rng, bytes);
      return { bytes: m.bytes, what: m.what };
    }
  }
}

test("safetensors: mutated headers, length prefixes and data blocks are decoded or refused", (t) => {
  const bytes = new Uint8Array(readFileSync(join(IO, "tensors.safetensors")));
  assert.equal(Object.keys(decodeSafetensors(bytes).tensors).length, 8); // the unmutated fixture loads
  fuzz(t, "safetensors", 300, (rng) => {
    const m = safetensorsMutation(rng, bytes);
    return { what: m.what, run: () => decodeSafetensors(m.bytes, "fuzz.safetensors") };
  });
});

// ---- checkpoints and models ----

// A real training checkpoint (parameters, EMA, optimizer and generator state), from the CLI.
function trainTinyTeacher(): string {
  const out = join(dir, "teacher-run");
  const run = spawnSync(process.execPath, [BIN, "train-teacher", "--mixture", "ring2d", "--steps", "2", "--hidden", "8", "--depth", "1", "--out-dir", out], {
    encoding: "utf8",
    env: { ...process.env, FEWSTEP_THREADS: "1" },
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return join(out, "teacher.safetensors");
}

let teacherPath: string | undefined;
const teacher = (): string => (teacherPath ??= trainTinyTeacher());

/** One mutation of a checkpoint: its "fewstep" metadata (model kind and config), or the file. */
function checkpointMutation(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  if (rng.chance(0.4)) {
    const m = safetensorsMutation(rng, bytes);
    return { bytes: m.bytes, what: `file: ${m.what}` };
  }
  const { header, data } = splitSafetensors(bytes);
  const meta = header.__metadata__ as Record<string, string>;
  const fewstep = JSON.parse(meta.fewstep) as { model: { kind: string; config: Record<string, unknown> } };
  let what: string;
  switch (rng.int(6)) {
    case 0:
    case 1: {
      // A config field, present or new, set to what a config must not hold.
      const config = fewstep.model.config;
      const field = rng.pick([...Object.keys(config), "channelMults", "baseChannels", "size", "channels"]);
      const v = rng.pick([...WEIRD, 1e6, 65_536, 16_384, 100_000, 257, "v", "eps", "x"]);
      config[field] = structuredClone(v);
      what = `config.${field} = ${JSON.stringify(v)}`;
      break;
    }
    case 2: {
      const v = rng.pick(["unet", "classifier", "mlp", "", "__proto__", "toString", 1, null]);
      fewstep.model.kind = v as string;
      what = `model.kind = ${JSON.stringify(v)}`;
      break;
    }
    case 3: {
      const m = jsonMutation(rng, fewstep);
      meta.fewstep = JSON.stringify(m.value) ?? "";
      return { bytes: joinSafetensors(JSON.stringify(header), data), what: `metadata: ${m.what}` };
    }
    case 4: {
      const m = jsonTextMutation(rng, meta.fewstep);
      meta.fewstep = m.text;
      return { bytes: joinSafetensors(JSON.stringify(header), data), what: `metadata text: ${m.what}` };
    }
    default: {
      const v = rng.pick(['{"step":-1,"lr":"x"}', "[]", "null", "1e309", "{", '{"step":1e9}']);
      meta["fewstep.optimizer"] = v;
      return { bytes: joinSafetensors(JSON.stringify(header), data), what: `fewstep.optimizer = ${v}` };
    }
  }
  meta.fewstep = JSON.stringify(fewstep);
  return { bytes: joinSafetensors(JSON.stringify(header), data), what };
}

test("checkpoints: mutated files and model configs are loaded or refused by loadCheckpoint and loadModel", (t) => {
  const path = teacher();
  const bytes = new Uint8Array(readFileSync(path));
  disposeCheckpoint(loadCheckpoint(path)); // the unmutated checkpoint loads
  loadModel(path).dispose();
  const file = join(dir, "fuzz-checkpoint.safetensors");
  fuzz(t, "checkpoint", 250, (rng) => {
    const m = checkpointMutation(rng, bytes);
    return {
      what: m.what,
      run: () => {
        writeFileSync(file, m.bytes);
        // Both layers: the checkpoint reader alone, then the model built from it.
        disposeCheckpoint(loadCheckpoint(file));
        return loadModel(file);
      },
      release: (model) => (model as { dispose(): void }).dispose(),
    };
  });
});

// ---- .npy ----

/** One mutation of a .npy image: its header dict, version, header length, or bytes. */
function npyMutation(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const major = bytes[6];
  const prefix = major === 1 ? 10 : 12;
  const headerLength = major === 1 ? bytes[8] | (bytes[9] << 8) : new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const header = new TextDecoder().decode(bytes.subarray(prefix, prefix + headerLength));
  const data = bytes.subarray(prefix + headerLength);
  // Re-wraps a header text with a right length field, so the mutation reaches the dict parser.
  const rewrap = (text: string): Uint8Array => {
    const dict = ascii(text);
    const head = new Uint8Array(prefix);
    head.set(bytes.subarray(0, 8));
    if (prefix === 10) new DataView(head.buffer).setUint16(8, dict.length, true);
    else new DataView(head.buffer).setUint32(8, dict.length, true);
    return concatBytes(head, dict, data);
  };
  switch (rng.int(7)) {
    case 0: {
      const descr = rng.pick(["<f4", "<f8", "<i8", "<i4", "<f2", "|b1", "|u1", ">f8", "<u2", "|i1", "<c8", "<U3", "O", "<f16", "", "f4", "<", "|V8"]);
      return { bytes: rewrap(header.replace(/'descr': '[^']*'/, `'descr': '${descr}'`)), what: `descr = '${descr}'` };
    }
    case 1: {
      const v = rng.pick(["True", "False", "None", "0", "1", "'False'", "[]", "(False,)"]);
      return { bytes: rewrap(header.replace(/'fortran_order': \w+/, `'fortran_order': ${v}`)), what: `fortran_order = ${v}` };
    }
    case 2: {
      const v = rng.pick(["()", "(0,)", "(-1,)", "(1.5,)", "(3, 4)", "(4, 3)", "(2**31,)", "(4294967296, 4294967296)", "(99999999999999999999,)", "(9007199254740993,)", "(0, 9007199254740991)", "('a',)", "(None,)", "[2, 2]", "{}", "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)", "(((((((((1,),),),),),),),),)", "(12L,)", "(3,, 4)", "("]);
      return { bytes: rewrap(header.replace(/'shape': \([^)]*\)/, `'shape': ${v}`)), what: `shape = ${v}` };
    }
    case 3: {
      const out = bytes.slice();
      const [maj, min] = rng.pick([[1, 0], [2, 0], [3, 0], [1, 1], [0, 0], [4, 0], [255, 255], [2, 1]]);
      out[6] = maj;
      out[7] = min;
      return { bytes: out, what: `version = ${maj}.${min}` };
    }
    case 4: {
      const out = bytes.slice();
      const v = rng.pick([...WEIRD_U32, headerLength - 1, headerLength + 1, bytes.length]);
      if (prefix === 10) new DataView(out.buffer).setUint16(8, v & 0xffff, true);
      else new DataView(out.buffer).setUint32(8, v >>> 0, true);
      return { bytes: out, what: `header length = ${prefix === 10 ? v & 0xffff : v >>> 0}` };
    }
    case 5: {
      // Text edits of the dict: a character inserted, a key renamed or repeated, a cut.
      const at = rng.int(header.length);
      const edit = rng.pick([
        () => ({ text: header.slice(0, at) + rng.pick(["{", "}", "(", ")", "'", '"', ",", ":", "\\", "L", "-", "\u00e9", "\0"]) + header.slice(at), what: `insert a character at ${at}` }),
        () => ({ text: header.replace("'descr'", "'descx'"), what: "rename descr" }),
        () => ({ text: header.replace("{", "{'shape': (1,), "), what: "shape twice" }),
        () => ({ text: header.slice(0, at), what: `cut the dict at ${at}` }),
        () => ({ text: header.replace("'descr': '", "'descr': ['").replace("', 'fortran", "'], 'fortran"), what: "descr a list" }),
      ]);
      const e = edit();
      return { bytes: rewrap(e.text), what: e.what };
    }
    default:
      return byteMutation(rng, bytes);
  }
}

test(".npy: mutated headers, versions, lengths and data are decoded or refused", (t) => {
  const files = readdirSync(IO).filter((f) => f.endsWith(".npy")).map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(IO, f))) }));
  assert.ok(files.length >= 8);
  for (const f of files.filter((f) => !/big_endian|fortran/.test(f.name))) decodeNpy(f.bytes, f.name); // unmutated fixtures load
  fuzz(t, "npy", 300, (rng) => {
    const f = rng.pick(files);
    const m = npyMutation(rng, f.bytes);
    return { what: `${f.name}: ${m.what}`, run: () => decodeNpy(m.bytes, f.name) };
  });
});

// ---- IDX ----

/** One mutation of a raw (gunzipped) IDX file: magic, a dimension, or bytes. */
function idxMutation(rng: Rng, raw: Uint8Array): { bytes: Uint8Array; what: string } {
  const ndim = raw[3];
  switch (rng.int(4)) {
    case 0: {
      const out = raw.slice();
      const magic = rng.pick([0x00000803, 0x00000801, 0x00000802, 0x00000804, 0x00000903, 0x00000d03, 0x00000800, 0x000008ff, 0x01000803, rng.int(2 ** 32)]);
      new DataView(out.buffer).setUint32(0, magic >>> 0, false);
      return { bytes: out, what: `magic = 0x${(magic >>> 0).toString(16)}` };
    }
    case 1:
    case 2: {
      const out = raw.slice();
      const k = rng.int(ndim);
      const v = rng.pick([...WEIRD_U32, 3, 4, 5, 6, 28]);
      new DataView(out.buffer).setUint32(4 + 4 * k, v, false);
      return { bytes: out, what: `dim ${k} = ${v}` };
    }
    default:
      return byteMutation(rng, raw);
  }
}

test("IDX: mutated magic numbers, dimensions and counts, raw and gzipped, are read or refused", (t) => {
  const images = new Uint8Array(readFileSync(join(DATASETS, "idx-images.gz")));
  const labels = new Uint8Array(readFileSync(join(DATASETS, "idx-labels")));
  const rawImages = new Uint8Array(gunzipSync(images));
  const [imagesPath, labelsPath] = [join(dir, "fuzz-images"), join(dir, "fuzz-labels")];
  writeFileSync(imagesPath, images);
  writeFileSync(labelsPath, labels);
  assert.equal(readIdx(imagesPath, labelsPath).count, 5); // the unmutated pair loads
  fuzz(t, "idx", 250, (rng) => {
    const which = rng.pick(["images", "labels", "both"] as const);
    const form = rng.pick(["raw", "gzip", "gzip bytes"] as const);
    const parts: string[] = [];
    const mutate = (raw: Uint8Array, name: string): Uint8Array => {
      if (form === "gzip bytes") {
        const m = byteMutation(rng, gzipSync(raw));
        parts.push(`${name} gzip: ${m.what}`);
        return m.bytes;
      }
      const m = idxMutation(rng, raw);
      parts.push(`${name} ${form}: ${m.what}`);
      return form === "gzip" ? gzipSync(m.bytes) : m.bytes;
    };
    const img = which === "labels" ? images : mutate(rawImages, "images");
    const lab = which === "images" ? labels : mutate(labels, "labels");
    return {
      what: parts.join("; "),
      run: () => {
        writeFileSync(imagesPath, img);
        writeFileSync(labelsPath, lab);
        return readIdx(imagesPath, labelsPath);
      },
    };
  });
});

// ---- PNG ----

interface PngChunk {
  type: string;
  body: Uint8Array;
}

function pngChunks(bytes: Uint8Array): PngChunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    chunks.push({ type: String.fromCharCode(...bytes.subarray(at + 4, at + 8)), body: bytes.slice(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

/** A PNG image of chunks, every length and CRC right (so a mutation inside a chunk gets past them). */
function pngFile(chunks: PngChunk[]): Uint8Array {
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)];
  for (const c of chunks) {
    const out = new Uint8Array(12 + c.body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, c.body.length);
    out.set(ascii(c.type).subarray(0, 4), 4);
    out.set(c.body, 8);
    view.setUint32(8 + c.body.length, crc32(out.subarray(4, 8 + c.body.length)));
    parts.push(out);
  }
  return concatBytes(...parts);
}

/** One mutation of a PNG: IHDR fields, IDAT bytes (compressed or not), chunk order, lengths, CRCs, bytes. */
function pngMutation(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string } {
  const chunks = pngChunks(bytes);
  const ihdr = chunks[0];
  switch (rng.int(7)) {
    case 0: {
      const body = ihdr.body.slice();
      const view = new DataView(body.buffer);
      const field = rng.pick(["width", "height", "depth", "colour type", "compression", "filter", "interlace"] as const);
      let v: number;
      if (field === "width" || field === "height") {
        v = rng.pick([...WEIRD_U32, view.getUint32(field === "width" ? 0 : 4) + 1, view.getUint32(field === "width" ? 0 : 4) - 1]) >>> 0;
        view.setUint32(field === "width" ? 0 : 4, v);
      } else {
        v = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255]);
        body[{ depth: 8, "colour type": 9, compression: 10, filter: 11, interlace: 12 }[field]] = v;
      }
      return { bytes: pngFile([{ type: "IHDR", body }, ...chunks.slice(1)]), what: `IHDR ${field} = ${v}` };
    }
    case 1: {
      // The inflated scanlines: filter type bytes and pixels, re-deflated so zlib accepts them.
      const k = chunks.findIndex((c) => c.type === "IDAT");
      const idat = concatBytes(...chunks.filter((c) => c.type === "IDAT").map((c) => c.body));
      const m = byteMutation(rng, new Uint8Array(inflateSync(idat)));
      const rest = chunks.filter((c) => c.type !== "IDAT");
      rest.splice(k, 0, { type: "IDAT", body: new Uint8Array(deflateSync(m.bytes)) });
      return { bytes: pngFile(rest), what: `scanlines: ${m.what}` };
    }
    case 2: {
      // Compressed IDAT bytes, CRC fixed: reaches zlib.
      const k = chunks.findIndex((c) => c.type === "IDAT");
      const m = byteMutation(rng, chunks[k].body);
      const copy = chunks.slice();
      copy[k] = { type: "IDAT", body: m.bytes };
      return { bytes: pngFile(copy), what: `IDAT: ${m.what}` };
    }
    case 3: {
      // Chunk order and presence.
      const copy = chunks.slice();
      const k = rng.int(copy.length);
      const edit = rng.int(4);
      if (edit === 0) copy.splice(k, 1);
      else if (edit === 1) copy.splice(rng.int(copy.length), 0, copy[k]);
      else if (edit === 2) copy.splice(k, 1, { type: rng.pick(["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "ABCD", "abcd", "\0\0\0\0", "I\nAT", "a\r\nb"]), body: copy[k].body });
      else copy.splice(k, 0, { type: rng.pick(["PLTE", "tRNS", "tEXt", "IDAT"]), body: randomBytes(rng, rng.int(16)) });
      return { bytes: pngFile(copy), what: `chunk ${k} (${chunks[k].type}): ${["drop", "repeat", "retype", "insert before"][edit]}` };
    }
    case 4: {
      // A chunk's length field, CRC left as it was.
      const out = bytes.slice();
      let at = 8;
      const k = rng.int(chunks.length);
      for (let j = 0; j < k; j++) at += 12 + chunks[j].body.length;
      const v = rng.pick([...WEIRD_U32, chunks[k].body.length + 1, chunks[k].body.length - 1]) >>> 0;
      new DataView(out.buffer).setUint32(at, v);
      return { bytes: out, what: `chunk ${k} (${chunks[k].type}) length = ${v}` };
    }
    case 5: {
      const out = bytes.slice();
      let at = 8;
      const k = rng.int(chunks.length);
      for (let j = 0; j <= k; j++) at += 12 + chunks[j].body.length;
      out[at - 1 - rng.int(4)] ^= 1 << rng.int(8);
      return { bytes: out, what: `chunk ${k} (${chunks[k].type}) CRC bit flip` };
    }
    default:
      return byteMutation(rng, bytes);
  }
}

test("PNG: mutated IHDR fields, image data, chunks, lengths and CRCs are decoded or refused", (t) => {
  const files = [
    ...readdirSync(IO).filter((f) => f.endsWith(".png")).map((f) => join(IO, f)),
    ...readdirSync(join(IO, "png-kinds")).filter((f) => f.endsWith(".png")).map((f) => join(IO, "png-kinds", f)),
  ].map((path) => ({ name: path.slice(IO.length + 1), bytes: new Uint8Array(readFileSync(path)) }));
  assert.ok(files.length >= 15);
  for (const f of files) decodePng(f.bytes, f.name); // unmutated fixtures load
  fuzz(t, "png", 300, (rng) => {
    const f = rng.pick(files);
    const m = pngMutation(rng, f.bytes);
    return {
      what: `${f.name}: ${m.what}`,
      run: () => {
        const image = decodePng(m.bytes, f.name, { alpha: rng.chance(0.5) ? "keep" : "drop" });
        assert.equal(image.data.length, image.width * image.height * image.channels);
        return image;
      },
    };
  });
});

// ---- mixture specs ----

// Two classes, one of two components: every array level has something to mutate.
const MIXTURE = { means: [[[1, -2], [0, 0.5]], [[10, 10]]], stds: [[0.5, 1], [1]], weights: [[1, 2], [1]] };

/** A mutated mixture spec file text: a structural change or a text edit. */
function mixtureMutation(rng: Rng): { text: string; what: string } {
  if (rng.chance(0.6)) {
    const m = jsonMutation(rng, MIXTURE);
    return { text: JSON.stringify(m.value) ?? "", what: m.what };
  }
  return jsonTextMutation(rng, JSON.stringify(MIXTURE));
}

test("mixture specs: mutated specs are validated and loaded, or refused", (t) => {
  const path = join(dir, "fuzz-mixture.json");
  writeFileSync(path, JSON.stringify(MIXTURE));
  loadMixture(path).dispose(); // the unmutated spec loads
  fuzz(t, "mixture", 300, (rng) => {
    const m = mixtureMutation(rng);
    return {
      what: m.what,
      run: () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(m.text);
        } catch {
          parsed = undefined; // not JSON: only the file reader sees it
        }
        if (parsed !== undefined) validateMixtureSpec(parsed, "fuzz spec");
        writeFileSync(path, m.text);
        const mixture = loadMixture(path);
        // What loads can be saved back: JSON has no Infinity, so a non-finite value reads back as null.
        try {
          validateMixtureSpec(JSON.parse(JSON.stringify(mixture.spec)), "the loaded spec, saved back as JSON");
        } catch (err) {
          mixture.dispose();
          throw new Error(`loaded, but ${(err as Error).message}`);
        }
        return mixture;
      },
      release: (mixture) => (mixture as { dispose(): void }).dispose(),
    };
  });
});

// ---- --config files ----

const CONFIGS: { spec: CommandSpec; config: Record<string, unknown> }[] = [
  { spec: sampleSpec, config: { mixture: "ring2d", steps: 2, w: 1.5, sampler: "ddim", seed: 3, n: 4, out: "x.npy", clip: 3 } },
  { spec: trainTeacherSpec, config: { mixture: "ring2d", steps: 2, "batch-size": 8, lr: 0.001, hidden: 8, depth: 1, "checkpoint-every": 0, "grid-ws": "0,1" } },
];

test("--config: mutated config files are parsed or refused", (t) => {
  const path = join(dir, "fuzz-config.json");
  for (const { spec, config } of CONFIGS) {
    writeFileSync(path, JSON.stringify(config));
    parseFlags(["--config", path], spec); // the unmutated configs parse
  }
  fuzz(t, "config", 200, (rng) => {
    const { spec, config } = rng.pick(CONFIGS);
    const m = rng.chance(0.6) ? (({ value, what }) => ({ text: JSON.stringify(value) ?? "", what }))(jsonMutation(rng, config)) : jsonTextMutation(rng, JSON.stringify(config));
    return {
      what: `${spec.name}: ${m.what}`,
      run: () => {
        writeFileSync(path, m.text);
        return parseFlags(["--config", path], spec);
      },
    };
  }, 0.25);
});

// ---- the CLI ----

const V8_MESSAGE = /Cannot read prop|is not a function|is not iterable|Maximum call stack|Offset is outside the bounds|\[object Object\]/;

/** Why a `fewstep` run is not a clean outcome (exit 0, or exit 1 with one `fewstep:` line), or undefined. */
function whyBadRun(run: ReturnType<typeof spawnSync>): string | undefined {
  const stderr = String(run.stderr);
  if (run.error) return `spawn: ${run.error.message}`; // ETIMEDOUT: a hang
  if (run.signal) return `killed by ${run.signal}: ${stderr.slice(-400)}`;
  if (run.status === 0) return undefined;
  if (run.status !== 1) return `exit ${run.status}: ${stderr.slice(-400)}`;
  if (/^\s+at /m.test(stderr)) return `a stack trace: ${stderr.slice(0, 400)}`;
  const lines = stderr.trim().split("\n");
  const errors = lines.filter((l) => l.startsWith("fewstep: "));
  if (errors.length !== 1 || lines.length !== 1) return `not one fewstep line: ${JSON.stringify(stderr.slice(0, 400))}`;
  if (V8_MESSAGE.test(errors[0])) return `a raw JavaScript message: ${errors[0].slice(0, 300)}`;
  if (ABSURD.test(errors[0])) return `absurd allocation: ${errors[0].slice(0, 300)}`;
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(errors[0])) return `raw control characters: ${JSON.stringify(errors[0].slice(0, 300))}`;
  return undefined;
}

test("fewstep sample: mutated --model, --mixture, --noise and --config files exit 0 or 1 with one line", (t) => {
  const model = new Uint8Array(readFileSync(teacher()));
  // float32 [3, 2] noise for ring2d (2-D), and the f8 fixture for other headers.
  const noise = encodeNpy(hostArray("float32", [3, 2], new Uint8Array(new Float32Array([0.3, -1.2, 2, 0.4, -0.7, 0.1]).buffer)));
  const out = join(dir, "cli-x.npy");
  const sample = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, "sample", ...args, "--steps", "1", "--out", out], { encoding: "utf8", env: { ...process.env, FEWSTEP_THREADS: "1" }, timeout: 20_000, killSignal: "SIGKILL" });
  const kinds = [
    { name: "model", count: 12, file: "m.safetensors", make: (rng: Rng) => checkpointMutation(rng, model), args: (p: string) => ["--model", p, "--n", "2"] },
    { name: "mixture", count: 10, file: "m.json", make: (rng: Rng) => { const m = mixtureMutation(rng); return { bytes: ascii(m.text), what: m.what }; }, args: (p: string) => ["--mixture", p, "--n", "2"] },
    { name: "noise", count: 8, file: "z.npy", make: (rng: Rng) => npyMutation(rng, noise), args: (p: string) => ["--mixture", "ring2d", "--noise", p] },
    {
      name: "config",
      count: 6,
      file: "c.json",
      make: (rng: Rng) => { const m = jsonMutation(rng, { mixture: "ring2d", n: 2, w: 1, sampler: "ddim" }); return { bytes: ascii(JSON.stringify(m.value) ?? ""), what: m.what }; },
      args: (p: string) => ["--config", p],
    },
  ];
  // The unmutated inputs sample.
  writeFileSync(join(dir, "ok.safetensors"), model);
  writeFileSync(join(dir, "ok.npy"), noise);
  for (const args of [["--model", join(dir, "ok.safetensors"), "--n", "2"], ["--mixture", "ring2d", "--noise", join(dir, "ok.npy")]]) {
    const run = sample(...args);
    assert.equal(run.status, 0, run.stderr);
  }
  const failures: string[] = [];
  let refused = 0;
  let total = 0;
  for (const kind of kinds) {
    for (let i = 0; i < kind.count; i++) {
      const m = kind.make(caseRng(`cli-${kind.name}`, i));
      const path = join(dir, `cli-${kind.file}`);
      writeFileSync(path, m.bytes);
      const run = sample(...kind.args(path));
      total++;
      if (run.status === 1) refused++;
      const bad = whyBadRun(run);
      if (bad !== undefined) failures.push(`  cli-${kind.name} #${i} [${m.what}]: ${bad}`);
    }
  }
  assert.equal(failures.length, 0, `fuzz seed ${SEED}: ${failures.length} of ${total} CLI cases failed (replay: ${REPLAY}):\n${failures.join("\n")}`);
  t.diagnostic(`cli: ${total} runs, seed ${SEED}: ${total - refused} exited 0, ${refused} refused`);
  assert.ok(refused >= 0.3 * total, `fuzz seed ${SEED}: only ${refused} of ${total} CLI cases were refused`);
});
