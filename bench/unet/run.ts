// bench/unet: fewstep's U-Net (src/nn/unet.ts) against the identical U-Net written in PyTorch
// (bench/unet/peer_torch.py, run by /usr/bin/python3: Debian's torch, the same libtorch build the
// addon links), in one run on one machine. The net is the Fashion-MNIST teacher (1x28x28, 10
// classes, base 24, mults [1, 2, 2], attention at 7). Measured:
//   - one teacher training step of src/diffusion/train-teacher.ts + train-loop.ts (fixed x and
//     labels; t, eps and the 10% null labels drawn per step; dropout on; max(SNR, 1)-weighted
//     x-loss; backward; clip 1; AdamW lr 5e-4, no decay; EMA 0.999), batch 64;
//   - sampling under noGrad at batch 16: K steps of guided DDIM-256 (one 2n-row call per step, as
//     src/diffusion/guidance.ts) and a whole 4-step student sample (the net plus the w path),
//     reported per network call and extrapolated per image (512 and 4 calls).
// Before timing, both sides run the same random weights and inputs (forward, loss, two short
// samples) and must agree; parameter names, shapes and counts must be equal. Rounds alternate
// fewstep and PyTorch so machine noise hits both; the table reports medians and ratios.
// PyTorch runs with the libgomp spin setting fewstep's addon uses (src/engine/native.ts).
//
//   npm run bench:unet                    # print the table
//   npm run bench:unet -- --write         # also append it to BENCHMARKS.md
//   flags: --rounds R (3) --steps S (10 timed training steps per round) --warmup W (3)
//          --batch B (64, training) --sample-batch N (16) --teacher-steps K (4 DDIM-256 steps
//          per teacher measurement) --sample-reps M (5 measurements per round)
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { AdamW, EMA, Generator, blasInfo, clipGradNorm, full, getNumThreads, noGrad, rand, randint, randn, tensor, tidy, torchVersion, where, type Tensor } from "../../src/engine/index.js";
import { ParamStore, uniform } from "../../src/nn/index.js";
import { UNet, type UNetConfig } from "../../src/nn/unet.js";
import { perExample } from "../../src/diffusion/dataset.js";
import { guided } from "../../src/diffusion/guidance.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { sampleDdim } from "../../src/diffusion/samplers/index.js";
import { alphaSigmaTensor, logSnrTensor, lossWeight, timeGrid } from "../../src/diffusion/schedule.js";
import { saveSafetensors } from "../../src/io/safetensors.js";
import { toHostRecord } from "../../src/io/tensor-bridge.js";
import { benchArgs } from "../bench-args.js";
import { compareNamedShapes, median, peerEnv, runTorchPeer, type NamedShapes } from "../torch-peer.js";

// ---- settings -----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const args = benchArgs("bench/unet", ["rounds", "steps", "warmup", "batch", "sample-batch", "teacher-steps", "sample-reps", "write"], argv);
const flag = args.int;
const rounds = flag("rounds", 3, 1);
const steps = flag("steps", 10, 1);
const warmup = flag("warmup", 3, 0);
const batch = flag("batch", 64, 1);
const sampleBatch = flag("sample-batch", 16, 1);
const teacherSteps = flag("teacher-steps", 4, 1);
const sampleReps = flag("sample-reps", 5, 1);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");
const peerScript = join(repo, "bench", "unet", "peer_torch.py");

/** The Fashion-MNIST teacher (peer_torch.py's CONFIG is the same). */
const CONFIG: Partial<UNetConfig> & { channels: number; size: number; numClasses: number } = {
  channels: 1,
  size: 28,
  numClasses: 10,
  baseChannels: 24,
  channelMults: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [7],
  dropout: 0.1,
  prediction: "v",
  fourierFeatures: 16,
};
const NUM_CLASSES = CONFIG.numClasses;
const P_UNCOND = 0.1;
const LR = 5e-4;
const GRAD_CLIP = 1;
const EMA_DECAY = 0.999;
const GUIDANCE_W = 2;
const TEACHER_CALLS = 512; // guided DDIM-256: two predictions per step
const STUDENT_CALLS = 4;

// ---- the fewstep side ---------------------------------------------------------------------------

/** train-teacher.ts's loss given t, eps and the (already dropped) labels. */
function teacherLoss(model: UNet, x: Tensor, labels: Tensor, t: Tensor, eps: Tensor): Tensor {
  const n = x.shape[0];
  const { alpha, sigma } = alphaSigmaTensor(t);
  const z = x.mul(perExample(alpha, x)).add(eps.mul(perExample(sigma, x)));
  const xHat = denoiserOf(model).denoiser(z, t, { labels });
  return xHat.sub(x).square().reshape([n, -1]).mean(1).mul(lossWeight(logSnrTensor(t), "truncated-snr")).mean();
}

