// Tensor creation, arithmetic, reductions and shape ops, against values computed in plain JS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { arange, cat, full, linspace, ones, stack, tensor, where, zeros, tidy } from "../../src/engine/index.js";
import { assertClose } from "../helpers/assert-close.js";

test("tensor() from nested arrays infers shape and dtype", () =>
  tidy(() => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, "float32");
    assert.deepEqual(t.toNumbers(), [1, 2, 3, 4, 5, 6]);
    assert.equal(tensor([true, false]).dtype, "bool");
    assert.equal(tensor([1, 2], { dtype: "int64" }).dtype, "int64");
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  }));

test("typed arrays keep their dtype; bytes round-trip", () =>
  tidy(() => {
    const f64 = tensor(new Float64Array([0.1, 0.2, 0.3, 0.4]), { shape: [2, 2] });
    assert.equal(f64.dtype, "float64");
    assert.deepEqual(Array.from(f64.data() as Float64Array), [0.1, 0.2, 0.3, 0.4]);
    const i64 = tensor(new BigInt64Array([1n, -2n, 3n]));
    assert.equal(i64.dtype, "int64");
    assert.deepEqual(i64.toNumbers(), [1, -2, 3]);
    assert.throws(() => tensor(new Float32Array(5), { shape: [2, 2] }), /needs 4 values, got 5/);
  }));

test("constants and ranges", () =>
  tidy(() => {
    assert.deepEqual(zeros([2, 2]).toNumbers(), [0, 0, 0, 0]);
    assert.deepEqual(ones([3], { dtype: "int64" }).toNumbers(), [1, 1, 1]);
    assert.deepEqual(full([2], 2.5, { dtype: "float64" }).toNumbers(), [2.5, 2.5]);
    assert.deepEqual(arange(0, 5).toNumbers(), [0, 1, 2, 3, 4]);
    assertClose(linspace(0, 1, 5).toNumbers(), [0, 0.25, 0.5, 0.75, 1]);
  }));

test("broadcasting arithmetic matches elementwise JS", () =>
  tidy(() => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { dtype: "float64" });
    const b = tensor([10, 20, 30], { dtype: "float64" });
    assert.deepEqual(a.add(b).toNumbers(), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(a.sub(b).toNumbers(), [-9, -18, -27, -6, -15, -24]);
    assert.deepEqual(a.mul(b).toNumbers(), [10, 40, 90, 40, 100, 180]);
    assertClose(a.div(b).toNumbers(), [0.1, 0.1, 0.1, 0.4, 0.25, 0.2]);
    assert.deepEqual(a.pow(2).toNumbers(), [1, 4, 9, 16, 25, 36]);
    assert.deepEqual(a.rsub(1).toNumbers(), [0, -1, -2, -3, -4, -5]);
    assert.deepEqual(a.maximum(3.5).toNumbers(), [3.5, 3.5, 3.5, 4, 5, 6]);
    assert.deepEqual(a.clamp(2, 5).toNumbers(), [2, 2, 3, 4, 5, 5]);
    assert.deepEqual(a.clamp(null, 2).toNumbers(), [1, 2, 2, 2, 2, 2]);
  }));

test("numbers do not promote dtypes (as PyTorch's Python scalars)", () =>
  tidy(() => {
    const i = tensor([1, 2, 3], { dtype: "int64" });
    assert.equal(i.add(2).dtype, "int64");
    assert.equal(i.mul(0.5).dtype, "float32"); // int * float scalar -> default float
    assert.equal(tensor([1], { dtype: "float32" }).mul(0.1).dtype, "float32");
  }));

test("comparisons and where", () =>
  tidy(() => {
    const a = tensor([1, 5, 3]);
    const mask = a.gt(2);
    assert.equal(mask.dtype, "bool");
    assert.deepEqual(mask.toNumbers(), [0, 1, 1]);
    assert.deepEqual(where(mask, a, 0).toNumbers(), [0, 5, 3]);
    assert.deepEqual(where(mask, -1, a).toNumbers(), [1, -1, -1]);
    assert.deepEqual(a.eq(3).toNumbers(), [0, 0, 1]);
    assert.deepEqual(a.le(3).logicalNot().toNumbers(), [0, 1, 0]);
  }));

