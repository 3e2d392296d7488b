// Deterministic memory: scopes free what they create, and a long training loop stays flat in
// live tensors and resident memory (Node's finalizers never run inside a synchronous loop).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AdamW,
  EMA,
  FewstepError,
  Generator,
  Scope,
  clipGradNorm,
  interpolateNearest,
  keep,
  liveTensors,
  ones,
  randn,
  tidy,
  type Tensor,
} from "../../src/engine/index.js";
import { Conv2d, GroupNorm, ParamStore } from "../../src/nn/index.js";

test("tidy disposes temporaries and hands results (in arrays and objects) to the enclosing scope", () => {
  const before = liveTensors();
  const [a, rest] = tidy(() => {
    const x = ones([4]);
    const y = x.add(1).mul(2);
    return [y.sum(), { b: y.mean() }] as const;
  });
  assert.equal(liveTensors(), before + 2);
  assert.equal(a.item(), 16);
  assert.equal(rest.b.item(), 4);
  a.dispose();
  rest.b.dispose();
  assert.equal(liveTensors(), before);
});

test("nested tidy: the inner result survives until the outer scope ends", () => {
  const before = liveTensors();
  const outer = tidy(() => {
    const inner = tidy(() => ones([2]).add(1));
    assert.equal(inner.isDisposed, false);
    return inner.mul(3).sum();
  });
  assert.equal(outer.item(), 12);
  outer.dispose();
  assert.equal(liveTensors(), before);
});

test("keep() takes a tensor out of its scope; an exception still frees the scope", () => {
  const before = liveTensors();
  let kept: Tensor | undefined;
  tidy(() => {
    kept = keep(ones([3]));
    ones([5]);
  });
  assert.equal(liveTensors(), before + 1);
  kept!.dispose();
  assert.throws(() =>
    tidy(() => {
      ones([2]);
      throw new Error("inside");
    }),
  );
  assert.equal(liveTensors(), before);
});

test("TS `using` frees a scope and single tensors at block end", () => {
  const before = liveTensors();
  {
    using scope = new Scope();
    void scope;
    ones([2]).add(1);
    using t = ones([3]);
    assert.equal(t.numel, 3);
  }
  assert.equal(liveTensors(), before);
});

test("tidy refuses an async function instead of leaking", () => {
  const before = liveTensors();
  assert.throws(() => tidy((async () => ones([1])) as unknown as () => Tensor), FewstepError);
  // the tensor made before the first await belonged to the scope, which was disposed
  assert.equal(liveTensors(), before);
});

test("2,000 training steps of a small conv net: live tensors and RSS stay flat", () => {
  const store = new ParamStore({ seed: 1 });
  const conv1 = new Conv2d(store.sub("conv1"), 3, 8, 3, { padding: 1 });
  const norm = new GroupNorm(store.sub("norm"), 4, 8);
  const down = new Conv2d(store.sub("down"), 8, 8, 3, { stride: 2, padding: 1 });
  const conv2 = new Conv2d(store.sub("conv2"), 8, 3, 3, { padding: 1 });
  const forward = (x: Tensor) => {
    const h = norm.forward(conv1.forward(x)).silu();
    const d = interpolateNearest(down.forward(h).silu(), { scaleFactor: 2 });
    return conv2.forward(d.add(h));
  };
  const params = store.parameters();
  const optimizer = new AdamW(params, { lr: 1e-3 });
  const ema = new EMA(params, 0.99);
  const generator = new Generator(0);
  const x = keep(randn([8, 3, 12, 12], generator));
  const y = keep(x.flip([3]));

  const step = () =>
    tidy(() => {
      optimizer.zeroGrad();
      const loss = forward(x).sub(y).square().mean();
      loss.backward();
      clipGradNorm(params, 1);
      optimizer.step();
      ema.update();
      return loss.item();
    });

  const warmup = 200;
  const total = 2000;
  let firstLoss = 0;
  for (let i = 0; i < warmup; i++) firstLoss = i === 0 ? step() : (step(), firstLoss);
  const liveAfterWarmup = liveTensors();
  const rssAfterWarmup = process.memoryUsage().rss;
  let lastLoss = 0;
  let maxLive = liveAfterWarmup;
  for (let i = warmup; i < total; i++) {
    lastLoss = step();
    if (i % 100 === 0) maxLive = Math.max(maxLive, liveTensors());
  }
  const growthMb = (process.memoryUsage().rss - rssAfterWarmup) / 2 ** 20;
  assert.equal(liveTensors(), liveAfterWarmup, "live tensor count changed after warm-up");
  assert.equal(maxLive, liveAfterWarmup, "live tensor count rose during training");
  assert.ok(growthMb < 50, `resident memory grew by ${growthMb.toFixed(1)} MB after warm-up (limit 50)`);
  assert.ok(lastLoss < firstLoss * 0.7, `the net did not learn: loss ${firstLoss} -> ${lastLoss}`);

  optimizer.dispose();
  ema.dispose();
  store.dispose();
  x.dispose();
  y.dispose();
});

test("building layers and an EMA leaves exactly their parameters and averages alive", () => {
  const before = liveTensors();
  const store = new ParamStore({ seed: 3 });
  new Conv2d(store.sub("conv"), 3, 4, 3);
  new GroupNorm(store.sub("norm"), 2, 4);
  assert.equal(liveTensors(), before + 4);
  const ema = new EMA(store.parameters(), 0.9);
  assert.equal(liveTensors(), before + 8);
  ema.dispose();
  store.dispose();
  assert.equal(liveTensors(), before);
});