interface Trainer {
  step(): number;
  dispose(): void;
}

/** The step of trainTeacher's loop (train-loop.ts), on fixed x and labels. */
function makeTrainer(n: number): Trainer {
  const store = new ParamStore({ seed: 0 });
  const model = new UNet(store, CONFIG);
  const generator = store.generator;
  model.training = true;
  model.dropoutGenerator = generator;
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: LR, weightDecay: 0 });
  const ema = new EMA(params, EMA_DECAY);
  const x = randn([n, CONFIG.channels, CONFIG.size, CONFIG.size], generator);
  const labels = randint(0, NUM_CLASSES, [n], generator);
  return {
    step: () =>
      tidy(() => {
        optimizer.zeroGrad();
        const t = rand([n], generator);
        const eps = randn(x.shape, generator);
        const drop = rand([n], generator).lt(P_UNCOND);
        const loss = teacherLoss(model, x, where(drop, NUM_CLASSES, labels), t, eps);
        loss.backward();
        clipGradNorm(params, GRAD_CLIP);
        optimizer.lr = LR;
        optimizer.step();
        ema.update();
        return loss.item();
      }),
    dispose: () => {
      x.dispose();
      labels.dispose();
      ema.dispose();
      optimizer.dispose();
      model.dispose();
    },
  };
}

function timeFewstepTrain(): number[] {
  const trainer = makeTrainer(batch);
  for (let i = 0; i < warmup; i++) trainer.step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    trainer.step(); // loss.item() ends the step (CPU ops are synchronous anyway)
    times.push(performance.now() - t0);
  }
  trainer.dispose();
  return times;
}

/** ms of K guided DDIM-256 steps and of whole 4-step student samples, each measured `sampleReps` times. */
function timeFewstepSampling(): { teacher: number[]; student: number[] } {
  const teacher = new UNet(new ParamStore({ seed: 0 }), CONFIG);
  const student = new UNet(new ParamStore({ seed: 0 }), { ...CONFIG, wInput: true });
  const g = new Generator(1);
  const n = sampleBatch;
  const z = randn([n, CONFIG.channels, CONFIG.size, CONFIG.size], g);
  const labels = randint(0, NUM_CLASSES, [n], g);
  const w = full([n], GUIDANCE_W);
  const teacherGrid = timeGrid(256).slice(0, teacherSteps + 1);
  const den = guided(denoiserOf(teacher), GUIDANCE_W);
  const studentDen = denoiserOf(student).denoiser;
  const studentGrid = timeGrid(STUDENT_CALLS);
  const out = { teacher: [] as number[], student: [] as number[] };
  const timed = (fn: () => void): number => {
    const t0 = performance.now();
    tidy(() => noGrad(fn));
    return performance.now() - t0;
  };
  for (let i = 0; i < warmup + sampleReps; i++) {
    const tt = timed(() => void sampleDdim(den, z, teacherGrid, { cond: { labels } }));
    const ts = timed(() => void sampleDdim(studentDen, z, studentGrid, { cond: { labels, w } }));
    if (i >= warmup) {
      out.teacher.push(tt);
      out.student.push(ts);
    }
  }
  for (const t of [z, labels, w]) t.dispose();
  teacher.dispose();
  student.dispose();
  return out;
}

// ---- the PyTorch peer ---------------------------------------------------------------------------

interface PeerResult {
  torch: string;
  threads: number;
  torch_threads: number;
  openblas_threads: number | null;
  env: Record<string, string | null>;
  params: { teacher: { count: number; named: NamedShapes }; student: { count: number; named: NamedShapes } };
  check?: Record<string, { max_abs_diff: number; max_abs_ref: number }>;
  results?: { train: { times_ms: number[]; losses: number[] }; teacher: { times_ms: number[] }; student: { times_ms: number[] } };
}

const { env: torchEnv, spin } = peerEnv();
const threads = getNumThreads();

function runPeer(args: string[]): PeerResult {
  return runTorchPeer<PeerResult>(peerScript, threads, args, torchEnv);
}

// ---- identity check: names, shapes, counts, outputs ---------------------------------------------

function fail(message: string): never {
  throw new Error(`bench/unet: FAILED: ${message}`);
}

function compareParams(what: string, model: UNet, peer: { count: number; named: NamedShapes }): number {
  const ours: NamedShapes = [...model.named()].map(([name, p]) => [name, p.shape]);
  const count = model.store.count();
  process.stderr.write(`${what}: fewstep ${count} parameters in ${ours.length} tensors, PyTorch ${peer.count} in ${peer.named.length}\n`);
  const diffs = compareNamedShapes(ours, peer.named);
  if (count !== peer.count || diffs.length > 0) fail(`${what}: parameter count ${count} (fewstep) vs ${peer.count} (PyTorch); ${diffs.join("; ")}`);
  return count;
}

