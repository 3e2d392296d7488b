// bench/autoencoder: fewstep's AutoencoderKL (src/nn/autoencoder.ts) trained by its own trainer
// against the identical step in PyTorch (bench/autoencoder/peer_torch.py, run by /usr/bin/python3:
// Debian's torch, the same libtorch build the addon links, on the module tree of
// test/fixtures/nn/make_autoencoder_fixture.py, diffusers' AutoencoderKL under diffusers' names),
// in one run on one machine; then, fewstep alone, what latent space buys at sampling time. The
// autoencoder is the default config (block_out_channels [32, 64, 64], 1 ResNet block per level,
// 4 latent channels, 8 groups) on 1x32x32 images: factor 4, latents [4, 8, 8]. Measured:
//   - one step of trainAutoencoder itself (src/latent/train-autoencoder.ts through
//     src/diffusion/train-loop.ts: batch drawn, posterior sample, decode, summed L1 / batch
//     + 1e-6 KL / batch, backward, clip 1, AdamW lr 5e-4, EMA 0.999), batch 32, timed from one
//     afterBackward hook call to the next (so the period is exactly one loop iteration);
//     PyTorch's step is the same work from the same initial weights; both reported with
//     achieved GFLOP/s (conv + matmul FLOPs counted from the layer shapes, training = 3 x forward);
//   - sampling under noGrad at batch 16, per image: (a) a 4-step latent student (U-Net on
//     [4, 8, 8]) plus decoding its latents, (b) the 4-step pixel student of the shipped
//     Fashion-MNIST config on [1, 28, 28], (c) the latent teacher's guided DDIM-256 (K steps
//     timed, extrapolated to 256 steps of 2 calls) plus one decode; random weights (speed does
//     not depend on training).
// Before timing, both sides run the same random weights (GroupNorms perturbed, so every
// parameter matters) on the same x and eps and must agree on the posterior, the decoded sample,
// the loss terms and every parameter's gradient; parameter names, shapes and counts must be equal,
// and so must the forward FLOP counts (fewstep's from the config, PyTorch's from forward hooks).
// Training rounds alternate fewstep and PyTorch so machine noise hits both; sampling rounds
// alternate (a), (b), (c); the tables report medians and ratios.
//
//   npm run bench:autoencoder                  # print the table
//   npm run bench:autoencoder -- --write       # also append it to BENCHMARKS.md
//   flags: --rounds R (5) --steps S (10 timed training steps per round) --warmup W (3)
//          --batch B (32, training) --sample-batch N (16) --teacher-steps K (8 DDIM-256 steps
//          per teacher measurement) --sample-reps M (5 measurements per round)
// About two minutes with one thread a side (FEWSTEP_THREADS=1 OPENBLAS_NUM_THREADS=1).
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { Generator, blasInfo, full, getNumThreads, noGrad, rand, randint, randn, tidy, torchVersion, zeros, type Tensor } from "../../src/engine/index.js";
import { ParamStore } from "../../src/nn/index.js";
import { AutoencoderKL, resolveAutoencoderConfig, type AutoencoderKLConfig } from "../../src/nn/autoencoder.js";
import { UNet, type UNetConfig } from "../../src/nn/unet.js";
import { TensorDataset } from "../../src/diffusion/image-dataset.js";
import { guided } from "../../src/diffusion/guidance.js";
import { denoiserOf } from "../../src/diffusion/parameterization.js";
import { sampleDdim } from "../../src/diffusion/samplers/index.js";
import { timeGrid } from "../../src/diffusion/schedule.js";
import { autoencoderLoss } from "../../src/latent/autoencoder-loss.js";
import { centerCrop } from "../../src/latent/latent-space.js";
import { trainAutoencoder } from "../../src/latent/train-autoencoder.js";
import { saveSafetensors } from "../../src/io/safetensors.js";
import { toHostRecord } from "../../src/io/tensor-bridge.js";
import { benchArgs } from "../bench-args.js";
import { compareNamedShapes, median, peerEnv, runTorchPeer, type NamedShapes } from "../torch-peer.js";

