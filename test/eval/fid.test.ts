// Tests for src/eval/fid.ts and the engine's linalgEigh against values computed another way:
// NumPy's non-symmetric eigenvalues of S1 @ S2 (checked in the script against a Denman-Beavers
// sqrtm and a 50-digit mpmath run; test/fixtures/eval/make_fid_fixtures.py), NumPy's Inception
// Score, and identities: FID(a, a) = 0, FID(a, b) = FID(b, a), the closed form for diagonal
// covariances, IS = K for one-hot predictions spread evenly over K classes.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ConfigError, Generator, ShapeError, liveTensors, linalgEigh, randn, tensor, tidy, type Tensor,
} from "../../src/engine/index.js";
import { frechetDistance, gaussianStats, inceptionScore } from "../../src/eval/fid.js";
import { loadNpy } from "../../src/io/npy.js";
import { fromHost } from "../../src/io/tensor-bridge.js";
import { assertClose } from "../helpers/assert-close.js";

// Compiled to dist/test/eval/, three levels below the repository root.
const FIX = fileURLToPath(new URL("../../../test/fixtures/eval/", import.meta.url));
const load = (name: string): Tensor => fromHost(loadNpy(join(FIX, name)));

interface FidCase {
  n: number;
  d: number;
  fid: number;
  fidHighPrecision: number;
  trSqrt: number;
  rankA: number;
  meanA: number[];
  covARow0: number[];
}
interface Reference {
  wellConditioned: FidCase;
  rankDeficient: FidCase;
  inceptionScore: { splits: number; mean: number; std: number }[];
}
const ref = JSON.parse(readFileSync(join(FIX, "fid_reference.json"), "utf8")) as Reference;

const fidOf = (a: Tensor, b: Tensor): number => tidy(() => frechetDistance(gaussianStats(a), gaussianStats(b)));

test("linalgEigh: ascending eigenvalues, orthonormal vectors, V diag(l) V^T = x to 1e-10 (float64)", () =>
  tidy(() => {
    const known = linalgEigh(tensor([[2, 1], [1, 2]], { dtype: "float64" }));
    assertClose(known.values.toNumbers(), [1, 3], { atol: 1e-15, rtol: 0 });

    const g = randn([12, 12], new Generator(3), { dtype: "float64" });
    const x = g.add(g.transpose(0, 1));
    const { values, vectors } = linalgEigh(x);
    assert.deepEqual([values.shape, vectors.shape, values.dtype], [[12], [12, 12], "float64"]);
    const l = values.toNumbers();
    for (let i = 1; i < l.length; i++) assert.ok(l[i - 1] <= l[i], `eigenvalues not ascending at ${i}: ${l}`);
    const rebuilt = vectors.mul(values).matmul(vectors.transpose(0, 1));
    assertClose(rebuilt.toNumbers(), x.toNumbers(), { atol: 1e-10, rtol: 0, what: "V diag(l) V^T" });
    const gram = vectors.transpose(0, 1).matmul(vectors);
    const eye = Array.from({ length: 144 }, (_, i) => (i % 13 === 0 ? 1 : 0));
    assertClose(gram.toNumbers(), eye, { atol: 1e-12, rtol: 0, what: "V^T V" });

    assert.throws(() => linalgEigh(tensor([[1, 2, 3], [4, 5, 6]])), ShapeError);
  }));

test("gaussianStats: mean and n - 1 covariance equal numpy.mean and numpy.cov(rowvar=False)", () =>
  tidy(() => {
    const cases: [FidCase, string][] = [[ref.wellConditioned, "fid-a.npy"], [ref.rankDeficient, "fid-sing-a.npy"]];
    for (const [c, file] of cases) {
      const s = gaussianStats(load(file));
      assert.deepEqual([s.mean.shape, s.cov.shape, s.cov.dtype], [[c.d], [c.d, c.d], "float64"]);
      assertClose(s.mean.toNumbers(), c.meanA, { atol: 1e-14, rtol: 1e-12, what: "mean" });
      assertClose(s.cov.select(0, 0).toNumbers(), c.covARow0, { atol: 1e-14, rtol: 1e-12, what: "cov row 0" });
    }
  }));

