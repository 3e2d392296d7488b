// Saved state resumes exactly: optimizer state and generator state written to safetensors and read
// back give the same numbers as a run that never stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdamW, Generator, SGD, randn, tensor, tidy, type Optimizer, type Tensor } from "../../src/engine/index.js";
import { loadSafetensors, saveSafetensors } from "../../src/io/safetensors.js";
import { fromHost, toHostRecord } from "../../src/io/tensor-bridge.js";

function makeParams(): Tensor[] {
  return [tensor([[1, -2], [0.5, 3]], { dtype: "float64" }).requiresGrad_(), tensor([0.1, 0.2, -0.3], { dtype: "float64" }).requiresGrad_()];
}

function train(opt: Optimizer, params: Tensor[], steps: number): void {
  for (let i = 0; i < steps; i++) {
    tidy(() => {
      opt.zeroGrad();
      params[0].sub(1).pow(4).sum().add(params[1].exp().sum()).backward();
      opt.step();
    });
  }
}

for (const [name, make] of [
  ["AdamW", (ps: Tensor[]) => new AdamW(ps, { lr: 0.05 })],
  ["SGD momentum", (ps: Tensor[]) => new SGD(ps, { lr: 0.01, momentum: 0.9 })],
] as const) {
  test(`${name}: stop after 5 steps, save, load into a fresh optimizer, 5 more == 10 uninterrupted`, () => {
    const dir = mkdtempSync(join(tmpdir(), "fewstep-state-"));
    try {
      const straight = makeParams();
      train(make(straight), straight, 10);

      const first = makeParams();
      const opt1 = make(first);
      train(opt1, first, 5);
      const state = opt1.stateDict();
      const file = join(dir, "opt.safetensors");
      saveSafetensors(file, { ...toHostRecord(state.tensors), "param.0": toHostRecord({ p: first[0] }).p, "param.1": toHostRecord({ p: first[1] }).p }, {
        scalars: JSON.stringify(state.scalars),
      });

      const loaded = loadSafetensors(file);
      const resumed = [fromHost(loaded.tensors["param.0"]).requiresGrad_(), fromHost(loaded.tensors["param.1"]).requiresGrad_()];
      const opt2 = make(resumed);
      const tensors = Object.fromEntries(Object.entries(loaded.tensors).filter(([k]) => !k.startsWith("param.")).map(([k, h]) => [k, fromHost(h)]));
      opt2.loadStateDict({ tensors, scalars: JSON.parse(loaded.metadata.scalars) as Record<string, number> });
      train(opt2, resumed, 5);

      for (let i = 0; i < 2; i++) assert.deepEqual(resumed[i].toNumbers(), straight[i].toNumbers());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("generator state restores the exact random stream", () =>
  tidy(() => {
    const g = new Generator(7);
    randn([10], g);
    const state = g.getState();
    const expected = randn([5], g).toNumbers();
    const other = new Generator(99);
    other.setState(state);
    assert.deepEqual(randn([5], other).toNumbers(), expected);
  }));

test("loadStateDict names a missing or mis-shaped tensor", () =>
  tidy(() => {
    const opt = new AdamW(makeParams());
    const { tensors, scalars } = opt.stateDict();
    const broken = { ...tensors };
    delete broken["exp_avg.1"];
    assert.throws(() => opt.loadStateDict({ tensors: broken, scalars }), /missing tensor exp_avg\.1/);
    assert.throws(() => opt.loadStateDict({ tensors: { ...tensors, "exp_avg_sq.0": tensor([1]) }, scalars }), /exp_avg_sq\.0 has shape \[1\] but the parameter needs \[2,2\]/);
    opt.dispose();
  }));
