// Metrics against values known in closed form.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, randn, tensor, tidy } from "../../src/engine/index.js";
import { meanDistance, slicedWasserstein } from "../../src/eval/vector-metrics.js";
import { assertClose } from "../helpers/assert-close.js";

test("meanDistance is the mean Euclidean distance of pairs", () =>
  tidy(() => {
    const a = tensor([[0, 0], [1, 1]]);
    const b = tensor([[3, 4], [1, 2]]);
    assertClose([meanDistance(a, b)], [(5 + 1) / 2], { rtol: 1e-12 });
    assert.throws(() => meanDistance(a, tensor([1, 2])), /shapes/);
  }));

test("sliced W1 of a shift by d in D dimensions is |d| E|u_1| over unit directions", () =>
  tidy(() => {
    // For a translation by vector d, W1 along u is |u.d| exactly; E|u.d| = |d| E|u_1|, and for
    // uniform unit vectors in 2-D E|u_1| = 2/pi.
    const x = randn([2000, 2], new Generator(1), { dtype: "float64" });
    const shifted = x.add(tensor(new Float64Array([3, 0])));
    assertClose([slicedWasserstein(x, shifted, { projections: 4000 })], [(3 * 2) / Math.PI], { rtol: 0.02 });
    assert.ok(slicedWasserstein(x, x) < 1e-12);
    // two independent samples of one distribution differ only by sampling noise (~0.05 at n = 2000);
    // N(0, I) against N(0, 4I): along every direction W1(N(0,1), N(0,4)) = E|Z| = sqrt(2/pi)
    const y = randn([2000, 2], new Generator(2), { dtype: "float64" });
    assert.ok(slicedWasserstein(x, y) < 0.1);
    assertClose([slicedWasserstein(x, y.mul(2))], [Math.sqrt(2 / Math.PI)], { rtol: 0.1 });
  }));