// ---- settings -----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const args = benchArgs("bench/autoencoder", ["rounds", "steps", "warmup", "batch", "sample-batch", "teacher-steps", "sample-reps", "write"], argv);
const flag = args.int;
const rounds = flag("rounds", 5, 1);
const steps = flag("steps", 10, 1);
const warmup = flag("warmup", 3, 0);
const batch = flag("batch", 32, 1);
const sampleBatch = flag("sample-batch", 16, 1);
const teacherSteps = flag("teacher-steps", 8, 1);
const sampleReps = flag("sample-reps", 5, 1);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");
const peerScript = join(repo, "bench", "autoencoder", "peer_torch.py");

/** The Fashion-MNIST autoencoder: AUTOENCODER_DEFAULTS on 1x32x32 (peer_torch.py's CONFIG is the same). */
const AE_CONFIG: AutoencoderKLConfig = resolveAutoencoderConfig({ in_channels: 1, out_channels: 1, sample_size: 32 });
const IMAGE = [1, 32, 32];
/** The images a latent sample is cropped back to (Fashion-MNIST's 28, padded to 32 for the autoencoder). */
const DATA_SIDE = 28;
const LR = 5e-4;
const DATA_COUNT = 1024;

/** The latent teacher / student U-Net on the autoencoder's [4, 8, 8] latents. */
const LATENT_UNET: Partial<UNetConfig> & { channels: number; size: number; numClasses: number } = {
  channels: AE_CONFIG.latent_channels,
  size: IMAGE[1] / 4,
  numClasses: 10,
  baseChannels: 24,
  channelMults: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [8],
};
/** The shipped Fashion-MNIST pixel config (bench/unet's CONFIG). */
const PIXEL_UNET: Partial<UNetConfig> & { channels: number; size: number; numClasses: number } = {
  channels: 1,
  size: 28,
  numClasses: 10,
  baseChannels: 24,
  channelMults: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [7],
};
const GUIDANCE_W = 2;
const TEACHER_STEPS_FULL = 256;
const TEACHER_CALLS = 2 * TEACHER_STEPS_FULL; // guided DDIM-256: two predictions per step
const STUDENT_STEPS = 4;

// ---- FLOPs of one forward -----------------------------------------------------------------------

interface Macs {
  conv: number;
  linear: number;
  attention_matmul: number;
}

/**
 * Multiply-accumulates of encode + decode of one image of side `side`, walked over the layers as
 * src/nn/autoencoder.ts builds them: a conv is out-pixels x cout x cin x k^2, a Linear tokens x
 * in x out, the attention's two products 2 x tokens^2 x channels. GroupNorm, SiLU, softmax, the
 * residual adds and the loss are elementwise (a few % of the convs' FLOPs) and not counted.
 */
function forwardMacs(c: AutoencoderKLConfig, side: number): Macs {
  const m: Macs = { conv: 0, linear: 0, attention_matmul: 0 };
  const conv = (cin: number, cout: number, k: number, outSide: number) => void (m.conv += outSide * outSide * cout * cin * k * k);
  const resnet = (cin: number, cout: number, s: number) => {
    conv(cin, cout, 3, s);
    conv(cout, cout, 3, s);
    if (cin !== cout) conv(cin, cout, 1, s);
  };
  const mid = (ch: number, s: number) => {
    resnet(ch, ch, s);
    if (c.mid_block_add_attention) {
      m.linear += 4 * s * s * ch * ch; // to_q, to_k, to_v, to_out
      m.attention_matmul += 2 * (s * s) ** 2 * ch;
    }
    resnet(ch, ch, s);
  };
  const widths = c.block_out_channels;
  const L = c.latent_channels;
  let s = side;
  conv(c.in_channels, widths[0], 3, s);
  let ch = widths[0];
  widths.forEach((w, i) => {
    for (let j = 0; j < c.layers_per_block; j++) resnet(j === 0 ? ch : w, w, s);
    ch = w;
    if (i < widths.length - 1) conv(w, w, 3, (s /= 2)); // pad (0, 1, 0, 1), 3x3 stride 2: side / 2
  });
  mid(ch, s);
  conv(ch, 2 * L, 3, s);
  if (c.use_quant_conv) conv(2 * L, 2 * L, 1, s);
  if (c.use_post_quant_conv) conv(L, L, 1, s);
  const reversed = [...widths].reverse();
  conv(L, reversed[0], 3, s);
  mid(reversed[0], s);
  ch = reversed[0];
  reversed.forEach((w, i) => {
    for (let j = 0; j <= c.layers_per_block; j++) resnet(j === 0 ? ch : w, w, s);
    ch = w;
    if (i < reversed.length - 1) conv(w, w, 3, (s *= 2));
  });
  conv(ch, c.out_channels, 3, s);
  return m;
}