test("frechetDistance: well-conditioned d = 8, n = 60 matches NumPy (eigvals of S1 S2) to 1e-6 relative", () => {
  const before = liveTensors();
  tidy(() => {
    const fid = fidOf(load("fid-a.npy"), load("fid-b.npy"));
    assertClose([fid], [ref.wellConditioned.fid], { atol: 0, rtol: 1e-6 });
    // in fact it agrees with the 50-digit value to rounding
    assertClose([fid], [ref.wellConditioned.fidHighPrecision], { atol: 0, rtol: 1e-12 });
  });
  assert.equal(liveTensors(), before);
});

test("frechetDistance: rank-deficient covariances (d = 16 from n = 12) match within the rounding noise of the null space", () =>
  tidy(() => {
    const c = ref.rankDeficient;
    assert.equal(c.rankA, 11);
    const fid = fidOf(load("fid-sing-a.npy"), load("fid-sing-b.npy"));
    // S1 S2 has d - rank = 5 eigenvalues that are exactly 0 but come out of float64 as noise of
    // ~1e-15, whose square roots (~3e-8 each) would enter tr sqrt; fewstep cuts eigenvalues below
    // d * eps * max|l| (NumPy's rank cutoff), so it matches the 50-digit value closely. NumPy's
    // eigvals route keeps the noise: it is off by 2.4e-7 (measured), hence 1e-6 against it.
    assertClose([fid], [c.fidHighPrecision], { atol: 1e-9, rtol: 0, what: "FID vs 50-digit mpmath" });
    assertClose([fid], [c.fid], { atol: 1e-6, rtol: 0, what: "FID vs NumPy eigvals" });
    assert.ok(fid > 0);
  }));

test("frechetDistance: a set against itself is 0 within 1e-8, and FID(a, b) = FID(b, a)", () =>
  tidy(() => {
    const a = load("fid-a.npy");
    const b = load("fid-b.npy");
    const self = fidOf(a, a);
    assert.ok(Math.abs(self) <= 1e-8, `FID(a, a) = ${self}`);
    assertClose([fidOf(b, a)], [fidOf(a, b)], { atol: 0, rtol: 1e-10, what: "symmetry, well-conditioned" });
    const sa = load("fid-sing-a.npy");
    const sb = load("fid-sing-b.npy");
    assertClose([fidOf(sb, sa)], [fidOf(sa, sb)], { atol: 1e-9, rtol: 0, what: "symmetry, rank-deficient" });
    assert.ok(Math.abs(fidOf(sa, sa)) <= 1e-9, "FID(a, a), rank-deficient");
  }));

