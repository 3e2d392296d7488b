// Frechet Inception Distance (Heusel et al. 2017, eq. 6) and Inception Score (Salimans et al. 2016,
// section 4): the numerical core, on features and class probabilities someone else computed.
// FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), the Frechet (W2) distance
// of the Gaussians N(mu1, S1) and N(mu2, S2) fitted to two feature sets.
// IS = exp(E_x KL(p(y|x) || p(y))), averaged over `splits` chunks of the samples.
import { ConfigError, ShapeError, arange, linalgEigh, tidy, where, type Tensor } from "../engine/index.js";

/** Mean and covariance of a feature set, float64: what FID compares. */
export interface GaussianStats {
  /** [d] */
  mean: Tensor;
  /** [d, d], with n - 1 in the denominator */
  cov: Tensor;
}

/**
 * Mean [d] and covariance [d, d] of features [n, d], in float64. The covariance divides by n - 1,
 * as numpy.cov(rowvar=False) in pytorch-fid, so results are comparable with published FIDs.
 */
export function gaussianStats(features: Tensor): GaussianStats {
  const [n, d] = features.shape;
  if (features.ndim !== 2) throw new ShapeError(`gaussianStats: features must be [n, d], got [${features.shape.join(", ")}]`);
  if (n < 2) throw new ShapeError(`gaussianStats: a covariance needs n >= 2 samples, got n = ${n} (features [${n}, ${d}])`);
  return tidy(() => {
    const x = features.to("float64");
    const bad = x.isfinite().logicalNot().sum().item();
    if (bad > 0) throw new ConfigError(`gaussianStats: features [${n}, ${d}] contain ${bad} NaN or infinite values`);
    const mean = x.mean(0);
    const centered = x.sub(mean);
    const cov = centered.transpose(0, 1).matmul(centered).div(n - 1);
    return { mean, cov };
  });
}

/**
 * The Frechet distance between N(a.mean, a.cov) and N(b.mean, b.cov), as a JS number (float64).
 *
 * Stable recipe (no non-symmetric matrix square root, unlike scipy.linalg.sqrtm in pytorch-fid):
 * S1^1/2 = V diag(sqrt(max(l, 0))) V^T from S1's eigendecomposition, then
 * tr((S1^1/2 S2 S1^1/2)^1/2) = sum sqrt(max(eig, 0)) over the eigenvalues of that symmetric PSD
 * matrix. Clamping at 0 removes the tiny negative eigenvalues rounding gives a singular covariance
 * (fewer samples than dimensions); their square roots would be imaginary. With a singular
 * covariance the null-space eigenvalues are rounding noise (~eps ||S1|| ||S2||) whose square roots
 * (~1e-8 ||S|| each) still enter the trace: FID is then good to ~1e-7 absolute at ||S|| ~ 10 (a set
 * against itself can give -3e-7), which is far below any difference FID is used to report.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  const d = a.mean.shape[0];
  for (const [name, s] of [["a", a], ["b", b]] as const) {
    if (s.mean.ndim !== 1 || s.mean.shape[0] !== d || s.cov.shape.join() !== [d, d].join()) {
      throw new ShapeError(
        `frechetDistance: expected mean [${d}] and cov [${d}, ${d}] for both sets, ` +
          `got ${name}.mean [${s.mean.shape.join(", ")}] and ${name}.cov [${s.cov.shape.join(", ")}]`,
      );
    }
  }
  return tidy(() => {
    const mu1 = a.mean.to("float64");
    const mu2 = b.mean.to("float64");
    const s1 = symmetrise(a.cov.to("float64"));
    const s2 = symmetrise(b.cov.to("float64"));
    const meanTerm = mu1.sub(mu2).square().sum();
    // S1^1/2: scale V's columns by sqrt(l), then V diag(.) V^T
    const { values: l, vectors: v } = linalgEigh(s1);
    const sqrtS1 = v.mul(rankCut(l).sqrt()).matmul(v.transpose(0, 1));
    const m = symmetrise(sqrtS1.matmul(s2).matmul(sqrtS1));
    const trSqrt = rankCut(linalgEigh(m).values).sqrt().sum();
    return meanTerm.add(trace(s1)).add(trace(s2)).sub(trSqrt.mul(2)).item();
  });
}

/**
 * Eigenvalues with those below d * eps * max|l| set to 0 (NumPy's matrix_rank cutoff): the zero
 * eigenvalues of a rank-deficient covariance come out as +-1e-15 noise whose square roots (~3e-8
 * each) would otherwise add up in the trace (measured: 1e-7 error on a rank-11 16x16 case, 7e-15
 * with the cut, against a 50-digit mpmath value).
 */
