/**
 * TF.js (tfjs-core + tfjs-backend-cpu, pure JavaScript) peer of the fewstep
 * engine benchmark.
 *
 * What it measures: the wall time of ONE training step -- forward, MSE loss,
 * backward (tf.variableGrads), decoupled weight decay, Adam update -- for the
 * same two networks that the fewstep half and bench/engine/peer_torch.py time:
 *
 *   unet  x, y fixed N(0,1) of [B, 32, 32, 3] (B = 64 unless --batch).
 *         LAYOUT NOTE: NHWC, TF.js's native layout; fewstep/PyTorch use NCHW
 *         [B, 3, 32, 32]. Same numbers of elements and FLOPs, different memory
 *         order, so each engine runs its own preferred layout.
 *         GroupNorm: 8 groups, eps 1e-5, affine weight/bias (reshape + moments).
 *         conv_in 3->32 -> ResBlock(32) [skip1] -> conv s2 32->64 -> ResBlock(64)
 *         [skip2] -> conv s2 64->128 -> ResBlock(128) -> nearest up x2 ->
 *         conv 128->64 + skip2 -> ResBlock(64) -> nearest up x2 -> conv 64->32
 *         + skip1 -> ResBlock(32) -> GN -> SiLU -> conv 32->3.
 *         ResBlock(c): x + conv(silu(GN(conv(silu(GN(x)))))).
 *         All convs 3x3 with bias and an explicit padding of 1 on every side
 *         (pad = 1, not 'same': for the stride-2 convs 'same' would pad only
 *         bottom/right, which is not what PyTorch's padding=1 does).
 *   mlp   x, y: [512, 64]; Linear 64->256, SiLU, 256->256, SiLU, 256->256,
 *         SiLU, 256->64 (x.matMul(W) + b).
 *
 * SiLU is x * sigmoid(x); nearest upsampling is tf.image.resizeNearestNeighbor
 * (alignCorners = halfPixelCenters = false, i.e. src = floor(dst / 2), the same
 * as PyTorch's mode="nearest" for an exact factor of 2).
 *
 * Optimizer: TF.js has no AdamW. We emulate torch.optim.AdamW(lr=1e-4,
 * weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8): gradients are taken at the
 * current parameters, then every variable is multiplied by (1 - lr*wd)
 * (decoupled weight decay, applied to all parameters as PyTorch does with
 * model.parameters()), then tf.train.adam(1e-4, 0.9, 0.999, 1e-8) applies the
 * Adam update -- the same order as PyTorch's AdamW.step(). tfjs's Adam uses
 * the same update, lr * m_hat / (sqrt(v_hat) + eps), so with the decay
 * multiply this is AdamW, arithmetically.
 *
 * Checked against PyTorch (throwaway script, not part of this file): with the
 * PyTorch weights copied in (OIHW -> HWIO, Linear W transposed) and batch 1,
 * the loss, every parameter's gradient and the loss after one AdamW step agree
 * to float32 precision for both nets.
 *
 * KNOWN UPSTREAM BUG (tfjs-backend-cpu 4.22.0): the ResizeNearestNeighborGrad
 * kernel offsets dy by the *input's* batch stride (imagesStrides[0]) instead
 * of dy's, so for batch > 1 the upsample gradients of images 1..B-1 read the
 * wrong part of dy (image 0 is right). The work done is the same, so the
 * timing is still TF.js's real cost, but the unet's training values differ
 * from PyTorch's at batch > 1. We deliberately keep tfjs's own kernel; a
 * correct replacement (reshape + sum over the 2x2 blocks) is about 5x slower
 * on this backend and would no longer be "what TF.js does".
 *
 * Gradients: the union package @tensorflow/tfjs registers them (tfjs-core alone
 * registers none); only its cpu backend is used.
 *
 * Init: PyTorch-style uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
 * biases, GN weight 1 / bias 0, so the starting loss is comparable; only time
 * matters.
 *
 * Timing: each step runs inside tf.tidy (memory stays flat; checked on stderr)
 * and is timed with performance.now() up to the point where loss.dataSync()
 * returned, so the step has really finished. The cpu backend is single-threaded
 * JavaScript; there is no thread flag. W warm-up steps, then S timed steps.
 *
 * Output: ONE JSON line on stdout; the loss-decrease sanity check and memory
 * notes go to stderr.
 *
 *   node dist/bench/engine/peer-tfjs.js [--warmup 1] [--steps 3]
 *        [--nets unet,mlp] [--batch 64] [--sanity-steps 2] [--sanity-batch 1]
 *
 * Cost warning: on this backend one unet step costs about 25 s PER SAMPLE
 * (95% of it in tfjs-backend-cpu's naive Conv2DBackpropFilter kernel), so the
 * default batch 64 is roughly 25-30 min per step and the default run
 * (1 warm-up + 3 timed) well over an hour. Use --batch 4 for a quick check.
 * The sanity check runs the unet at --sanity-batch (default 1) so it does not
 * multiply that cost; the mlp sanity check uses its real batch of 512.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";

const LR = 1e-4;
const WD = 0.01;
const GN_GROUPS = 8;
const GN_EPS = 1e-5;

type Net = {
  vars: tf.Variable[];
  forward: (x: tf.Tensor) => tf.Tensor;
  x: tf.Tensor;
  y: tf.Tensor;
};

// ------------------------------------------------------------------ params

let seedCounter = 0;
function nextSeed(): number {
  return 1000 + seedCounter++;
}

class Params {
  readonly vars: tf.Variable[] = [];
  private add(t: tf.Tensor): tf.Variable {
    const v = tf.variable(t, true);
    t.dispose();
    this.vars.push(v);
    return v;
  }
  uniform(shape: number[], fanIn: number): tf.Variable {
    const b = 1 / Math.sqrt(fanIn);
    return this.add(tf.randomUniform(shape, -b, b, "float32", nextSeed()));
  }
  ones(shape: number[]): tf.Variable {
    return this.add(tf.ones(shape));
  }
  zeros(shape: number[]): tf.Variable {
    return this.add(tf.zeros(shape));
  }
}

// ------------------------------------------------------------------ layers

const silu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(x));

function conv3(p: Params, cin: number, cout: number, stride = 1) {
  const w = p.uniform([3, 3, cin, cout], cin * 9) as tf.Variable<tf.Rank.R4>;
  const b = p.uniform([cout], cin * 9);
  // pad 1 on every side == PyTorch Conv2d(padding=1), also for stride 2.
  return (x: tf.Tensor): tf.Tensor =>
    tf.add(tf.conv2d(x as tf.Tensor4D, w, stride, 1), b);
}

function groupNorm(p: Params, c: number) {
  const gamma = p.ones([c]);
  const beta = p.zeros([c]);
  return (x: tf.Tensor): tf.Tensor => {
    const [n, h, w] = x.shape as [number, number, number, number];
    const g = tf.reshape(x, [n, h, w, GN_GROUPS, c / GN_GROUPS]);
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const normed = tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, GN_EPS)));
    return tf.add(tf.mul(tf.reshape(normed, [n, h, w, c]), gamma), beta);
  };
}

function resBlock(p: Params, c: number) {
  const n1 = groupNorm(p, c);
  const c1 = conv3(p, c, c);
  const n2 = groupNorm(p, c);
  const c2 = conv3(p, c, c);
  return (x: tf.Tensor): tf.Tensor => {
    let h = c1(silu(n1(x)));
    h = c2(silu(n2(h)));
    return tf.add(x, h);
  };
}

function up2(x: tf.Tensor): tf.Tensor {
  const [, h, w] = x.shape as [number, number, number, number];
  return tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [2 * h, 2 * w], false, false);
}

function linear(p: Params, cin: number, cout: number) {
  const w = p.uniform([cin, cout], cin);
  const b = p.uniform([cout], cin);
  return (x: tf.Tensor): tf.Tensor => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Variable<tf.Rank.R2>), b);
}

// ------------------------------------------------------------------ networks

function buildUnet(batch: number): Net {
  const p = new Params();
  const convIn = conv3(p, 3, 32);
  const rb1 = resBlock(p, 32);
  const down1 = conv3(p, 32, 64, 2);
  const rb2 = resBlock(p, 64);
  const down2 = conv3(p, 64, 128, 2);
  const rb3 = resBlock(p, 128);
  const upc1 = conv3(p, 128, 64);
  const rb4 = resBlock(p, 64);
  const upc2 = conv3(p, 64, 32);
  const rb5 = resBlock(p, 32);
  const normOut = groupNorm(p, 32);
  const convOut = conv3(p, 32, 3);
  const forward = (x: tf.Tensor): tf.Tensor => {
    let h = rb1(convIn(x));
    const skip1 = h;
    h = rb2(down1(h));
    const skip2 = h;
    h = rb3(down2(h));
    h = tf.add(upc1(up2(h)), skip2);
    h = rb4(h);
    h = tf.add(upc2(up2(h)), skip1);
    h = rb5(h);
    return convOut(silu(normOut(h)));
  };
  // NHWC: [B, 32, 32, 3] (PyTorch/fewstep: NCHW [B, 3, 32, 32]).
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", nextSeed());
  const y = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", nextSeed());
  return { vars: p.vars, forward, x, y };
}

function buildMlp(): Net {
  const p = new Params();
  const l1 = linear(p, 64, 256);
  const l2 = linear(p, 256, 256);
  const l3 = linear(p, 256, 256);
  const l4 = linear(p, 256, 64);
  const forward = (x: tf.Tensor): tf.Tensor => l4(silu(l3(silu(l2(silu(l1(x)))))));
  const x = tf.randomNormal([512, 64], 0, 1, "float32", nextSeed());
  const y = tf.randomNormal([512, 64], 0, 1, "float32", nextSeed());
  return { vars: p.vars, forward, x, y };
}

function build(name: string, batch: number): Net {
  if (name === "unet") return buildUnet(batch);
  if (name === "mlp") return buildMlp();
  throw new Error(`unknown net ${JSON.stringify(name)} (expected unet or mlp)`);
}

function disposeNet(net: Net, opt: tf.Optimizer): void {
  for (const v of net.vars) v.dispose();
  net.x.dispose();
  net.y.dispose();
  opt.dispose();
}

// ------------------------------------------------------------------ step

function makeOptimizer(): tf.AdamOptimizer {
  // torch.optim.AdamW defaults: betas (0.9, 0.999), eps 1e-8.
  return tf.train.adam(LR, 0.9, 0.999, 1e-8);
}

/** One step: grads at current params, decoupled decay, Adam update. Returns the
 * loss (computed before the update, like PyTorch's loss.backward(); opt.step()). */
