// Generators on a device: `new Generator(seed, { device })`. A CPU generator (the default) is
// torch.Generator().manual_seed(seed) and draws for any device on the CPU; a CUDA generator draws
// on its device, which a draw's `device` must then match. The CUDA cases run only on a CUDA build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, Generator, TorchError, cudaAvailable, rand, randint, randn, randperm, tidy } from "../../src/engine/index.js";
import { native } from "../../src/engine/native.js";
import { assertClose, readFixture } from "../helpers/assert-close.js";

const torch42 = readFixture<{ cases: { generator_42: { randn: number[]; rand: number[]; randint: number[] } } }>("engine/torch_reference.json").cases.generator_42;
const noCuda = cudaAvailable() ? false : "needs a native addon built against a CUDA libtorch and a GPU";

test("a CPU generator, by default or named, draws torch.Generator().manual_seed(42)'s stream bit for bit", () =>
  tidy(() => {
    for (const g of [new Generator(42), new Generator(42, { device: "cpu" })]) {
      assert.equal(g.device, "cpu");
      assert.deepEqual(randn([6], g).toNumbers(), torch42.randn);
      assert.deepEqual(rand([4], g).toNumbers(), torch42.rand);
      assert.deepEqual(randint(0, 10, [5], g).toNumbers(), torch42.randint);
    }
  }));

test("a CPU generator's draws land on the CPU unless a device is asked for; float64 and randperm unchanged", () =>
  tidy(() => {
    const a = new Generator(7);
    const b = new Generator(7, { device: "cpu" });
    const x = randn([3], a, { dtype: "float64", device: "cpu" });
    assert.equal(x.device, "cpu");
    assert.deepEqual(x.toNumbers(), randn([3], b, { dtype: "float64" }).toNumbers());
    const p = randperm(10, a);
    assert.equal(p.device, "cpu");
    assert.deepEqual(p.toNumbers(), randperm(10, b).toNumbers());
    assert.deepEqual([...p.toNumbers()].sort((u, v) => u - v), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }));

test("an unknown device, or a CUDA generator on a CPU-only build, is refused naming the fix", { skip: cudaAvailable() ? "this build has CUDA" : false }, () => {
  assert.throws(() => new Generator(1, { device: "gpu" as "cuda" }), /Generator: unknown device 'gpu': use cpu, cuda or cuda:N/);
  for (const device of ["cuda", "cuda:1"] as const) {
    assert.throws(
      () => new Generator(1, { device }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.startsWith(`Generator: device '${device}': the native addon was built against a libtorch without CUDA`) &&
        /rebuild it against a CUDA build .*npm run build:native/.test(error.message),
    );
  }
  // The addon refuses it too, for callers below Generator.
  assert.throws(
    () => native.generatorNew(1, "cuda"),
    (error: unknown) => error instanceof TorchError && /a generator on cuda needs a libtorch with CUDA.*rebuild it against a CUDA build/.test(error.message),
  );
});

test("a CUDA generator draws on its device and reports it", { skip: noCuda }, () =>
  tidy(() => {
    const g = new Generator(42, { device: "cuda" });
    assert.equal(g.device, "cuda:0");
    const x = randn([1000], g);
    assert.equal(x.device, "cuda:0");
    assert.equal(randn([4], g, { device: "cuda" }).device, "cuda:0");
    assert.equal(rand([4], g, { device: "cuda:0" }).device, "cuda:0");
    const i = randint(0, 10, [100], g);
    assert.equal(i.device, "cuda:0");
    assert.equal(i.dtype, "int64");
    assert.deepEqual([...randperm(8, g).toNumbers()].sort((u, v) => u - v), [0, 1, 2, 3, 4, 5, 6, 7]);
    const mean = x.mean().item();
    const std = x.std().item();
    assert.ok(Math.abs(mean) < 0.15 && Math.abs(std - 1) < 0.1, `randn on cuda: mean ${mean}, std ${std}`);
  }));

test("CUDA generators: the same seed gives the same draws, independent of libtorch's default generator", { skip: noCuda }, () =>
  tidy(() => {
    const a = new Generator(3, { device: "cuda" });
    const first = randn([16], a).toNumbers();
    native.manualSeed(12345); // reseeds the default generators, not ours
    const b = new Generator(3, { device: "cuda" });
    assert.deepEqual(randn([16], b).toNumbers(), first);
    assert.notDeepEqual(randn([16], a).toNumbers(), first, "the stream moves on");
  }));

test("a draw's device must match a CUDA generator's; the error names both", { skip: noCuda }, () =>
  tidy(() => {
    const g = new Generator(1, { device: "cuda" });
    assert.throws(() => randn([2], g, { device: "cpu" }), /randn: the generator is on cuda:0 but device cpu was asked for/);
    assert.throws(() => randperm(4, g, { device: "cpu" }), /randperm: the generator is on cuda:0 but device cpu was asked for/);
  }));

test("a CPU generator asked for cuda draws on the CPU and moves: the CPU's numbers on the GPU", { skip: noCuda }, () =>
  tidy(() => {
    const onGpu = randn([6], new Generator(42), { device: "cuda" });
    assert.equal(onGpu.device, "cuda:0");
    assert.deepEqual(onGpu.toNumbers(), torch42.randn);
  }));

test("a CUDA generator's state restores its exact stream", { skip: noCuda }, () =>
  tidy(() => {
    const g = new Generator(9, { device: "cuda" });
    randn([10], g);
    const state = g.getState();
    assert.equal(state.device, "cpu");
    const expected = randn([5], g).toNumbers();
    const other = new Generator(99, { device: "cuda" });
    other.setState(state);
    assertClose(randn([5], other).toNumbers(), expected, { atol: 0, rtol: 0 });
  }));