function rankCut(l: Tensor): Tensor {
  const cutoff = l.shape[0] * 2.220446049250313e-16 * l.abs().max().item();
  return where(l.lt(cutoff), 0, l);
}

/** (x + x^T) / 2: removes the rounding asymmetry of a product such as S1^1/2 S2 S1^1/2. */
function symmetrise(x: Tensor): Tensor {
  return x.add(x.transpose(0, 1)).mul(0.5);
}

/** Sum of the diagonal of a square matrix: every (d + 1)-th entry of the flat view. */
function trace(x: Tensor): Tensor {
  const d = x.shape[0];
  const diagonal = arange(0, d * d, d + 1, { dtype: "int64", device: x.device });
  return x.reshape([d * d]).indexSelect(0, diagonal).sum();
}

/** Inception Score: mean and spread over the chunks. */
export interface InceptionScore {
  mean: number;
  /** population standard deviation over the chunks (numpy.std, ddof 0), as in the original code */
  std: number;
}

/**
 * Inception Score of class probabilities p(y|x_i), probs [n, K] (rows: probabilities summing to 1).
 * As in the original implementation (OpenAI's inception_score.py): chunk i holds rows
 * [floor(i n / splits), floor((i + 1) n / splits)); per chunk, with p(y) the chunk's mean row,
 * score = exp(mean_i KL(p(y|x_i) || p(y))); the result is the mean and population std of the
 * chunk scores. 0 log 0 counts as 0, so one-hot rows are allowed.
 * @default splits 10 (the published convention, with n = 50000)
 */
export function inceptionScore(probs: Tensor, splits = 10): InceptionScore {
  if (probs.ndim !== 2) throw new ShapeError(`inceptionScore: probs must be [n, K], got [${probs.shape.join(", ")}]`);
  const [n, k] = probs.shape;
  if (n < 2) throw new ShapeError(`inceptionScore: needs n >= 2 samples, got probs [${n}, ${k}]`);
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new ConfigError(`inceptionScore: splits must be an integer in [1, n = ${n}], got ${splits}`);
  }
  const scores = tidy(() => {
    const p = probs.to("float64");
    // NaN fails both comparisons below, so it is reported too.
    const minimum = p.min().item();
    const rowError = p.sum(1).sub(1).abs().max().item();
    if (!(minimum >= 0) || !(rowError <= 1e-3)) {
      throw new ConfigError(
        `inceptionScore: each row of probs must be a probability vector (entries >= 0, summing to 1 within 1e-3); ` +
          `got smallest entry ${minimum} and largest |row sum - 1| ${rowError}`,
      );
    }
    const out: number[] = [];
    for (let i = 0; i < splits; i++) {
      const start = Math.floor((i * n) / splits);
      const part = p.narrow(0, start, Math.floor(((i + 1) * n) / splits) - start);
      const py = part.mean(0, true);
      // KL per row = sum_y p log(p / p(y)); entries with p = 0 contribute 0 (p(y) > 0 wherever p > 0)
      const kl = where(part.gt(0), part.mul(part.log().sub(py.log())), 0).sum(1);
      out.push(Math.exp(kl.mean().item()));
    }
    return out;
  });
  const mean = scores.reduce((s, x) => s + x, 0) / splits;
  const std = Math.sqrt(scores.reduce((s, x) => s + (x - mean) ** 2, 0) / splits);
  return { mean, std };
}