test("unary functions match Math", () =>
  tidy(() => {
    const xs = [-2, -0.5, 0.1, 1.3, 3];
    const x = tensor(xs, { dtype: "float64" });
    const check = (t: ReturnType<typeof tensor>, f: (v: number) => number) => assertClose(t.toNumbers(), xs.map(f), { rtol: 1e-12, atol: 1e-12 });
    check(x.abs(), Math.abs);
    check(x.exp(), Math.exp);
    check(x.abs().log(), (v) => Math.log(Math.abs(v)));
    check(x.abs().sqrt(), (v) => Math.sqrt(Math.abs(v)));
    check(x.sin(), Math.sin);
    check(x.cos(), Math.cos);
    check(x.tanh(), Math.tanh);
    check(x.sigmoid(), (v) => 1 / (1 + Math.exp(-v)));
    check(x.softplus(), (v) => Math.log1p(Math.exp(v)));
    check(x.silu(), (v) => v / (1 + Math.exp(-v)));
    check(x.neg(), (v) => -v);
  }));

test("reductions over dims", () =>
  tidy(() => {
    const a = tensor([[1, 2, 3], [4, 5, 9]], { dtype: "float64" });
    assert.equal(a.sum().item(), 24);
    assert.deepEqual(a.sum(0).toNumbers(), [5, 7, 12]);
    assert.deepEqual(a.sum(1, true).shape, [2, 1]);
    assert.deepEqual(a.mean(1).toNumbers(), [2, 6]);
    assert.deepEqual(a.max(1).toNumbers(), [3, 9]);
    assert.equal(a.max().item(), 9);
    assert.deepEqual(a.argmax(1).toNumbers(), [2, 2]);
    // unbiased variance of [4, 5, 9]: mean 6, squares 4 + 1 + 9 = 14, / 2 = 7
    assert.deepEqual(a.var(1).toNumbers(), [1, 7]);
    assert.deepEqual(a.var(1, { unbiased: false }).toNumbers(), [2 / 3, 14 / 3]);
    assertClose(a.norm(2, 1).toNumbers(), [Math.sqrt(14), Math.sqrt(16 + 25 + 81)]);
    assertClose(a.logsumexp(1).toNumbers(), [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)), Math.log(Math.exp(4) + Math.exp(5) + Math.exp(9))]);
  }));

test("matmul against a hand computation", () =>
  tidy(() => {
    const a = tensor([[1, 2], [3, 4]]);
    const b = tensor([[5, 6], [7, 8]]);
    assert.deepEqual(a.matmul(b).toNumbers(), [19, 22, 43, 50]);
  }));

test("shape ops", () =>
  tidy(() => {
    const a = arange(0, 6).reshape([2, 3]);
    assert.deepEqual(a.transpose(0, 1).contiguous().toNumbers(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(a.permute([1, 0]).shape, [3, 2]);
    assert.deepEqual(a.narrow(1, 1, 2).toNumbers(), [1, 2, 4, 5]);
    assert.deepEqual(a.select(0, 1).toNumbers(), [3, 4, 5]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(a.unsqueeze(0).squeeze().shape, [2, 3]);
    assert.deepEqual(a.flatten().shape, [6]);
    assert.deepEqual(tensor([[1], [2]]).expand([2, 3]).toNumbers(), [1, 1, 1, 2, 2, 2]);
    assert.deepEqual(a.split(2, 1).map((t) => t.shape), [[2, 2], [2, 1]]);
    assert.deepEqual(a.split([1, 2], 1)[1].toNumbers(), [1, 2, 4, 5]);
    assert.deepEqual(a.chunk(2, 0)[1].toNumbers(), [3, 4, 5]);
    assert.deepEqual(cat([a, a], 0).shape, [4, 3]);
    assert.deepEqual(stack([a, a], 1).shape, [2, 2, 3]);
    assert.deepEqual(a.indexSelect(1, tensor([2, 0], { dtype: "int64" })).toNumbers(), [2, 0, 5, 3]);
    assert.deepEqual(a.flip([1]).toNumbers(), [2, 1, 0, 5, 4, 3]);
    assert.equal(a.size(-1), 3);
  }));

test("dtype and device conversion", () =>
  tidy(() => {
    const a = tensor([1.5, 2.5]);
    assert.equal(a.to("float64").dtype, "float64");
    assert.deepEqual(a.to("int64").toNumbers(), [1, 2]);
    // bf16 keeps 8 mantissa bits: 1.5 and 2.5 are exact
    assert.deepEqual(a.to("bfloat16").toNumbers(), [1.5, 2.5]);
    assert.deepEqual(a.to("float16").toNumbers(), [1.5, 2.5]);
    assert.equal(a.to({ device: "cpu" }).device, "cpu");
  }));

test("toString shows shape, dtype and values", () =>
  tidy(() => {
    const s = tensor([[1, 2], [3, 4.5]]).toString();
    assert.match(s, /shape=\[2, 2\], dtype=float32, device=cpu/);
    assert.match(s, /\[\[1, 2\],\n \[3, 4\.5000\]\]/);
    assert.match(arange(0, 100).toString(), /0, 1, 2, \.\.\., 97, 98, 99/);
  }));
