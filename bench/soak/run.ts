// bench/soak: long runs do not leak. Three phases, each through the code the CLI runs, with the
// live native tensor count (liveTensors(), src/engine/scope.ts) and the process's resident memory
// (rss) and V8 heap (heapUsed, after a full GC) probed every ~2% of the phase:
//   1. MLP teacher on ring2d: trainTeacher (src/diffusion/train-teacher.ts, the function
//      `fewstep train-teacher --mixture ring2d` calls) with the CLI's defaults (MLP 256 x 4,
//      batch 256, lr 1e-3, EMA 0.999, condition dropout 0.1), a checkpoint every 5% of the steps
//      (saveTrainState: weights, EMA, AdamW moments, generator) and every 10% an EMA model built
//      and sampled (guided DDIM-16, w = 2, 256 points) through the snapshot hook;
//   2. Fashion-MNIST U-Net teacher: trainTeacher on ImageTensorDataset(openImageDataset(
//      "fashion-mnist")) with `fewstep train-teacher --data fashion-mnist`'s U-Net (base 24, mults
//      1,2,2, attention at 7, dropout 0.1, lr 5e-4) at a small batch (--unet-batch), a checkpoint
//      every 10% and every 20% a class grid PNG of the EMA model (writeClassGrid, as the CLI's
//      --grid-every does; here 4 DDIM steps, w 0 and 2, one seed per class, to stay cheap);
//   3. student sampling: models/fashion-mnist/student-N1.safetensors loaded with
//      loadModelForSampling and sampled as `fewstep sample --model ... --steps 1` does
//      (src/cli/commands/sample.ts: noise and labels from Generator(seed), sampleGuided with
//      guidance "input", .to(float32), read to the host, finite check), one call per seed, w
//      cycling over 0, 0.5, 1, 2, 4 and --sample-batch images per call; the model is disposed
//      and loaded again every 10% of the calls (as separate `fewstep sample` runs would).
// The first 10% of each phase is warm-up (allocator pools, V8 code, page faults); the verdict
// compares the end with the probe at 10%:
//   - live tensors: between steps every loop holds a fixed set (weights, EMA, AdamW moments, the
//     loss accumulator, the dataset), so the count must be the same at every probe after warm-up
//     (tolerance 0), and back to the count before the phase once the phase has disposed its
//     objects;
//   - rss: at most RSS_TOL_MIB (64 MiB) above the warm-up probe at the end, and no steady climb:
//     the least-squares slope over the second half of the probes, projected over the phase's
//     length, must stay under TREND_TOL_MIB (32 MiB). A warming allocator rises then flattens; a
//     leak keeps rising, so the second half separates them. In the clean run in BENCHMARKS.md the
//     most rss moved after warm-up was +11 MiB (the MLP phase: glibc's heap reaching new high-water
//     marks in steps, which it keeps since the addon sets M_TRIM_THRESHOLD to 1 GiB; as large
//     without checkpoints or snapshots, and flattening), with swings of up to 8 MiB between
//     probes; 64 MiB leaves ~6x that, and over 20,000 steps still catches ~3 KiB per step;
//   - heapUsed (after a full GC): at most HEAP_TOL_MIB (32 MiB) growth (JS objects kept by
//     closures, logs or caches).
// The bench exits 1 when a phase fails any check (after printing, and writing with --write).
//
//   npm run bench:soak                        # the full run, ~55 minutes on the shared 2-core VM
//   npm run bench:soak -- --write             # also append the section to BENCHMARKS.md
//   npm run bench:soak -- --mlp-steps 500 --unet-steps 20 --sample-calls 500   # quick: ~2 minutes
// (measured with other work on the cores: 10 MLP steps/s, 2.9 U-Net steps/s at batch 8, 28
// student calls/s; `--mlp-steps 10000 --unet-steps 1000 --sample-calls 10000` took 28 minutes.)
//   flags: --mlp-steps N (20000) --unet-steps N (2000) --unet-batch B (8) --sample-calls N (20000)
//          --sample-batch B (1) --student FILE (models/fashion-mnist/student-N1.safetensors)
//          --rows R (11: table rows per phase; the sparklines show every probe)
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Generator, getNumThreads, liveTensors, randint, randn, tidy, torchVersion } from "../../src/engine/index.js";
import { TRAIN_DEFAULTS } from "../../src/cli/commands/train-teacher.js";
import { loadModelForSampling, type SamplingSource } from "../../src/cli/model-loading.js";
import { ImageTensorDataset } from "../../src/diffusion/image-dataset.js";
import { loadMixture } from "../../src/diffusion/mixture.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { sampleGuided } from "../../src/diffusion/sample.js";
import { trainTeacher, type TrainTeacherOptions } from "../../src/diffusion/train-teacher.js";
import { writeClassGrid } from "../../src/eval/class-grid.js";
import { openImageDataset } from "../../src/io/datasets.js";
import { benchArgs } from "../bench-args.js";