/**
 * Random weights (the zero-initialised layers filled too, so every path is live) and inputs,
 * fewstep's outputs beside them; the peer recomputes each in PyTorch and reports the differences.
 */
function checkIdentity(): { teacherParams: number; studentParams: number; maxRelDiff: number; torch: string } {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-bench-unet-"));
  try {
    const teacher = new UNet(new ParamStore({ seed: 1 }), CONFIG);
    const student = new UNet(new ParamStore({ seed: 2 }), { ...CONFIG, wInput: true });
    const g = new Generator(3);
    noGrad(() => {
      for (const m of [teacher, student]) {
        for (const p of m.parameters()) {
          tidy(() => {
            if (p.abs().max().item() === 0) p.copy_(uniform(p.shape, 0.05, g));
          });
        }
      }
    });
    const inputs = tidy(() => {
      const z = randn([4, CONFIG.channels, CONFIG.size, CONFIG.size], g);
      const x = randn(z.shape, g);
      const eps = randn(z.shape, g);
      const t = tensor([0.05, 0.3, 0.6, 0.95]);
      const labels = tensor([0, 3, NUM_CLASSES, 7], { dtype: "int64" });
      const w = tensor([0, 1, 2.5, 4]);
      const outs = noGrad(() => ({
        out_teacher_xhat: denoiserOf(teacher).denoiser(z, t, { labels }),
        out_student_xhat: denoiserOf(student).denoiser(z, t, { labels, w }),
        out_teacher_loss: teacherLoss(teacher, x, labels, t, eps).reshape([1]),
        out_teacher_ddim: sampleDdim(guided(denoiserOf(teacher), GUIDANCE_W), z, timeGrid(3), { cond: { labels } }),
        out_student_ddim: sampleDdim(denoiserOf(student).denoiser, z, timeGrid(2), { cond: { labels, w } }),
      }));
      return toHostRecord({ z, x, eps, t, labels, w, ...outs });
    });
    saveSafetensors(join(dir, "teacher.safetensors"), toHostRecord(teacher.named()));
    saveSafetensors(join(dir, "student.safetensors"), toHostRecord(student.named()));
    saveSafetensors(join(dir, "inputs.safetensors"), inputs);
    const peer = runPeer(["--check", dir]);
    const teacherParams = compareParams("teacher", teacher, peer.params.teacher);
    const studentParams = compareParams("student (teacher + w path)", student, peer.params.student);
    teacher.dispose();
    student.dispose();
    let maxRelDiff = 0;
    const bad: string[] = [];
    for (const [name, { max_abs_diff: d, max_abs_ref: r }] of Object.entries(peer.check ?? {})) {
      const rel = d / Math.max(1, r);
      maxRelDiff = Math.max(maxRelDiff, rel);
      process.stderr.write(`check ${name}: max |fewstep - PyTorch| ${d.toExponential(2)} (max |fewstep| ${r.toFixed(3)})\n`);
      if (!(rel <= 1e-4)) bad.push(`${name} differs by ${d} (max |value| ${r})`);
    }
    if (!peer.check || Object.keys(peer.check).length !== 5) fail("the peer did not report all 5 checks");
    if (bad.length > 0) fail(`the two U-Nets compute different things: ${bad.join("; ")}`);
    return { teacherParams, studentParams, maxRelDiff, torch: peer.torch };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the run ------------------------------------------------------------------------------------

const identity = checkIdentity();
const fewstep = { train: [] as number[], teacher: [] as number[], student: [] as number[] };
const torch = { train: [] as number[], teacher: [] as number[], student: [] as number[] };
let torchVersionPeer = identity.torch;
const peerArgs = ["--warmup", String(warmup), "--steps", String(steps), "--batch", String(batch), "--sample-batch", String(sampleBatch), "--teacher-steps", String(teacherSteps), "--sample-reps", String(sampleReps)];
for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}: fewstep\n`);
  fewstep.train.push(...timeFewstepTrain());
  const s = timeFewstepSampling();
  fewstep.teacher.push(...s.teacher);
  fewstep.student.push(...s.student);
  process.stderr.write(`round ${r + 1}/${rounds}: pytorch\n`);
  const peer = runPeer(peerArgs);
  if (peer.params.teacher.count !== identity.teacherParams) fail(`PyTorch teacher has ${peer.params.teacher.count} parameters, fewstep ${identity.teacherParams}`);
  torchVersionPeer = peer.torch;
  torch.train.push(...peer.results!.train.times_ms);
  torch.teacher.push(...peer.results!.teacher.times_ms);
  torch.student.push(...peer.results!.student.times_ms);
}

// Per call: a teacher step is one call on 2n rows (conditional + null), i.e. 2 calls of n images;
// a student sample is 4 calls of n images. Per image: calls x per-call / n.
const perCall = {
  teacher: (ms: number[]) => median(ms.map((v) => v / teacherSteps / 2)),
  student: (ms: number[]) => median(ms.map((v) => v / STUDENT_CALLS)),
};
const f = { train: median(fewstep.train), teacherCall: perCall.teacher(fewstep.teacher), studentCall: perCall.student(fewstep.student) };
const p = { train: median(torch.train), teacherCall: perCall.teacher(torch.teacher), studentCall: perCall.student(torch.student) };
const perImage = (call: number, calls: number) => (calls * call) / sampleBatch;
const fTeacherImg = perImage(f.teacherCall, TEACHER_CALLS);
const pTeacherImg = perImage(p.teacherCall, TEACHER_CALLS);
const fStudentImg = perImage(f.studentCall, STUDENT_CALLS);
const pStudentImg = perImage(p.studentCall, STUDENT_CALLS);

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const row = (what: string, a: number, b: number) => `| ${what} | ${fmt(a)} | ${fmt(b)} | **${(a / b).toFixed(3)}** |`;
const blas = blasInfo();
const command = `npm run bench:unet${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
const table = [
  `### U-Net teacher step and sampling (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${threads} libtorch threads; libtorch ${torchVersion()} (fewstep) and torch ${torchVersionPeer} (PyTorch, /usr/bin/python3); BLAS ${blas.path ?? blas.kind}; spin: ${spin}.`,
  `Command: \`${command}\` (rounds ${rounds}, steps ${steps}, warmup ${warmup}, batch ${batch}, sample batch ${sampleBatch}, teacher steps ${teacherSteps}, sample reps ${sampleReps}).`,
  `Net: the Fashion-MNIST teacher U-Net (1x28x28, 10 classes + null, base 24, mults [1, 2, 2], 1 res block, attention at 7 and in the middle, dropout 0.1, v-prediction, 16 Fourier features) in src/nn/unet.ts and bench/unet/peer_torch.py: ${identity.teacherParams.toLocaleString("en-US")} parameters in both (student with the w path: ${identity.studentParams.toLocaleString("en-US")} in both), same names and shapes; on shared random weights (zero-initialised layers filled) their x-hat, loss and short guided/student samples ${identity.maxRelDiff === 0 ? "are bit-identical" : `agree to ${identity.maxRelDiff.toExponential(1)} (max relative difference)`}.`,
  `Training: median ms per teacher step over ${rounds * steps} steps each (alternating rounds): fixed x ~ N(0, 1) [${batch}, 1, 28, 28] and labels, t, eps and 10% null labels drawn per step, dropout on, max(SNR, 1)-weighted x-loss, backward, grad-norm clip 1, AdamW (lr 5e-4, no decay), EMA 0.999.`,
  `Sampling (noGrad / torch.no_grad, eval mode, batch ${sampleBatch}): a teacher measurement is ${teacherSteps} steps of guided DDIM-256 (each one call on ${2 * sampleBatch} rows, conditional + null, counted as 2 calls), a student measurement a whole 4-step DDIM sample of the student (4 calls); median over ${rounds * sampleReps} measurements each. Per image = calls x per-call / ${sampleBatch}, extrapolated from the timed steps (a full DDIM-256 is not run): ${TEACHER_CALLS} calls for the teacher, ${STUDENT_CALLS} for the student.`,
  `Not identical by construction: dropout masks (fewstep: rand, ge, two muls from its Generator; PyTorch: nn.Dropout's own kernel), EMA (fewstep: one fused native loop; PyTorch: torch._foreach_mul_/add_), AdamW with no decay (PyTorch still multiplies each parameter by 1), and fewstep's addon tunes glibc malloc (M_MMAP_THRESHOLD 256 MiB, M_TRIM_THRESHOLD 1 GiB) while PyTorch runs with glibc's defaults, as in bench/engine.`,
  "",
  "| measure | fewstep | PyTorch | fewstep/PyTorch |",
  "| --- | --- | --- | --- |",
  row(`training step, batch ${batch} (ms)`, f.train, p.train),
  row(`teacher, guided DDIM-256: ms per call (${sampleBatch} images)`, f.teacherCall, p.teacherCall),
  row(`teacher, guided DDIM-256: ms per image (${TEACHER_CALLS} calls)`, fTeacherImg, pTeacherImg),
  row(`4-step student: ms per call (${sampleBatch} images)`, f.studentCall, p.studentCall),
  row(`4-step student: ms per image (${STUDENT_CALLS} calls)`, fStudentImg, pStudentImg),
  `| teacher/student time per image | ${(fTeacherImg / fStudentImg).toFixed(0)}x | ${(pTeacherImg / pStudentImg).toFixed(0)}x | - |`,
  "",
].join("\n");
console.log(table);
if (args.has("write")) appendFileSync(join(repo, "BENCHMARKS.md"), `\n${table}`);
