// libtorch exceptions become TorchError with libtorch's message and the op; the process goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DisposedError, TorchError, conv2d, oneLine, ones, tensor, tidy, zeros } from "../../src/engine/index.js";

function assertTorchError(fn: () => unknown, op: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TorchError, `expected TorchError, got ${String(error)}`);
    assert.equal(error.op, op);
    assert.match(error.message, message);
    return true;
  });
}

test("shape mismatch", () =>
  tidy(() => {
    assertTorchError(() => ones([2, 3]).matmul(ones([2, 3])), "matmul", /cannot be multiplied \(2x3 and 2x3\)/);
    assertTorchError(() => ones([2, 3]).add(ones([4])), "add", /size of tensor a \(3\) must match the size of tensor b \(4\)/);
    assertTorchError(() => conv2d(ones([1, 3, 8, 8]), ones([4, 2, 3, 3])), "conv2d", /expected input\[1, 3, 8, 8\] to have 2 channels/);
  }));

test("bad dtype", () =>
  tidy(() => {
    assertTorchError(() => ones([2, 2]).matmul(ones([2, 2], { dtype: "float64" })), "matmul", /expected scalar type Float but found Double/);
    assertTorchError(() => ones([3]).indexSelect(0, tensor([0.5])), "indexSelect", /index.*(Long|Int)/i);
  }));

test("index out of range", () =>
  tidy(() => {
    assertTorchError(() => ones([3]).indexSelect(0, tensor([7], { dtype: "int64" })), "indexSelect", /out of range|index/i);
    assertTorchError(() => ones([3]).narrow(0, 2, 5), "narrow", /start \(2\) \+ length \(5\) exceeds dimension size \(3\)/);
  }));

test("a disposed tensor used again", () => {
  const t = zeros([2]);
  t.dispose();
  assert.throws(() => t.add(1), DisposedError);
  assert.throws(() => t.shape, /disposed/);
  t.dispose(); // twice is fine
});

test("the process goes on after errors: the next ops compute normally", () =>
  tidy(() => {
    for (let i = 0; i < 100; i++) assert.throws(() => ones([2]).matmul(ones([3])), TorchError);
    assert.deepEqual(ones([2]).add(1).toNumbers(), [2, 2]);
  }));

test("oneLine escapes line breaks and control characters, and leaves other text alone", () => {
  assert.equal(oneLine('tensor "a\r\nb\t\u001b[2J\u007f\u2028" é ✓'), 'tensor "a\\r\\nb\\t\\u001b[2J\\u007f\\u2028" é ✓');
  assert.equal(oneLine("plain text"), "plain text");
});