// ---- settings -----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const args = benchArgs("bench/soak", ["mlp-steps", "unet-steps", "unet-batch", "sample-calls", "sample-batch", "student", "rows", "write"], argv);
const flag = args.int;
const mlpSteps = flag("mlp-steps", 20_000, 10);
const unetSteps = flag("unet-steps", 2_000, 10);
const unetBatch = flag("unet-batch", 8, 1);
const sampleCalls = flag("sample-calls", 20_000, 10);
const sampleBatch = flag("sample-batch", 1, 1);
const rows = flag("rows", 11, 2);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");
const studentPath = args.text("student") ?? join(repo, "models", "fashion-mnist", "student-N1.safetensors");

/** Probes per phase: one every ~2% of its steps. */
const PROBES = 50;
/** The first 10% of a phase warms up; its verdict starts from the probe there. */
const WARMUP_FRACTION = 0.1;
const LIVE_TOL = 0;
const RSS_TOL_MIB = 64;
const TREND_TOL_MIB = 32;
const HEAP_TOL_MIB = 32;
const STUDENT_WS = [0, 0.5, 1, 2, 4];

// A full GC before each heap read, so heapUsed is what is reachable, not what is not yet
// collected. The live count is read before it: a GC lets finalizers free tensors that escaped
// every scope, which would hide exactly the leak this bench looks for.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

// ---- probes -------------------------------------------------------------------------------------

interface Probe {
  step: number;
  live: number;
  rssMiB: number;
  heapMiB: number;
  ms: number;
}

const MIB = 1024 * 1024;

function prober(phaseStart: number) {
  const probes: Probe[] = [];
  return {
    probes,
    probe(step: number): void {
      const live = liveTensors();
      gc();
      const m = process.memoryUsage();
      probes.push({ step, live, rssMiB: m.rss / MIB, heapMiB: m.heapUsed / MIB, ms: performance.now() - phaseStart });
    },
  };
}

interface Phase {
  name: string;
  unit: "step" | "call";
  steps: number;
  detail: string;
  probes: Probe[];
  liveBefore: number;
  liveAfter: number;
  seconds: number;
}

interface Verdict {
  ok: boolean;
  warm: Probe;
  end: Probe;
  liveSpread: [number, number];
  rssGrowth: number;
  rssPer1k: number;
  trendMiB: number;
  heapGrowth: number;
  failures: string[];
}

/** Least-squares slope of y on x. */
function slope(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : 0;
}

function judge(p: Phase): Verdict {
  // The first probe past 10%: after the hooks at 10% (a checkpoint, the first EMA sample) ran once.
  const past = p.probes.findIndex((q) => q.step > WARMUP_FRACTION * p.steps);
  const warmIndex = past >= 0 ? past : p.probes.length - 1;
  const after = p.probes.slice(warmIndex);
  const warm = after[0];
  const end = after[after.length - 1];
  const lives = after.map((q) => q.live);
  const liveSpread: [number, number] = [Math.min(...lives), Math.max(...lives)];
  const rssGrowth = end.rssMiB - warm.rssMiB;
  const rssPer1k = (rssGrowth / Math.max(1, end.step - warm.step)) * 1000;
  const secondHalf = after.slice(Math.floor(after.length / 2));
  const trendMiB = slope(secondHalf.map((q) => q.step), secondHalf.map((q) => q.rssMiB)) * p.steps;
  const heapGrowth = end.heapMiB - warm.heapMiB;
  const failures: string[] = [];
  if (liveSpread[1] - warm.live > LIVE_TOL || warm.live - liveSpread[0] > LIVE_TOL) failures.push(`live tensors moved from ${warm.live} to between ${liveSpread[0]} and ${liveSpread[1]} after warm-up`);
  if (p.liveAfter - p.liveBefore > LIVE_TOL) failures.push(`${p.liveAfter - p.liveBefore} tensors still alive after the phase disposed everything (${p.liveBefore} before, ${p.liveAfter} after)`);
  if (rssGrowth > RSS_TOL_MIB) failures.push(`rss grew ${rssGrowth.toFixed(1)} MiB after warm-up (tolerance ${RSS_TOL_MIB})`);
  if (trendMiB > TREND_TOL_MIB) failures.push(`rss still climbing: the second half's slope is ${trendMiB.toFixed(1)} MiB per ${p.steps} ${p.unit}s (tolerance ${TREND_TOL_MIB})`);
  if (heapGrowth > HEAP_TOL_MIB) failures.push(`heapUsed grew ${heapGrowth.toFixed(1)} MiB after warm-up (tolerance ${HEAP_TOL_MIB})`);
  return { ok: failures.length === 0, warm, end, liveSpread, rssGrowth, rssPer1k, trendMiB, heapGrowth, failures };
}