test("frechetDistance: diagonal Gaussians give |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2", () =>
  tidy(() => {
    const mu1 = [0.5, -1, 2, 0, 3];
    const mu2 = [1, 1, -2, 0.25, 3];
    const a = [1, 4, 0.25, 9, 0]; // one zero variance: a singular covariance
    const b = [2, 1, 0.25, 16, 0.01];
    const diag = (v: number[]): Tensor => tensor(v.map((x, i) => v.map((_, j) => (i === j ? x : 0))), { dtype: "float64" });
    const stats = (mu: number[], v: number[]) => ({ mean: tensor(mu, { dtype: "float64" }), cov: diag(v) });
    let expected = 0;
    for (let i = 0; i < 5; i++) expected += (mu1[i] - mu2[i]) ** 2 + (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
    assertClose([frechetDistance(stats(mu1, a), stats(mu2, b))], [expected], { atol: 1e-12, rtol: 1e-12 });
  }));

test("gaussianStats and frechetDistance reject bad shapes, n < 2 and non-finite features", () =>
  tidy(() => {
    assert.throws(() => gaussianStats(tensor([1, 2, 3])), (e: unknown) => e instanceof ShapeError && /\[n, d\]/.test(e.message));
    assert.throws(() => gaussianStats(tensor([[1, 2, 3]])), (e: unknown) => e instanceof ShapeError && /n >= 2/.test(e.message));
    assert.throws(() => gaussianStats(tensor([[1, NaN], [0, 1]])), ConfigError);
    const s3 = gaussianStats(randn([10, 3], new Generator(1)));
    const s4 = gaussianStats(randn([10, 4], new Generator(2)));
    assert.throws(() => frechetDistance(s3, s4), (e: unknown) => e instanceof ShapeError && /cov \[4, 4\]/.test(e.message));
  }));

test("inceptionScore matches NumPy (n = 100, K = 10) to 1e-6 relative for 10, 3 (uneven chunks) and 1 splits", () => {
  const before = liveTensors();
  tidy(() => {
    const probs = load("is-probs.npy");
    for (const r of ref.inceptionScore) {
      const is = inceptionScore(probs, r.splits);
      assertClose([is.mean], [r.mean], { atol: 0, rtol: 1e-6, what: `mean, ${r.splits} splits` });
      assertClose([is.std], [r.std], { atol: 1e-12, rtol: 1e-6, what: `std, ${r.splits} splits` });
    }
    // float32 probabilities are accepted and computed in float64
    assertClose([inceptionScore(probs.to("float32"), 10).mean], [ref.inceptionScore[0].mean], { atol: 0, rtol: 1e-5 });
  });
  assert.equal(liveTensors(), before);
});

test("inceptionScore: one-hot predictions spread evenly over K classes give exactly K", () =>
  tidy(() => {
    const k = 5;
    const rows = Array.from({ length: 20 }, (_, i) => Array.from({ length: k }, (_, j) => (j === i % k ? 1 : 0)));
    const probs = tensor(rows, { dtype: "float64" });
    const one = inceptionScore(probs, 1);
    assertClose([one.mean, one.std], [k, 0], { atol: 1e-12, rtol: 0 });
    // chunks of 5 consecutive rows also hold every class once
    const four = inceptionScore(probs, 4);
    assertClose([four.mean, four.std], [k, 0], { atol: 1e-12, rtol: 0 });
    // a single class everywhere: p(y|x) = p(y), IS = 1
    assertClose([inceptionScore(tensor([[0, 1], [0, 1], [0, 1]]), 1).mean], [1], { atol: 1e-12, rtol: 0 });
  }));

test("inceptionScore rejects bad shapes, n < 2, bad splits and rows that are not probabilities", () =>
  tidy(() => {
    const p = tensor([[0.5, 0.5], [0.2, 0.8], [1, 0]]);
    const is = (fn: () => unknown, cls: typeof ShapeError | typeof ConfigError, pattern: RegExp): void =>
      assert.throws(fn, (e: unknown) => e instanceof cls && pattern.test(e.message));
    is(() => inceptionScore(tensor([0.5, 0.5]), 1), ShapeError, /\[n, K\]/);
    is(() => inceptionScore(tensor([[0.5, 0.5]]), 1), ShapeError, /n >= 2/);
    is(() => inceptionScore(p, 4), ConfigError, /splits .* \[1, n = 3\], got 4/);
    is(() => inceptionScore(p, 0), ConfigError, /splits/);
    is(() => inceptionScore(p, 1.5), ConfigError, /splits/);
    is(() => inceptionScore(tensor([[1.2, -0.2], [0.5, 0.5]]), 1), ConfigError, /smallest entry -0.2/);
    is(() => inceptionScore(tensor([[0.5, 0.51], [0.5, 0.5]]), 1), ConfigError, /row sum/);
    is(() => inceptionScore(tensor([[NaN, 1], [0.5, 0.5]]), 1), ConfigError, /probability vector/);
    // within the 1e-3 tolerance is fine
    assert.ok(inceptionScore(tensor([[0.5, 0.5005], [0.5, 0.5]]), 1).mean >= 1);
  }));