function trainStep(net: Net, opt: tf.AdamOptimizer): tf.Scalar {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.squaredDifference(net.forward(net.x), net.y)) as tf.Scalar,
      net.vars,
    );
    // AdamW's decoupled weight decay: p <- p * (1 - lr*wd), applied before the
    // Adam update exactly as torch.optim.AdamW.step() does.
    const decay = 1 - LR * WD;
    for (const v of net.vars) v.assign(tf.mul(v, decay));
    opt.applyGradients(net.vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
    return value;
  });
}

function lossOnly(net: Net): number {
  return tf.tidy(() => tf.mean(tf.squaredDifference(net.forward(net.x), net.y)).dataSync()[0]);
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r3 = (x: number): number => Math.round(x * 1e3) / 1e3;

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      warmup: { type: "string", default: "1" },
      steps: { type: "string", default: "3" },
      nets: { type: "string", default: "unet,mlp" },
      batch: { type: "string", default: "64" },
      "sanity-steps": { type: "string", default: "2" },
      "sanity-batch": { type: "string", default: "1" },
    },
  });
  const warmup = Number(values.warmup);
  const steps = Number(values.steps);
  const batch = Number(values.batch);
  const sanitySteps = Number(values["sanity-steps"]);
  const sanityBatch = Number(values["sanity-batch"]);
  const nets = String(values.nets).split(",").map((s) => s.trim()).filter(Boolean);
  for (const [k, v] of [["warmup", warmup], ["steps", steps], ["batch", batch], ["sanity-steps", sanitySteps], ["sanity-batch", sanityBatch]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${k} must be a non-negative integer`);
  }

  await tf.setBackend("cpu");
  await tf.ready();
  const log = (msg: string): void => void process.stderr.write(`[peer-tfjs] ${msg}\n`);

  const results: Record<string, Record<string, unknown>> = {};
  for (const name of nets) {
    const b = name === "unet" ? batch : 512;

    if (sanitySteps > 0) {
      const sb = name === "unet" ? Math.max(1, Math.min(b, sanityBatch)) : b;
      const net = build(name, sb);
      const opt = makeOptimizer();
      const losses: number[] = [];
      for (let i = 0; i < sanitySteps; i++) {
        const l = trainStep(net, opt);
        losses.push(l.dataSync()[0]);
        l.dispose();
      }
      const after = lossOnly(net);
      const ok = after < losses[0];
      log(`sanity ${name} (batch ${sb}): losses [${losses.map((l) => l.toFixed(6)).join(", ")}] -> after ${after.toFixed(6)} (${ok ? "decreasing" : "NOT DECREASING"})`);
      disposeNet(net, opt);
      if (!ok) throw new Error(`sanity check failed for ${name}: loss did not decrease`);
    }

    const net = build(name, b);
    const opt = makeOptimizer();
    for (let i = 0; i < warmup; i++) {
      const l = trainStep(net, opt);
      l.dataSync();
      l.dispose();
    }
    const tensorsBefore = tf.memory().numTensors;
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const l = trainStep(net, opt);
      l.dataSync(); // the cpu backend is synchronous; this makes "finished" explicit
      const dt = performance.now() - t0;
      l.dispose();
      times.push(dt);
      log(`${name} step ${i + 1}/${steps}: ${dt.toFixed(1)} ms`);
    }
    // The first trainStep creates the Adam moment variables; after warm-up the
    // count must stay flat (the first timed step adds them when warmup = 0).
    log(`${name} tensors: ${tensorsBefore} before timed steps, ${tf.memory().numTensors} after`);
    const med = median(times);
    const res: Record<string, unknown> = {
      median_ms: med === null ? null : r3(med),
      steps,
      times_ms: times.map(r3),
    };
    if (name === "unet") res.batch = b;
    results[name] = res;
    disposeNet(net, opt);
  }

  process.stdout.write(
    JSON.stringify({
      peer: "tfjs-cpu",
      version: tf.version_core,
      backend: tf.getBackend(),
      threads: 1,
      results,
    }) + "\n",
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`[peer-tfjs] ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