function progress(name: string, steps: number): (step: number) => void {
  const every = Math.max(1, Math.round(steps / 10));
  const start = performance.now();
  return (step) => {
    if (step % every === 0 || step === steps) {
      const s = (performance.now() - start) / 1000;
      process.stderr.write(`soak ${name}: ${step}/${steps} in ${s.toFixed(0)} s (${(step / s).toFixed(1)}/s), ${liveTensors()} live tensors, rss ${(process.memoryUsage().rss / MIB).toFixed(0)} MiB\n`);
    }
  };
}

// ---- phase 1: MLP teacher on ring2d ---------------------------------------------------------------

async function trainPhase(name: string, steps: number, detail: string, build: (dir: string) => { opts: Omit<TrainTeacherOptions, "steps" | "progressEvery" | "onProgress" | "checkpointPath">; dispose(): void }): Promise<Phase> {
  const liveBefore = liveTensors();
  const dir = mkdtempSync(join(tmpdir(), "fewstep-soak-"));
  const start = performance.now();
  const { probes, probe } = prober(start);
  const report = progress(name, steps);
  const { opts, dispose } = build(dir);
  try {
    const result = await trainTeacher({
      ...opts,
      steps,
      progressEvery: Math.max(1, Math.round(steps / PROBES)),
      checkpointPath: join(dir, "teacher.safetensors"),
      onProgress: (p) => {
        probe(p.step);
        report(p.step);
      },
    });
    result.dispose();
  } finally {
    dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - start) / 1000;
  return { name, unit: "step", steps, detail, probes, liveBefore, liveAfter: liveTensors(), seconds };
}

function mlpPhase(): Promise<Phase> {
  const d = TRAIN_DEFAULTS.mixture;
  return trainPhase("MLP teacher, ring2d", mlpSteps, `trainTeacher, MLP 256 x 4, batch ${d.batchSize}, lr ${d.lr}, EMA 0.999, a checkpoint every 5%, an EMA model sampled (guided DDIM-16, 256 points) every 10%`, () => {
    const dataset = loadMixture("ring2d", { dtype: "float32" });
    const every = Math.max(1, Math.round(mlpSteps / 10));
    return {
      opts: {
        dataset,
        architecture: "mlp-denoiser",
        model: { hidden: 256, depth: 4 },
        batchSize: d.batchSize,
        lr: d.lr,
        checkpointEvery: Math.max(1, Math.round(mlpSteps / 20)),
        snapshot: {
          every,
          fn: (step, ema) =>
            tidy(() => {
              const g = new Generator(step);
              const z = randn([256, ...dataset.exampleShape], g);
              const labels = randint(0, dataset.numClasses, [256], g);
              sampleGuided(denoiserOf(ema), z, { sampler: "ddim", steps: 16, w: 2, cond: { labels } }).data();
            }),
        },
      },
      dispose: () => dataset.dispose(),
    };
  });
}

// ---- phase 2: Fashion-MNIST U-Net teacher ---------------------------------------------------------

