// `fewstep demo`: the engine end to end until the distillation quick start exists. Trains a
// 3-layer MLP to classify two interleaved spirals (a problem no linear model solves) with
// AdamW, gradient clipping and an EMA, and prints the loss falling and the accuracy rising.
import { AdamW, EMA, Generator, cat, clipGradNorm, getNumThreads, keep, linspace, noGrad, randn, stack, tidy, torchVersion, type Tensor } from "../engine/index.js";
import { Linear, ParamStore } from "../nn/index.js";

export interface DemoOptions {
  /** @default 1000 */ steps?: number;
  /** @default 0 */ seed?: number;
  /** @default console.log */ log?: (line: string) => void;
}

/** Two spirals of n points each, labels 0 and 1, with a little noise. */
function spirals(n: number, generator: Generator): { x: Tensor; y: Tensor } {
  return tidy(() => {
    const r = linspace(0.05, 1, n);
    const theta = r.mul(4 * Math.PI);
    const arm = (sign: number) => stack([theta.cos().mul(r).mul(sign), theta.sin().mul(r).mul(sign)], 1);
    const x = cat([arm(1), arm(-1)], 0).add(randn([2 * n, 2], generator).mul(0.02));
    const y = cat([linspace(0, 0, n, { dtype: "int64" }), linspace(1, 1, n, { dtype: "int64" })], 0);
    return { x, y };
  });
}

export function runDemo(opts: DemoOptions = {}): { firstLoss: number; lastLoss: number; accuracy: number } {
  const steps = opts.steps ?? 1000;
  const log = opts.log ?? console.log;
  const generator = new Generator(opts.seed ?? 0);
  const { x, y } = spirals(256, generator);
  keep(x);
  keep(y);
  const store = new ParamStore({ seed: opts.seed ?? 0 });
  const layers = [new Linear(store.sub(0), 2, 64), new Linear(store.sub(1), 64, 64), new Linear(store.sub(2), 64, 2)];
  const forward = (input: Tensor) => layers.reduce((h, layer, i) => (i === 0 ? layer.forward(h) : layer.forward(h.silu())), input);
  const params = store.parameters();
  const optimizer = new AdamW(params, { lr: 3e-3, weightDecay: 1e-4 });
  const ema = new EMA(params, 0.9);
  log(`fewstep engine demo: libtorch ${torchVersion()}, ${getNumThreads()} threads, ${store.count()} parameters, ${steps} AdamW steps`);

  const accuracy = () => tidy(() => noGrad(() => forward(x).argmax(1).eq(y).to("float32").mean().item()));
  let firstLoss = NaN;
  let lastLoss = NaN;
  const started = performance.now();
  for (let step = 1; step <= steps; step++) {
    optimizer.lr = 3e-3 * (1 - (step - 1) / steps); // linear annealing to 0
    lastLoss = tidy(() => {
      optimizer.zeroGrad();
      // cross-entropy: -log softmax(logits)[label]
      const loss = forward(x).logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg();
      loss.backward();
      clipGradNorm(params, 1);
      optimizer.step();
      ema.update();
      return loss.item();
    });
    if (step === 1) firstLoss = lastLoss;
    if (step === 1 || step % 100 === 0) log(`step ${String(step).padStart(5)}  loss ${lastLoss.toFixed(4)}  accuracy ${(accuracy() * 100).toFixed(1)}%`);
  }
  const acc = accuracy();
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s: loss ${firstLoss.toFixed(4)} -> ${lastLoss.toFixed(4)}, accuracy ${(acc * 100).toFixed(1)}%`);
  optimizer.dispose();
  ema.dispose();
  store.dispose();
  x.dispose();
  y.dispose();
  return { firstLoss, lastLoss, accuracy: acc };
}