const macs = forwardMacs(AE_CONFIG, IMAGE[1]);
const forwardFlopsPerImage = 2 * (macs.conv + macs.linear + macs.attention_matmul);
/** Forward + backward (grads of inputs and of weights, each about one forward): 3 forwards. */
const trainFlopsPerStep = 3 * forwardFlopsPerImage * batch;

// ---- the PyTorch peer ---------------------------------------------------------------------------

interface PeerResult {
  torch: string;
  threads: number;
  torch_threads: number;
  openblas_threads: number | null;
  params: { count: number; named: NamedShapes };
  forward_macs: Macs;
  check?: Record<string, { max_abs_diff: number; max_abs_ref: number; max_rel?: number; name?: string }>;
  results?: { train: { times_ms: number[]; mean_loss: number } };
}

const { env: torchEnv, spin } = peerEnv();
const threads = getNumThreads();

function runPeer(peerArgs: string[]): PeerResult {
  return runTorchPeer<PeerResult>(peerScript, threads, peerArgs, torchEnv);
}

function fail(message: string): never {
  throw new Error(`bench/autoencoder: FAILED: ${message}`);
}

// ---- identity check: names, shapes, counts, FLOPs, outputs, gradients ---------------------------

/**
 * diffusers' state_dict order is not its creation order (Decoder assigns up_blocks before
 * mid_block, UNetMidBlock2D attentions before resnets) while fewstep's store keeps creation order,
 * so the lists are compared sorted by name; the loader on the peer's side is strict as well.
 */
function compareParams(model: AutoencoderKL, peer: { count: number; named: NamedShapes }): number {
  const ours: NamedShapes = [...model.named()].map(([name, p]) => [name, p.shape]);
  const count = model.store.count();
  process.stderr.write(`autoencoder: fewstep ${count} parameters in ${ours.length} tensors, PyTorch ${peer.count} in ${peer.named.length}\n`);
  const diffs = compareNamedShapes(ours, peer.named, { sorted: true });
  if (count !== peer.count || diffs.length > 0) fail(`parameter count ${count} (fewstep) vs ${peer.count} (PyTorch); ${diffs.join("; ")}`);
  return count;
}

function compareMacs(peer: Macs): void {
  const keys = ["conv", "linear", "attention_matmul"] as const;
  const bad = keys.filter((k) => macs[k] !== peer[k]);
  if (bad.length > 0) fail(`forward MACs per image differ: ${bad.map((k) => `${k} ${macs[k]} (fewstep, from the config) vs ${peer[k]} (PyTorch hooks)`).join("; ")}`);
}

/** Relative tolerances: loss terms are sums of 8k terms in float32; gradients go through a whole backward. */
const TOLERANCE: Record<string, number> = { mean: 1e-5, logvar: 1e-5, decoded: 1e-5, rec: 1e-5, kl: 1e-5, loss: 1e-5, grads: 1e-4 };