function unetPhase(): Promise<Phase> {
  const d = TRAIN_DEFAULTS.images;
  return trainPhase("U-Net teacher, Fashion-MNIST", unetSteps, `trainTeacher, U-Net base 24, mults 1,2,2, attention at 7, dropout 0.1, batch ${unetBatch}, lr ${d.lr}, EMA 0.999, a checkpoint every 10%, a class grid PNG of the EMA model every 20%`, (dir) => {
    const host = openImageDataset("fashion-mnist");
    const dataset = new ImageTensorDataset(host);
    const every = Math.max(1, Math.round(unetSteps / 5));
    return {
      opts: {
        dataset,
        architecture: "unet",
        model: { baseChannels: 24, channelMults: [1, 2, 2], attentionResolutions: [7], numResBlocks: 1, dropout: 0.1 },
        batchSize: unetBatch,
        lr: d.lr,
        checkpointEvery: Math.max(1, Math.round(unetSteps / 10)),
        snapshot: {
          every,
          fn: (step, ema) =>
            writeClassGrid(join(dir, `step-${step}.png`), denoiserOf(ema), { exampleShape: dataset.exampleShape, numClasses: dataset.numClasses, guidance: "teacher", ws: [0, 2], seedsPerClass: 1, steps: 4, classNames: host.classNames }),
        },
      },
      dispose: () => dataset.dispose(),
    };
  });
}

// ---- phase 3: student sampling ------------------------------------------------------------------

/** One `fewstep sample --model student --steps 1 --w w --seed seed --n batch`, as runSample does it. */
function sampleOnce(source: SamplingSource, w: number, seed: number): void {
  const x = tidy(() => {
    const generator = new Generator(seed);
    const z = randn([sampleBatch, ...source.exampleShape], generator, { dtype: source.dtype });
    const labels = randint(0, source.numClasses, [sampleBatch], generator);
    const sample = sampleGuided(source.model, z, { sampler: "ddim", steps: 1, w, guidance: source.guidance, cond: { labels }, seed: seed * 65_536 + 1 });
    return sample.to("float32");
  });
  const values = x.data() as Float32Array;
  x.dispose();
  for (const v of values) if (!Number.isFinite(v)) throw new Error(`bench/soak: the student gave a non-finite value at seed ${seed}, w ${w}`);
}

async function samplePhase(): Promise<Phase> {
  const liveBefore = liveTensors();
  const start = performance.now();
  const { probes, probe } = prober(start);
  const report = progress("student sampling", sampleCalls);
  const probeEvery = Math.max(1, Math.round(sampleCalls / PROBES));
  const reloadEvery = Math.max(1, Math.round(sampleCalls / 10));
  const load = () => loadModelForSampling(studentPath, { w: STUDENT_WS, steps: 1 });
  let source = load();
  try {
    for (let call = 1; call <= sampleCalls; call++) {
      sampleOnce(source, STUDENT_WS[call % STUDENT_WS.length], call);
      if (call % probeEvery === 0 || call === sampleCalls) {
        probe(call);
        report(call);
        await new Promise<void>((resolve) => setImmediate(resolve)); // finalizers get their turn, as between CLI runs
      }
      if (call % reloadEvery === 0 && call < sampleCalls) {
        source.dispose();
        source = load();
      }
    }
  } finally {
    source.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  const name = `student sampling, ${studentPath.startsWith(repo) ? studentPath.slice(repo.length + 1) : studentPath}`;
  const detail = `loadModelForSampling + sampleGuided (DDIM, 1 step, guidance "input", w cycling ${STUDENT_WS.join(", ")}), batch ${sampleBatch}, host read and finite check per call, the model reloaded every 10%`;
  return { name, unit: "call", steps: sampleCalls, detail, probes, liveBefore, liveAfter: liveTensors(), seconds };
}

// ---- the run ------------------------------------------------------------------------------------

const SPARKS = "▁▂▃▄▅▆▇█";
function sparkline(values: number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => SPARKS[hi > lo ? Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1)) : 0]).join("");
}

function pickRows(probes: Probe[], n: number): Probe[] {
  if (probes.length <= n) return probes;
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) picked.add(Math.round((i * (probes.length - 1)) / (n - 1)));
  return [...picked].map((i) => probes[i]);
}

