// Every External the addon hands out is type-tagged (napi_type_tag): a generator where a tensor
// belongs, a tensor where a generator belongs, or a plain object is a TorchError naming what came,
// never a misread pointer. Driven through the raw native surface, below Tensor's own checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, TorchError, liveTensors, ones, randn, tidy } from "../../src/engine/index.js";
import { native, type GeneratorHandle, type Handle } from "../../src/engine/native.js";

function assertTorchError(fn: () => unknown, op: string, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TorchError, `expected TorchError, got ${String(error)}`);
    assert.equal(error.op, op);
    assert.equal(error.message, `${op}: ${message}`);
    return true;
  });
}

const asGenerator = (value: unknown) => value as GeneratorHandle;
const asTensor = (value: unknown) => value as Handle;

test("a tensor, a plain object or a number where a generator belongs", () =>
  tidy(() => {
    const t = ones([2]);
    assertTorchError(() => native.randn([2], asGenerator(t.handle), 0, "cpu"), "randn", "argument 1 is a tensor, expected a generator");
    assertTorchError(() => native.rand([2], asGenerator({}), 0, "cpu"), "rand", "argument 1 is an object, expected a generator");
    assertTorchError(() => native.randint(0, 5, [2], asGenerator(7), "cpu"), "randint", "argument 3 is a number, expected a generator");
    assertTorchError(() => native.randperm(4, asGenerator(undefined), "cpu"), "randperm", "argument 1 is undefined, expected a generator");
    assertTorchError(() => native.generatorGetState(asGenerator(t.handle)), "generatorGetState", "argument 0 is a tensor, expected a generator");
    assertTorchError(() => native.generatorSetState(asGenerator(t.handle), t.handle), "generatorSetState", "argument 0 is a tensor, expected a generator");
  }));

test("a generator or a plain object where a tensor belongs", () =>
  tidy(() => {
    const g = new Generator(3);
    const t = ones([2]);
    assertTorchError(() => native.neg(asTensor(g.handle)), "neg", "argument 0 is a generator, expected a tensor");
    assertTorchError(() => native.add(t.handle, asTensor(g.handle)), "add", "argument 1 is a generator, expected a tensor");
    assertTorchError(() => native.matmul(asTensor({ handle: t.handle }), t.handle), "matmul", "argument 0 is an object, expected a tensor");
    assertTorchError(() => native.cat([t.handle, asTensor(g.handle)], 0), "cat", "element 1 of the tensor list is a generator, expected a tensor");
    assertTorchError(() => native.generatorSetState(g.handle, asTensor(g.handle)), "generatorSetState", "argument 1 is a generator, expected a tensor");
    assertTorchError(() => native.meta(asTensor([1, 2])), "meta", "argument 0 is an array, expected a tensor");
  }));

test("dispose, isLive and trackExternal refuse a generator instead of freeing it as a tensor", () => {
  const g = new Generator(11);
  const expected = tidy(() => randn([4], new Generator(11)).toNumbers());
  const before = liveTensors();
  assertTorchError(() => native.dispose(asTensor(g.handle)), "dispose", "argument 0 is a generator, expected a tensor");
  assertTorchError(() => native.isLive(asTensor(g.handle)), "isLive", "argument 0 is a generator, expected a tensor");
  assertTorchError(() => native.trackExternal(asTensor(g.handle)), "trackExternal", "argument 0 is a generator, expected a tensor");
  assert.equal(liveTensors(), before, "the live count did not move");
  // the generator is intact: it still draws its stream
  assert.deepEqual(tidy(() => randn([4], g).toNumbers()), expected);
});

test("tagged handles still work where they belong", () =>
  tidy(() => {
    const g = new Generator(5);
    const t = ones([3]);
    assert.equal(native.isLive(t.handle), true);
    assert.deepEqual(native.meta(t.handle), [0, "cpu", false, 3]);
    assert.equal(native.generatorDevice(g.handle), "cpu");
    const drawn = native.randn([3], g.handle, 0, "cpu");
    assert.equal(native.isLive(drawn), true);
    native.dispose(drawn);
    assert.equal(native.isLive(drawn), false);
  }));
