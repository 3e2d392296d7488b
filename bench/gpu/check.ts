// bench/gpu/check: the addon built against a CUDA libtorch (bench/gpu/build-addon.sh), checked
// against the CPU and timed, on the shipped Fashion-MNIST teacher and 4-step student.
//   1. one forward of each model on the same random inputs, CPU vs CUDA: max |diff|
//   2. a whole 4-step student sample (DDIM, w = 2) from the same noise, CPU vs CUDA
//      (1 and 2 with TF32 off, then with libtorch's default: TF32 on for cuDNN convolutions)
//   3. time per image on CUDA at batch B: guided DDIM step of the teacher (one 2B-row call) and a
//      whole 4-step student sample; the CPU numbers of the same work come from bench/unet.
// Prints one JSON object (and writes it to the path given as the first argument, if any).
//   node dist/bench/gpu/check.js [out.json] [--batch 1000]
import { writeFileSync } from "node:fs";
import { Generator, cudaAvailable, getAllowTF32, getNumThreads, setAllowTF32, noGrad, rand, randint, randn, tidy, torchVersion, type Device, type Tensor } from "../../src/engine/index.js";
import { sampleGuided } from "../../src/diffusion/sample.js";
import { guided } from "../../src/diffusion/guidance.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { timeGrid } from "../../src/diffusion/schedule.js";
import { loadModel } from "../../src/io/load-model.js";
import type { DenoiserModel } from "../../src/nn/model.js";

const argv = process.argv.slice(2);
const outPath = argv.find((a, i) => !a.startsWith("--") && argv[i - 1] !== "--batch");
const batch = argv.includes("--batch") ? Number(argv[argv.indexOf("--batch") + 1]) : 1000;
// --dry-run: the same code with "cuda" replaced by the CPU, to check the script on a CPU machine
const GPU: Device = argv.includes("--dry-run") ? "cpu" : "cuda";
if (GPU === "cuda" && !cudaAvailable()) throw new Error(`bench/gpu/check: this addon has no CUDA (libtorch ${torchVersion()}); build it with bench/gpu/build-addon.sh against a CUDA PyTorch`);

const TEACHER = "models/fashion-mnist/teacher.safetensors";
const STUDENT = "models/fashion-mnist/student-N4.safetensors";
const load = (path: string, device: Device) => loadModel(path, { device });
const maxAbsDiff = (a: Tensor, b: Tensor) => tidy(() => a.to({ device: "cpu" }).sub(b.to({ device: "cpu" })).abs().max().item());

/** Inputs on the CPU from fixed seeds, then copied to `device`. */
function inputs(model: DenoiserModel, n: number, device: Device) {
  const g = new Generator(7);
  const z = randn([n, ...model.exampleShape], g);
  const t = rand([n], g).mul(0.98).add(0.01);
  const labels = randint(0, model.config.numClasses + 1, [n], g);
  const w = rand([n], g).mul(4);
  const move = (x: Tensor) => (device === "cpu" ? x : x.to({ device }));
  return { z: move(z), t: move(t), labels: move(labels), w: move(w) };
}

function forwardDiff(path: string): number {
  const cpu = load(path, "cpu");
  const gpu = load(path, GPU);
  try {
    return tidy(() =>
      noGrad(() => {
        const a = inputs(cpu, 16, "cpu");
        const b = inputs(gpu, 16, GPU);
        const cond = (x: typeof a) => (cpu.config.wInput ? { labels: x.labels, w: x.w } : { labels: x.labels });
        return maxAbsDiff(denoiserOf(cpu).denoiser(a.z, a.t, cond(a)), denoiserOf(gpu).denoiser(b.z, b.t, cond(b)));
      }),
    );
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
}

function studentSample(model: DenoiserModel, n: number, device: Device): Tensor {
  const x = inputs(model, n, device);
  return sampleGuided(denoiserOf(model), x.z, { sampler: "ddim", steps: 4, w: 2, guidance: "input", cond: { labels: x.labels.clamp(0, model.config.numClasses - 1) } });
}

function sampleDiff(): number {
  const cpu = load(STUDENT, "cpu");
  const gpu = load(STUDENT, GPU);
  try {
    return tidy(() => noGrad(() => maxAbsDiff(studentSample(cpu, 64, "cpu"), studentSample(gpu, 64, GPU))));
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
}

/** Median seconds of `reps` runs of fn; each run ends by copying a value to the host (a sync). */
function time(fn: () => Tensor, reps: number): number {
  const runs: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const start = performance.now();
    tidy(() => noGrad(() => fn().sum().item()));
    if (i > 0) runs.push((performance.now() - start) / 1000); // the first run warms cuDNN up
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
}

const teacher = load(TEACHER, GPU);
const student = load(STUDENT, GPU);
const result: Record<string, unknown> = { torch: torchVersion(), threads: getNumThreads(), batch };
// Correctness with TF32 off (float32 on both sides), then the default settings the timings use.
const defaults = getAllowTF32();
setAllowTF32(false);
result.tf32Off = { forwardMaxAbsDiff: { teacher: forwardDiff(TEACHER), studentN4: forwardDiff(STUDENT) }, studentSampleMaxAbsDiff: sampleDiff() };
setAllowTF32(defaults);
result.tf32Default = { settings: getAllowTF32(), forwardMaxAbsDiff: { teacher: forwardDiff(TEACHER), studentN4: forwardDiff(STUDENT) }, studentSampleMaxAbsDiff: sampleDiff() };
// inputs made once, outside the timed calls
const x = inputs(teacher, batch, GPU);
const tAtStep = x.t.mul(0).add(timeGrid(256)[1]);
const labels = x.labels.clamp(0, teacher.config.numClasses - 1);
const den = guided(denoiserOf(teacher), 2);
const teacherStep = time(() => den(x.z, tAtStep, { labels }), 5);
const studentWhole = time(
  () => sampleGuided(denoiserOf(student), x.z, { sampler: "ddim", steps: 4, w: 2, guidance: "input", cond: { labels } }),
  5,
);
result.cudaSecondsPerImage = {
  teacherGuidedStep: teacherStep / batch,
  teacherDdim256: (256 * teacherStep) / batch,
  student4Step: studentWhole / batch,
};
result.teacherOverStudent = (256 * teacherStep) / studentWhole;
for (const t of [x.z, x.t, x.labels, x.w, tAtStep, labels]) t.dispose();
teacher.dispose();
student.dispose();
const json = JSON.stringify(result, null, 2);
console.log(json);
if (outPath) writeFileSync(outPath, json + "\n");
