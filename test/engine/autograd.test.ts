// Autograd: gradients against closed forms, explicit output gradients, detach, noGrad, zeroGrad.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isGradEnabled, noGrad, tensor, tidy } from "../../src/engine/index.js";
import { assertClose } from "../helpers/assert-close.js";

test("d/dx sum(x^3) = 3x^2 and gradients accumulate until zeroGrad", () =>
  tidy(() => {
    const x = tensor([1, -2, 0.5], { dtype: "float64" }).requiresGrad_();
    assert.equal(x.grad, null);
    x.pow(3).sum().backward();
    assert.deepEqual(x.grad!.toNumbers(), [3, 12, 0.75]);
    x.pow(3).sum().backward();
    assert.deepEqual(x.grad!.toNumbers(), [6, 24, 1.5]);
    x.zeroGrad();
    assert.equal(x.grad, null);
  }));

test("backward of a non-scalar takes an explicit gradient (vector-Jacobian product)", () =>
  tidy(() => {
    const x = tensor([1, 2], { dtype: "float64" }).requiresGrad_();
    const y = x.exp(); // dy/dx = exp(x)
    y.backward(tensor([10, 0.5], { dtype: "float64" }));
    assertClose(x.grad!.toNumbers(), [10 * Math.E, 0.5 * Math.exp(2)], { rtol: 1e-14 });
    assert.throws(() => x.exp().backward(), /grad can be implicitly created only for scalar outputs/);
  }));

test("chain rule through matmul: d/dW sum(W x) = 1 x^T", () =>
  tidy(() => {
    const w = tensor([[1, 2], [3, 4]], { dtype: "float64" }).requiresGrad_();
    const x = tensor([[5], [7]], { dtype: "float64" });
    w.matmul(x).sum().backward();
    assert.deepEqual(w.grad!.toNumbers(), [5, 7, 5, 7]);
  }));

test("detach and noGrad cut the graph; noGrad restores the mode", () =>
  tidy(() => {
    const x = tensor([1, 2]).requiresGrad_();
    assert.equal(x.mul(2).requiresGrad, true);
    assert.equal(x.mul(2).detach().requiresGrad, false);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(isGradEnabled(), true);
    assert.throws(() => noGrad(() => { throw new Error("boom"); }), /boom/);
    assert.equal(isGradEnabled(), true);
  }));