/**
 * Random weights with every GroupNorm's weight 1 + 0.1 N(0, 1) and bias 0.1 N(0, 1) (as the
 * fixture does, so the norms' parameters change the output), random images in [-1, 1] and the
 * posterior noise of autoencoderLoss itself (its generator re-seeded to draw the same eps for
 * the file); fewstep's outputs and gradients go beside them, the peer recomputes each.
 */
function checkIdentity(dir: string): { params: number; maxRelDiff: number; gradRel: number; torch: string } {
  const model = new AutoencoderKL(new ParamStore({ seed: 1 }), { ...AE_CONFIG });
  const g = new Generator(3);
  const EPS_SEED = 5;
  noGrad(() => {
    for (const [name, p] of model.named()) {
      if (!/norm/.test(name)) continue;
      tidy(() => p.copy_(name.endsWith(".weight") ? randn(p.shape, g).mul(0.1).add(1) : randn(p.shape, g).mul(0.1)));
    }
  });
  const record = tidy(() => {
    const x = rand([8, ...IMAGE], g).mul(2).sub(1);
    const { loss, rec, kl } = autoencoderLoss(model, x, new Generator(EPS_SEED));
    loss.backward();
    const grads: Record<string, Tensor> = {};
    for (const [name, p] of model.named()) grads[`grad.${name}`] = p.grad ?? fail(`no gradient for ${name}`);
    const outs = noGrad(() => {
      const { mean, logvar } = model.encode(x);
      const eps = randn(mean.shape, new Generator(EPS_SEED));
      const decoded = model.decode(mean.add(logvar.mul(0.5).exp().mul(eps)));
      return { eps, out_mean: mean, out_logvar: logvar, out_decoded: decoded };
    });
    return toHostRecord({ x, ...outs, out_rec: rec.reshape([1]), out_kl: kl.reshape([1]), out_loss: loss.reshape([1]), ...grads });
  });
  saveSafetensors(join(dir, "weights.safetensors"), toHostRecord(model.named()));
  saveSafetensors(join(dir, "inputs.safetensors"), record);
  const peer = runPeer(["--check", dir]);
  const params = compareParams(model, peer.params);
  model.dispose();
  compareMacs(peer.forward_macs);
  let maxRelDiff = 0;
  let gradRel = 0;
  const bad: string[] = [];
  for (const [name, c] of Object.entries(peer.check ?? {})) {
    const rel = name === "grads" ? c.max_rel! : c.max_abs_diff / Math.max(1, c.max_abs_ref);
    if (name === "grads") gradRel = rel;
    else maxRelDiff = Math.max(maxRelDiff, rel);
    const where = name === "grads" ? ` (worst tensor ${c.name}, relative to its largest gradient, or 1e-4 of the largest of all when that is more)` : "";
    process.stderr.write(`check ${name}: max |fewstep - PyTorch| ${c.max_abs_diff.toExponential(2)} (max |fewstep| ${c.max_abs_ref.toPrecision(4)}), relative ${rel.toExponential(2)}${where}\n`);
    if (!(rel <= (TOLERANCE[name] ?? 0))) bad.push(`${name} differs by ${rel.toExponential(2)} relative`);
  }
  if (!peer.check || Object.keys(peer.check).length !== Object.keys(TOLERANCE).length) fail(`the peer did not report all ${Object.keys(TOLERANCE).length} checks`);
  if (bad.length > 0) fail(`the two autoencoders compute different things: ${bad.join("; ")}`);
  return { params, maxRelDiff, gradRel, torch: peer.torch };
}

// ---- the fewstep side: training -----------------------------------------------------------------

/**
 * ms per step of trainAutoencoder itself. Its afterBackward hook runs once per loop iteration
 * (between backward and clipping), so the time between two calls is exactly one iteration:
 * clip, optimizer, EMA, the loss sum, then the next zeroGrad, draw, forward and backward. The
 * one progress report (its sync and event-loop turn) falls after the last call, outside the
 * periods. warmupSteps 0 keeps the lr at 5e-4 from the first step, as the peer's.
 */
