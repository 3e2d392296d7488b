// Layers, gradients, optimizers and seeded generators against values PyTorch computed
// (test/fixtures/engine/make_fixtures.py, float64): an independent implementation.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Adam,
  AdamW,
  Generator,
  SGD,
  avgPool2d,
  clipGradNorm,
  conv2d,
  convTranspose2d,
  embedding,
  groupNorm,
  interpolateNearest,
  layerNorm,
  linear,
  linspace,
  rand,
  randint,
  randn,
  stack,
  tensor,
  tidy,
  type Tensor,
} from "../../src/engine/index.js";
import { assertClose, readFixture } from "../helpers/assert-close.js";

interface Encoded {
  shape: number[];
  values: number[];
}
interface Case {
  inputs: Record<string, Encoded>;
  output: Encoded & Record<string, Encoded>;
  grads: Record<string, Encoded>;
  norms?: number[];
}
const ref = readFixture<{ cases: Record<string, Case> & { generator_42: { randn: number[]; rand: number[]; randint: number[] } } }>(
  "engine/torch_reference.json",
).cases;

const INT_INPUTS = new Set(["i"]);
function input(c: Case, name: string): Tensor {
  const e = c.inputs[name];
  if (INT_INPUTS.has(name)) return tensor(e.values, { dtype: "int64" }).reshape(e.shape);
  return tensor(new Float64Array(e.values), { shape: e.shape }).requiresGrad_();
}

/** Runs fn on the case's inputs and checks the output and d(sum(out * probe))/d(inputs). */
function checkCase(name: string, fn: (inputs: Record<string, Tensor>) => Tensor, tol = 1e-10): void {
  test(`${name} matches PyTorch (output and gradients)`, () =>
    tidy(() => {
      const c = ref[name];
      const inputs = Object.fromEntries(Object.keys(c.inputs).map((k) => [k, input(c, k)]));
      const out = fn(inputs);
      assert.deepEqual(out.shape, c.output.shape);
      assertClose(out.toNumbers(), c.output.values, { atol: tol, rtol: tol, what: `${name} output` });
      const probe = linspace(-1, 1, out.numel, { dtype: "float64" }).reshape(out.shape);
      out.mul(probe).sum().backward();
      for (const [k, g] of Object.entries(c.grads)) {
        assertClose(inputs[k].grad!.toNumbers(), g.values, { atol: tol, rtol: tol, what: `${name} d/d${k}` });
      }
    }));
}

checkCase("conv2d", ({ x, w, b }) => conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }));
checkCase("conv_transpose2d", ({ x, w, b }) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }));
checkCase("group_norm", ({ x, w, b }) => groupNorm(x, 3, w, b, 1e-5));
checkCase("layer_norm", ({ x, w, b }) => layerNorm(x, [5], w, b, 1e-5));
checkCase("interpolate_nearest", ({ x }) => interpolateNearest(x, { scaleFactor: 2 }));
checkCase("avg_pool2d", ({ x }) => avgPool2d(x, 2));
checkCase("softmax", ({ x }) => x.softmax(1));
checkCase("log_softmax", ({ x }) => x.logSoftmax(0));
checkCase("gelu", ({ x }) => x.gelu());
checkCase("gelu_tanh", ({ x }) => x.gelu("tanh"));
checkCase("silu", ({ x }) => x.silu());
checkCase("softplus", ({ x }) => x.softplus(2, 5));
checkCase("linear", ({ x, w, b }) => linear(x, w, b));
checkCase("var_std", ({ x }) => stack([x.var(1), x.std(1, { unbiased: false })]));
checkCase("norm", ({ x }) => x.norm(3, 0));
checkCase("embedding", ({ w, i }) => embedding(w, i));
checkCase("gather", ({ x, i }) => x.gather(1, i));
checkCase("matmul_batched", ({ a, b }) => a.matmul(b));

function checkOptimizer(name: string, make: (params: Tensor[]) => { step(): void; zeroGrad(): void }, clip?: number): void {
  test(`${name}: three steps match torch.optim`, () =>
    tidy(() => {
      const c = ref[name];
      const p = input(c, "p");
      const q = input(c, "q");
      const target = tensor(new Float64Array(c.inputs.target.values), { shape: c.inputs.target.shape });
      const opt = make([p, q]);
      const norms: number[] = [];
      for (let step = 0; step < 3; step++) {
        tidy(() => {
          opt.zeroGrad();
          const loss = p.sub(target).pow(2).sum().mul(3).add(q.pow(3).sum());
          loss.backward();
          if (clip !== undefined) norms.push(clipGradNorm([p, q], clip).item());
          opt.step();
        });
      }
      assertClose(p.toNumbers(), c.output.p.values, { atol: 1e-12, rtol: 1e-10, what: `${name} p` });
      assertClose(q.toNumbers(), c.output.q.values, { atol: 1e-12, rtol: 1e-10, what: `${name} q` });
      if (clip !== undefined) assertClose(norms, c.norms!, { rtol: 1e-12, what: `${name} grad norms` });
    }));
}

checkOptimizer("adam", (ps) => new Adam(ps, { lr: 0.1, weightDecay: 0.1 }));
checkOptimizer("adamw", (ps) => new AdamW(ps, { lr: 0.1, weightDecay: 0.1 }), 1.0);
checkOptimizer("sgd_momentum", (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9, weightDecay: 0.01 }));
checkOptimizer("sgd_nesterov", (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9, nesterov: true }));

test("Generator(seed) reproduces torch.Generator().manual_seed(seed)", () =>
  tidy(() => {
    const expected = ref.generator_42;
    const g = new Generator(42);
    assertClose(randn([6], g).toNumbers(), expected.randn, { rtol: 1e-6 });
    assertClose(rand([4], g).toNumbers(), expected.rand, { rtol: 1e-6 });
    assert.deepEqual(randint(0, 10, [5], g).toNumbers(), expected.randint);
  }));
