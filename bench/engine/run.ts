// bench/engine: one training step (forward, backward, AdamW) of a small U-Net-like conv net
// (batch 64, 3x32x32) and a 4-layer MLP (width 256, batch 512), timed in fewstep, in PyTorch
// from Python (/usr/bin/python3, Debian's python3-torch: the same libtorch build) and in
// TensorFlow.js's cpu backend, in one run on one machine. Rounds alternate fewstep and PyTorch
// so machine noise hits both; the table reports medians and the ratios.
//
//   npm run bench:engine                 # print the table
//   npm run bench:engine -- --write      # also append it to BENCHMARKS.md
//   flags: --rounds R (3) --steps S (15 per round) --warmup W (5) --tfjs-steps T (3) --no-tfjs
//          --tfjs-unet-batch B (4): TF.js's cpu backend needs ~25 s per sample for the conv-net
//          step (a batch-64 step is ~26 minutes), so it runs the conv net at batch B and the
//          table scales its time to batch 64 (measured linear in batch: 27.7/47.5/99.8 s at 1/2/4).
import { execFileSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { AdamW, Generator, blasInfo, getNumThreads, randn, torchVersion, type Tensor } from "../../src/engine/index.js";
import { Mlp, SmallUNet, trainStep } from "./nets.js";

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const rounds = flag("rounds", 3);
const steps = flag("steps", 15);
const warmup = flag("warmup", 5);
const tfjsSteps = flag("tfjs-steps", 3);
const tfjsUnetBatch = flag("tfjs-unet-batch", 4);
const withTfjs = !argv.includes("--no-tfjs");
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..", "..");

type NetName = "unet" | "mlp";
const nets: NetName[] = ["unet", "mlp"];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function makeNet(name: NetName): { model: SmallUNet | Mlp; x: Tensor; y: Tensor } {
  const g = new Generator(0);
  if (name === "unet") return { model: new SmallUNet(0), x: randn([64, 3, 32, 32], g), y: randn([64, 3, 32, 32], g) };
  return { model: new Mlp(0), x: randn([512, 64], g), y: randn([512, 64], g) };
}

function timeFewstep(name: NetName, n: number, warm: number): number[] {
  const { model, x, y } = makeNet(name);
  const opt = new AdamW(model.store.parameters(), { lr: 1e-4, weightDecay: 0.01 });
  for (let i = 0; i < warm; i++) trainStep(model, opt, x, y);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    trainStep(model, opt, x, y); // loss.item() inside syncs, so the step has finished
    times.push(performance.now() - t0);
  }
  opt.dispose();
  model.store.dispose();
  x.dispose();
  y.dispose();
  return times;
}

interface PeerResult {
  results: Record<NetName, { median_ms: number; times_ms: number[] }>;
  [key: string]: unknown;
}

function runPeer(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): PeerResult {
  const out = execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 24, env });
  const line = out.trim().split("\n").pop()!;
  return JSON.parse(line) as PeerResult;
}

const threads = getNumThreads();
const fewstepTimes: Record<NetName, number[]> = { unet: [], mlp: [] };
const torchTimes: Record<NetName, number[]> = { unet: [], mlp: [] };
// PyTorch again with the libgomp spin fewstep sets at load (GOMP_SPINCOUNT=10000, src/engine/native.ts),
// so the table separates the binding's cost from that setting's effect.
const torchSpinTimes: Record<NetName, number[]> = { unet: [], mlp: [] };
let torchInfo: PeerResult | undefined;
for (let r = 0; r < rounds; r++) {
  for (const net of nets) {
    process.stderr.write(`round ${r + 1}/${rounds}: fewstep ${net}\n`);
    fewstepTimes[net].push(...timeFewstep(net, steps, warmup));
  }
  process.stderr.write(`round ${r + 1}/${rounds}: pytorch\n`);
  torchInfo = runPeer("/usr/bin/python3", [join(repo, "bench", "engine", "peer_torch.py"), "--threads", String(threads), "--warmup", String(warmup), "--steps", String(steps), "--sanity-steps", "0"]);
  for (const net of nets) torchTimes[net].push(...torchInfo.results[net].times_ms);
  process.stderr.write(`round ${r + 1}/${rounds}: pytorch with GOMP_SPINCOUNT=10000\n`);
  const spin = runPeer("/usr/bin/python3", [join(repo, "bench", "engine", "peer_torch.py"), "--threads", String(threads), "--warmup", String(warmup), "--steps", String(steps), "--sanity-steps", "0"], { ...process.env, GOMP_SPINCOUNT: "10000" });
  for (const net of nets) torchSpinTimes[net].push(...spin.results[net].times_ms);
}
// TF.js: per-step ms at batch 64 (the conv net measured at tfjsUnetBatch and scaled, see above).
let tfjs: { version: string; ms: Record<NetName, number> } | undefined;
if (withTfjs) {
  process.stderr.write("tfjs-cpu (slow)\n");
  const peer = join(here, "peer-tfjs.js");
  const mlp = runPeer(process.execPath, [peer, "--nets", "mlp", "--warmup", "1", "--steps", String(tfjsSteps), "--sanity-steps", "0"]);
  const unet = runPeer(process.execPath, [peer, "--nets", "unet", "--batch", String(tfjsUnetBatch), "--warmup", "0", "--steps", "1", "--sanity-steps", "0"]);
  tfjs = { version: String(mlp.version), ms: { mlp: mlp.results.mlp.median_ms, unet: (unet.results.unet.median_ms * 64) / tfjsUnetBatch } };
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
const rows = nets.map((net) => {
  const f = median(fewstepTimes[net]);
  const p = median(torchTimes[net]);
  const ps = median(torchSpinTimes[net]);
  const t = tfjs ? tfjs.ms[net] : NaN;
  return `| ${net} | ${fmt(f)} | ${fmt(p)} | ${fmt(ps)} | ${tfjs ? fmt(t) : "-"} | **${(f / p).toFixed(3)}** | **${(f / ps).toFixed(3)}** | ${tfjs ? (t / f).toFixed(0) : "-"} |`;
});
const blas = blasInfo();
const table = [
  `### Engine training step (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${threads} libtorch threads; libtorch ${torchVersion()} (fewstep) and torch ${String(torchInfo?.torch)} (PyTorch); BLAS ${blas.path ?? blas.kind}; TF.js ${tfjs?.version ?? "not run"} cpu backend.`,
  `Command: \`npm run bench:engine -- --rounds ${rounds} --steps ${steps} --warmup ${warmup} --tfjs-steps ${tfjsSteps}\`. Median ms per step over ${rounds * steps} steps (fewstep, PyTorch, PyTorch with fewstep's GOMP_SPINCOUNT=10000; alternating rounds) and for TF.js ${tfjsSteps} steps (MLP) and 1 step of the conv net at batch ${tfjsUnetBatch}, scaled to batch 64.`,
  "",
  "| net | fewstep ms | PyTorch ms | PyTorch, spin 10000, ms | TF.js cpu ms | fewstep/PyTorch | fewstep/PyTorch (same spin) | TF.js/fewstep |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows,
  "",
].join("\n");
console.log(table);
if (argv.includes("--write")) appendFileSync(join(repo, "BENCHMARKS.md"), `\n${table}`);