async function timeFewstepTrain(dataset: TensorDataset, init: AutoencoderKL): Promise<number[]> {
  const total = warmup + steps + 1;
  const marks: number[] = [];
  // At the first call the parameters are still the initial ones (no optimizer step yet): they
  // must be the weights the peer loads. Checked before the first mark, so outside every period.
  const checkInit = (params: Tensor[]) => {
    const want = init.parameters();
    if (params.length !== want.length) fail(`trainAutoencoder has ${params.length} parameter tensors, the written initial weights ${want.length}`);
    const differs = tidy(() => params.findIndex((q, i) => q.sub(want[i]).abs().max().item() !== 0));
    if (differs >= 0) fail(`trainAutoencoder's initial weights differ from those written for the peer (${[...init.named().keys()][differs]})`);
  };
  const result = await trainAutoencoder({
    dataset,
    steps: total,
    batchSize: batch,
    lr: LR,
    warmupSteps: 0,
    seed: 0,
    scaleImages: batch, // estimated once after the loop: keep it small
    progressEvery: total,
    onProgress: null,
    afterBackward: (params) => {
      if (marks.length === 0) checkInit(params);
      marks.push(performance.now());
    },
  });
  result.dispose();
  if (marks.length !== total) fail(`afterBackward ran ${marks.length} times in ${total} steps`);
  return marks.slice(warmup + 1).map((t, i) => t - marks[warmup + i]);
}

// ---- the fewstep side: sampling -----------------------------------------------------------------

interface SamplingTimes {
  /** (a) a 4-step latent student sample, its latents decoded and cropped to 28 x 28. */
  latentStudentDecoded: number[];
  /** (a) without the decode. */
  latentStudent: number[];
  /** One decode (and crop) of n latents. */
  decode: number[];
  /** (b) the 4-step pixel student. */
  pixelStudent: number[];
  /** (c) K steps of the latent teacher's guided DDIM-256 (decode not included). */
  latentTeacher: number[];
}

function timeFewstepSampling(): SamplingTimes {
  const autoencoder = new AutoencoderKL(new ParamStore({ seed: 0 }), { ...AE_CONFIG });
  const latentTeacher = new UNet(new ParamStore({ seed: 0 }), LATENT_UNET);
  const latentStudent = new UNet(new ParamStore({ seed: 0 }), { ...LATENT_UNET, wInput: true });
  const pixelStudent = new UNet(new ParamStore({ seed: 0 }), { ...PIXEL_UNET, wInput: true });
  const g = new Generator(1);
  const n = sampleBatch;
  const zLatent = randn([n, LATENT_UNET.channels, LATENT_UNET.size, LATENT_UNET.size], g);
  const zPixel = randn([n, PIXEL_UNET.channels, PIXEL_UNET.size, PIXEL_UNET.size], g);
  const labels = randint(0, LATENT_UNET.numClasses, [n], g);
  const w = full([n], GUIDANCE_W);
  const studentGrid = timeGrid(STUDENT_STEPS);
  const teacherGrid = timeGrid(TEACHER_STEPS_FULL).slice(0, teacherSteps + 1);
  const latentStudentDen = denoiserOf(latentStudent).denoiser;
  const pixelStudentDen = denoiserOf(pixelStudent).denoiser;
  const teacherDen = guided(denoiserOf(latentTeacher), GUIDANCE_W);
  const decode = (latents: Tensor) => centerCrop(autoencoder.decodeLatents(latents), DATA_SIDE);
  const out: SamplingTimes = { latentStudentDecoded: [], latentStudent: [], decode: [], pixelStudent: [], latentTeacher: [] };
  const timed = (fn: () => void): number => {
    const t0 = performance.now();
    tidy(() => noGrad(fn));
    return performance.now() - t0;
  };
  for (let i = 0; i < 1 + sampleReps; i++) {
    const t = {
      latentStudentDecoded: timed(() => void decode(sampleDdim(latentStudentDen, zLatent, studentGrid, { cond: { labels, w } }))),
      pixelStudent: timed(() => void sampleDdim(pixelStudentDen, zPixel, studentGrid, { cond: { labels, w } })),
      latentTeacher: timed(() => void sampleDdim(teacherDen, zLatent, teacherGrid, { cond: { labels } })),
      latentStudent: timed(() => void sampleDdim(latentStudentDen, zLatent, studentGrid, { cond: { labels, w } })),
      decode: timed(() => void decode(zLatent)),
    };
    if (i === 0) continue; // warm-up
    for (const k of Object.keys(t) as (keyof SamplingTimes)[]) out[k].push(t[k]);
  }
  for (const x of [zLatent, zPixel, labels, w]) x.dispose();
  for (const m of [autoencoder, latentTeacher, latentStudent, pixelStudent]) m.dispose();
  return out;
}