function section(p: Phase, v: Verdict): string {
  const rate = p.steps / p.seconds;
  const rssValues = p.probes.map((q) => q.rssMiB);
  const heapValues = p.probes.map((q) => q.heapMiB);
  const liveValues = p.probes.map((q) => q.live);
  const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;
  return [
    `#### ${p.name}: ${p.steps.toLocaleString("en-US")} ${p.unit}s, ${rate.toFixed(rate < 10 ? 2 : 1)} ${p.unit}s/s, ${(p.seconds / 60).toFixed(1)} min: ${v.ok ? "**no leak**" : "**FAIL**"}`,
    "",
    `${p.detail}.`,
    `Live tensors: ${p.liveBefore} before the phase, ${v.warm.live} at warm-up (${p.unit} ${v.warm.step}), ${v.end.live} at the end (${v.end.live - v.warm.live >= 0 ? "+" : ""}${v.end.live - v.warm.live}; ${v.liveSpread[0]}-${v.liveSpread[1]} over every probe after warm-up), ${p.liveAfter} after disposing.`,
    `RSS: ${v.warm.rssMiB.toFixed(1)} MiB at warm-up, ${v.end.rssMiB.toFixed(1)} at the end: ${v.rssGrowth >= 0 ? "+" : ""}${v.rssGrowth.toFixed(1)} MiB (${v.rssPer1k.toFixed(2)} MiB per 1,000 ${p.unit}s; second-half slope ${v.trendMiB.toFixed(1)} MiB per ${p.steps.toLocaleString("en-US")}). heapUsed after GC: ${v.warm.heapMiB.toFixed(1)} -> ${v.end.heapMiB.toFixed(1)} MiB (${v.heapGrowth >= 0 ? "+" : ""}${v.heapGrowth.toFixed(1)}).`,
    ...(v.ok ? [] : [`Failed: ${v.failures.join("; ")}.`]),
    "",
    "```",
    `rss MiB  ${range(rssValues, 0).padEnd(11)} ${sparkline(rssValues)}`,
    `heap MiB ${range(heapValues, 0).padEnd(11)} ${sparkline(heapValues)}`,
    `live     ${range(liveValues, 0).padEnd(11)} ${sparkline(liveValues)}`,
    "```",
    "",
    `| ${p.unit} | live tensors | rss MiB | heapUsed MiB | elapsed s |`,
    "| --- | --- | --- | --- | --- |",
    ...pickRows(p.probes, rows).map((q) => `| ${q.step.toLocaleString("en-US")}${q === v.warm ? " (warm-up)" : ""} | ${q.live} | ${q.rssMiB.toFixed(1)} | ${q.heapMiB.toFixed(1)} | ${(q.ms / 1000).toFixed(0)} |`),
    "",
  ].join("\n");
}

const started = performance.now();
const phases: Phase[] = [];
phases.push(await mlpPhase());
phases.push(await unetPhase());
phases.push(await samplePhase());
const verdicts = phases.map(judge);
const totalMin = (performance.now() - started) / 60_000;
const command = `npm run bench:soak${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
const cpu = cpus()[0]?.model ?? "unknown CPU";
const text = [
  `### Soak: live tensors and memory over long runs (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${cpu}, ${cpus().length} cores, ${getNumThreads()} libtorch threads; libtorch ${torchVersion()}; Node ${process.version}.`,
  `Command: \`${command}\` (${totalMin.toFixed(1)} minutes in all).`,
  `Probes every ~2% of each phase: liveTensors() (read first), then a full GC, then process.memoryUsage(). The verdict compares the end with the probe at ${WARMUP_FRACTION * 100}% (warm-up): live tensors must not move (tolerance ${LIVE_TOL}) and must return to the count before the phase; rss may grow at most ${RSS_TOL_MIB} MiB, and the second half's slope, projected over the phase, at most ${TREND_TOL_MIB} MiB; heapUsed at most ${HEAP_TOL_MIB} MiB (bench/soak/run.ts says why).`,
  "",
  ...phases.map((p, i) => section(p, verdicts[i])),
].join("\n");
console.log(text);
if (args.has("write")) appendFileSync(join(repo, "BENCHMARKS.md"), `\n${text}`);
const failed = phases.filter((_, i) => !verdicts[i].ok);
if (failed.length > 0) {
  console.error(`bench/soak: ${failed.map((p) => p.name).join("; ")}: ${verdicts.filter((v) => !v.ok).flatMap((v) => v.failures).join("; ")}`);
  process.exit(1);
}
