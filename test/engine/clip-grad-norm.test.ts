// clipGradNorm returns the pre-clip global norm as a 0-d tensor on the parameters' device (no
// host sync in the step) and scales the gradients as torch.nn.utils.clip_grad_norm_ does:
// coef = min(maxNorm / (norm + 1e-6), 1).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cat, clipGradNorm, liveTensors, tensor, tidy, type Tensor } from "../../src/engine/index.js";
import { assertClose } from "../helpers/assert-close.js";

/** Parameters whose gradients are exactly `grads` (the loss is sum(p * g)). */
function withGrads(grads: number[][]): Tensor[] {
  const params = grads.map((g) => tensor(new Float64Array(g.length), { dtype: "float64" }).requiresGrad_());
  params
    .map((p, i) => p.mul(tensor(grads[i], { dtype: "float64" })).sum())
    .reduce((a, b) => a.add(b))
    .backward();
  return params;
}

test("returns the pre-clip norm as a 0-d tensor and scales the gradients to maxNorm", () =>
  tidy(() => {
    const grads = [[3, 4], [12], [-2, 1, 0.5]];
    const params = withGrads(grads);
    const expected = Math.sqrt(grads.flat().reduce((s, v) => s + v * v, 0)); // sqrt(9+16+144+4+1+0.25)
    const byCat = cat(params.map((p) => p.grad!.flatten())).norm().item();
    const norm = clipGradNorm(params, 1);
    assert.deepEqual(norm.shape, []);
    assert.equal(norm.device, "cpu");
    assert.equal(norm.dtype, "float64");
    assertClose([norm.item()], [expected], { rtol: 1e-14, what: "returned norm" });
    assertClose([norm.item()], [byCat], { rtol: 1e-14, what: "returned norm vs the norm of all gradients" });
    const coef = 1 / (expected + 1e-6);
    params.forEach((p, i) => assertClose(p.grad!.toNumbers(), grads[i].map((g) => g * coef), { rtol: 1e-14, what: `grad ${i}` }));
    const after = cat(params.map((p) => p.grad!.flatten())).norm().item();
    assertClose([after], [1], { atol: 1e-6, rtol: 0, what: "norm after clipping" });
  }));

test("below maxNorm the gradients are left as they are (coef clamped to 1)", () =>
  tidy(() => {
    const params = withGrads([[0.3, -0.4]]);
    const norm = clipGradNorm(params, 10);
    assertClose([norm.item()], [0.5], { rtol: 1e-14 });
    assert.deepEqual(params[0].grad!.toNumbers(), [0.3, -0.4]);
  }));

test("no gradient at all: a 0-d zero", () =>
  tidy(() => {
    const norm = clipGradNorm([tensor([1, 2], { dtype: "float64" }).requiresGrad_()], 1);
    assert.deepEqual(norm.shape, []);
    assert.equal(norm.item(), 0);
  }));

test("the norm is a new tensor of the current scope: freed with it", () => {
  const params = withGrads([[1, 1]]);
  const before = liveTensors();
  const value = tidy(() => {
    const norm = clipGradNorm(params, 1);
    assert.equal(liveTensors(), before + 1);
    return norm.item();
  });
  assert.equal(liveTensors(), before);
  assertClose([value], [Math.SQRT2], { rtol: 1e-14 });
  for (const p of params) p.dispose();
});