// ---- the run ------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "fewstep-bench-autoencoder-"));
const fewstep = { train: [] as number[] };
const torch = { train: [] as number[] };
const sampling: SamplingTimes = { latentStudentDecoded: [], latentStudent: [], decode: [], pixelStudent: [], latentTeacher: [] };
let identity: ReturnType<typeof checkIdentity>;
let torchVersionPeer: string;
let peerThreads = "";
try {
  identity = checkIdentity(dir);
  torchVersionPeer = identity.torch;
  // The timed nets start from the same weights: trainAutoencoder's initialisation (seed 0) is
  // a fresh store of seed 0 building the same config, written for the peer once.
  // (checked against trainAutoencoder's own parameters at its first step, every round).
  const init = new AutoencoderKL(new ParamStore({ seed: 0 }), { ...AE_CONFIG });
  saveSafetensors(join(dir, "init.safetensors"), toHostRecord(init.named()));
  const data = tidy(() => rand([DATA_COUNT, ...IMAGE], new Generator(7)).mul(2).sub(1));
  saveSafetensors(join(dir, "data.safetensors"), toHostRecord({ x: data }));
  const dataset = new TensorDataset(data, zeros([DATA_COUNT], { dtype: "int64" }), { numClasses: 10, source: "bench/autoencoder: uniform noise in [-1, 1]" });
  const peerArgs = ["--weights", join(dir, "init.safetensors"), "--data", join(dir, "data.safetensors"), "--warmup", String(warmup), "--steps", String(steps), "--batch", String(batch)];
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`round ${r + 1}/${rounds}: fewstep training\n`);
    fewstep.train.push(...(await timeFewstepTrain(dataset, init)));
    process.stderr.write(`round ${r + 1}/${rounds}: pytorch training\n`);
    const peer = runPeer(peerArgs);
    if (peer.params.count !== identity.params) fail(`PyTorch autoencoder has ${peer.params.count} parameters, fewstep ${identity.params}`);
    torchVersionPeer = peer.torch;
    peerThreads = `torch ${peer.torch_threads}, OpenBLAS ${peer.openblas_threads ?? "?"}`;
    torch.train.push(...peer.results!.train.times_ms);
    process.stderr.write(`round ${r + 1}/${rounds}: fewstep sampling\n`);
    const s = timeFewstepSampling();
    for (const k of Object.keys(s) as (keyof SamplingTimes)[]) sampling[k].push(...s[k]);
  }
  dataset.dispose();
  init.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const f = median(fewstep.train);
const p = median(torch.train);
const gflops = (ms: number) => trainFlopsPerStep / (ms * 1e6);
const n = sampleBatch;
const perImage = {
  a: median(sampling.latentStudentDecoded) / n,
  aStudent: median(sampling.latentStudent) / n,
  decode: median(sampling.decode) / n,
  b: median(sampling.pixelStudent) / n,
  teacherSteps: median(sampling.latentTeacher) / n,
};
const teacherOnly = (perImage.teacherSteps * TEACHER_STEPS_FULL) / teacherSteps;
const c = teacherOnly + perImage.decode;

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const blas = blasInfo();
const openblasEnv = process.env.OPENBLAS_NUM_THREADS;
const envThreads = `FEWSTEP_THREADS=${process.env.FEWSTEP_THREADS ?? "(unset: all cores)"}, OPENBLAS_NUM_THREADS=${openblasEnv ?? "(unset)"}`;
const cpuModel = (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model ?? "unknown CPU").trim();
const envPrefix = ["FEWSTEP_THREADS", "OPENBLAS_NUM_THREADS"].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]} `).join("");
const command = `${envPrefix}npm run bench:autoencoder${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
const mflop = (v: number) => `${(v / 1e6).toFixed(1)}`;
const table = [
  `### bench/autoencoder: autoencoder training step, latent vs pixel sampling (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${cpuModel} (/proc/cpuinfo), ${cpus().length} cores, shared with other jobs; ${threads} libtorch thread(s) on both sides (${envThreads}; the peer: ${peerThreads}), one thread each so the other jobs on the machine disturb the comparison least; libtorch ${torchVersion()} (fewstep) and torch ${torchVersionPeer} (PyTorch, /usr/bin/python3); BLAS ${blas.path ?? blas.kind}; spin: ${spin}.`,
  `Command: \`${command}\` (rounds ${rounds}, steps ${steps}, warmup ${warmup}, batch ${batch}, sample batch ${n}, teacher steps ${teacherSteps}, sample reps ${sampleReps}).`,
  `Net: AutoencoderKL, the default config (block_out_channels [${AE_CONFIG.block_out_channels}], layers_per_block ${AE_CONFIG.layers_per_block}, latent_channels ${AE_CONFIG.latent_channels}, norm_num_groups ${AE_CONFIG.norm_num_groups}, mid-block attention) on [${IMAGE}] images, latents [${LATENT_UNET.channels}, ${LATENT_UNET.size}, ${LATENT_UNET.size}]: src/nn/autoencoder.ts and the module tree of test/fixtures/nn/make_autoencoder_fixture.py (diffusers' AutoencoderKL in plain PyTorch), ${identity.params.toLocaleString("en-US")} parameters in both, the same names and shapes (compared sorted: diffusers' state_dict order is not its build order). On shared random weights (GroupNorms perturbed) and the same x [8, ${IMAGE}] and eps, the posterior, decoded sample, rec, KL and loss agree to ${identity.maxRelDiff.toExponential(1)} (max |difference| / max(1, max |value|)) and every parameter's gradient to ${identity.gradRel.toExponential(1)} of that tensor's largest (or of 1e-4 of the largest of all, where that is more: the keys' biases have a zero gradient in exact arithmetic, rounding noise on both sides).`,
  `Training: median ms per step over ${rounds * steps} steps each (alternating rounds; ${warmup} warm-up steps per round untimed), both from the same initial weights (trainAutoencoder's, seed 0, checked equal at its first step) on the same ${DATA_COUNT} images (uniform noise in [-1, 1]; speed does not depend on the data): a batch of ${batch} drawn with replacement, posterior sample, decode, summed L1 / batch + 1e-6 KL / batch, backward, grad-norm clip 1, AdamW (lr 5e-4, decay 0.01, the default of both), EMA 0.999. fewstep's number is trainAutoencoder itself (src/latent/train-autoencoder.ts through train-loop.ts), one loop iteration between two calls of its afterBackward hook; PyTorch's the same step in bench/autoencoder/peer_torch.py, zero_grad to the loss sum.`,
  `GFLOP/s: conv + matmul FLOPs (2 per multiply-accumulate) of one forward (encode + decode) counted from the layer shapes (bench/autoencoder/run.ts forwardMacs; PyTorch's forward hooks on every Conv2d, Linear and attention count the same): ${mflop(2 * macs.conv)} MFLOP convolutions + ${mflop(2 * macs.linear)} linear + ${mflop(2 * macs.attention_matmul)} attention products = ${mflop(forwardFlopsPerImage)} MFLOP per image; a training step counted as 3 forwards (backward = gradients of inputs + of weights) x ${batch} images = ${(trainFlopsPerStep / 1e9).toFixed(2)} GFLOP. Elementwise work (GroupNorm, SiLU, softmax, loss, AdamW, EMA) is not counted.`,
  `Not identical by construction: Downsample2D's zero padding (fewstep: two cat with zeros; PyTorch: F.pad), diffusers' \`/ output_scale_factor\` (1.0) after every ResNet block and attention (PyTorch only), attention as Linear layers on [n, hw, c] in both but diffusers' head reshapes and bmm (PyTorch) vs matmul (fewstep), EMA (fewstep: one fused native loop; PyTorch: torch._foreach_mul_/add_), and fewstep's addon tunes glibc malloc (M_MMAP_THRESHOLD 256 MiB, M_TRIM_THRESHOLD 1 GiB) while PyTorch runs with glibc's defaults, as in bench/engine.`,
  "",
  "| measure | fewstep | PyTorch | fewstep/PyTorch |",
  "| --- | --- | --- | --- |",
  `| training step, batch ${batch} (ms) | ${fmt(f)} | ${fmt(p)} | **${(f / p).toFixed(3)}** |`,
  `| achieved GFLOP/s (${(trainFlopsPerStep / 1e9).toFixed(2)} GFLOP per step) | ${gflops(f).toFixed(1)} | ${gflops(p).toFixed(1)} | ${(gflops(f) / gflops(p)).toFixed(3)} |`,
  "",
  `Sampling, fewstep alone (noGrad, eval mode, batch ${n}, random weights: speed does not depend on training), median over ${rounds * sampleReps} measurements each, the five measurements alternating within every repetition: (a) a 4-step DDIM sample of the latent student (U-Net on [${LATENT_UNET.channels}, ${LATENT_UNET.size}, ${LATENT_UNET.size}], ${LATENT_UNET.numClasses} classes, base 24, mults [1, 2, 2], attention at 8, w input; 4 calls) whose latents are then decoded by the autoencoder above and center-cropped to ${DATA_SIDE} x ${DATA_SIDE}, as \`fewstep sample\` does; (b) a 4-step DDIM sample of the pixel student (the shipped Fashion-MNIST config: [1, 28, 28], base 24, mults [1, 2, 2], attention at 7, w input); (c) the latent teacher's guided DDIM-256 (the same U-Net without the w path; ${teacherSteps} steps timed, each one call on ${2 * n} rows, conditional + null; extrapolated to ${TEACHER_STEPS_FULL} steps = ${TEACHER_CALLS} calls of ${n} images) plus one decode (timed on its own). Per image = median ms per batch / ${n}.`,
  "",
  "| sampling (per image) | ms | |",
  "| --- | --- | --- |",
  `| (a) latent 4-step student + decode | ${fmt(perImage.a)} | student ${fmt(perImage.aStudent)} + decode ${fmt(perImage.decode)} (timed apart) |`,
  `| (b) pixel 4-step student | ${fmt(perImage.b)} | |`,
  `| (c) latent teacher, guided DDIM-256 + decode | ${fmt(c)} | ${TEACHER_CALLS} calls ${fmt(teacherOnly)} (from ${teacherSteps} steps) + decode ${fmt(perImage.decode)} |`,
  `| (a) / (b): latent vs pixel student | **${(perImage.a / perImage.b).toFixed(3)}** | |`,
  `| (c) / (a): latent teacher vs latent student | **${(c / perImage.a).toFixed(1)}x** | |`,
  "",
].join("\n");
console.log(table);
if (args.has("write")) appendFileSync(join(repo, "BENCHMARKS.md"), `\n${table}`);
