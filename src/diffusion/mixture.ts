// The exact teacher (DESIGN.md section 5): class-conditional isotropic Gaussian mixtures
//   p(x | c) = sum_k pi_ck N(mu_ck, s_ck^2 I),  classes equally likely,  p(x) = (1/C) sum_c p(x | c),
// whose posterior mean E[x | z_t, c] under z_t = alpha x + sigma eps is closed-form:
//   z_t | k ~ N(alpha mu_k, v_k I),  v_k = alpha^2 s_k^2 + sigma^2
//   r_k(z) = softmax_k( log pi_k - D/2 log v_k - |z - alpha mu_k|^2 / (2 v_k) )
//   E[x | z, k] = mu_k + (alpha s_k^2 / v_k)(z - alpha mu_k)
//   x-hat(z, c) = sum_k r_k E[x | z, k]
// The unconditional x-hat (label = C, the null label) sums over every class's components with
// weights pi_ck / C. Computed in float64 by default: a teacher with no training error.
import { existsSync, readFileSync } from "node:fs";
import {
  ConfigError,
  FewstepError,
  checkMemory,
  full,
  keep,
  noGrad,
  rand,
  randint,
  randn,
  tensor,
  tidy,
  type DType,
  type Generator,
  type Tensor,
} from "../engine/index.js";
import type { Cond, CondDenoiser, Denoiser } from "./denoiser.js";
import type { LabeledDataset } from "./dataset.js";
import { alphaSigmaTensor } from "./schedule.js";

/** JSON spec: means [C][K][D], stds [C][K], weights [C][K] (normalised within each class). */
export interface MixtureSpec {
  means: number[][][];
  stds: number[][];
  weights: number[][];
}

/** Checks a spec and names the first bad field path. */
export function validateMixtureSpec(spec: unknown, source = "mixture spec"): MixtureSpec {
  const fail = (path: string, problem: string): never => {
    throw new ConfigError(`${source}: ${path} ${problem}`);
  };
  // Numbers as written (JSON.stringify would show Infinity as null), anything else as JSON.
  const shown = (v: unknown): string => (typeof v === "number" ? String(v) : JSON.stringify(v));
  if (typeof spec !== "object" || spec === null) fail("(root)", 'must be an object {"means", "stds", "weights"}');
  const s = spec as Record<string, unknown>;
  for (const key of ["means", "stds", "weights"]) if (!Array.isArray(s[key])) fail(key, "must be an array");
  const means = s.means as unknown[];
  const stds = s.stds as unknown[];
  const weights = s.weights as unknown[];
  if (means.length === 0) fail("means", "needs at least one class");
  if (stds.length !== means.length) fail("stds", `has ${stds.length} classes but means has ${means.length}`);
  if (weights.length !== means.length) fail("weights", `has ${weights.length} classes but means has ${means.length}`);
  let dim = -1;
  means.forEach((cls, c) => {
    if (!Array.isArray(cls) || cls.length === 0) fail(`means[${c}]`, "must be a non-empty array of component means");
    const sc = stds[c];
    const wc = weights[c];
    if (!Array.isArray(sc) || sc.length !== (cls as unknown[]).length) fail(`stds[${c}]`, `must have ${(cls as unknown[]).length} entries`);
    if (!Array.isArray(wc) || wc.length !== (cls as unknown[]).length) fail(`weights[${c}]`, `must have ${(cls as unknown[]).length} entries`);
    (cls as unknown[]).forEach((mu, k) => {
      if (!Array.isArray(mu) || !mu.every((v) => typeof v === "number" && Number.isFinite(v))) fail(`means[${c}][${k}]`, "must be an array of finite numbers");
      if (dim === -1) dim = (mu as number[]).length;
      if ((mu as number[]).length !== dim || dim === 0) fail(`means[${c}][${k}]`, `has ${(mu as number[]).length} dimensions, expected ${dim}`);
      const sd = (sc as unknown[])[k];
      // Finite as well: JSON.parse reads 1e309 as Infinity, which would make every x-hat NaN.
      if (typeof sd !== "number" || !(sd > 0) || !Number.isFinite(sd)) fail(`stds[${c}][${k}]`, `must be a positive number, got ${shown(sd)}`);
      const w = (wc as unknown[])[k];
      if (typeof w !== "number" || !(w >= 0) || !Number.isFinite(w)) fail(`weights[${c}][${k}]`, `must be a non-negative number, got ${shown(w)}`);
    });
    const total = (wc as number[]).reduce((a, b) => a + b, 0);
    if (!(total > 0)) fail(`weights[${c}]`, "must not be all zero");
    if (!Number.isFinite(total)) fail(`weights[${c}]`, "sum to more than the largest float64; scale them down (only their ratios matter)");
  });
  return { means: means as number[][][], stds: stds as number[][], weights: weights as number[][] };
}

export class GaussianMixture implements LabeledDataset, CondDenoiser {
  readonly dim: number;
  readonly numClasses: number;
  /** The label meaning "no class": numClasses. */
  readonly nullLabel: number;
  readonly dtype: DType;
  readonly spec: MixtureSpec;
  // All components of all classes stacked: means [M, D], variances s^2 [M]
  private readonly mu: Tensor;
  private readonly s2: Tensor;
  private readonly muSq: Tensor; // |mu_m|^2 [M]
  // log mixture weight of component m under label c, [(C + 1), M]; -inf outside class c
  private readonly logWeights: Tensor;
  // per class: cumulative weights over its components, for sampling
  private readonly componentOffsets: number[];

  /** Shape of one example: [dim]. */
  get exampleShape(): number[] {
    return [this.dim];
  }

  /** @param opts.dtype precision of x-hat and samples. @default "float64" */
  constructor(spec: MixtureSpec, opts: { dtype?: DType } = {}) {
    this.spec = validateMixtureSpec(spec);
    this.dtype = opts.dtype ?? "float64";
    this.numClasses = spec.means.length;
    this.nullLabel = this.numClasses;
    this.dim = spec.means[0][0].length;
    const flatMeans = spec.means.flat();
    const flatStds = spec.stds.flat();
    const m = flatMeans.length;
    this.componentOffsets = [];
    // The weight table is dense, (C + 1) x M: bounded before it is allocated (10^6 classes of
    // one component each would ask for 10^12 entries).
    const entries = (this.numClasses + 1) * m;
    if (entries > 2 ** 32 - 1) throw new ConfigError(`a mixture of ${this.numClasses} classes and ${m} components in all needs a (C + 1) x M weight table of ${entries} entries, more than the 2^32 - 1 an array holds: use fewer classes or components`);
    checkMemory(2 * 8 * entries, `a mixture of ${this.numClasses} classes and ${m} components in all (its (C + 1) x M weight table)`, "the number of classes or components in the spec");
    // filled in place: a mixture of many classes has (C + 1) M entries, too many to spread
    const logW = new Float64Array((this.numClasses + 1) * m).fill(-Infinity);
    let offset = 0;
    for (let c = 0; c <= this.numClasses; c++) {
      const row = logW.subarray(c * m, (c + 1) * m);
      if (c < this.numClasses) {
        this.componentOffsets.push(offset);
        const total = spec.weights[c].reduce((a, b) => a + b, 0);
        spec.weights[c].forEach((w, k) => (row[offset + k] = Math.log(w / total)));
        offset += spec.weights[c].length;
      } else {
        let o = 0;
        spec.weights.forEach((ws) => {
          const total = ws.reduce((a, b) => a + b, 0);
          ws.forEach((w) => (row[o++] = Math.log(w / total / this.numClasses)));
        });
      }
    }
    this.componentOffsets.push(offset);
    [this.mu, this.s2, this.muSq, this.logWeights] = tidy(() => {
      const mu = tensor(flatMeans, { dtype: "float64" });
      const s2 = tensor(flatStds, { dtype: "float64" }).square();
      const muSq = mu.square().sum(1);
      const lw = tensor(logW, { shape: [this.numClasses + 1, m] });
      return [mu, s2, muSq, lw];
    }).map((t) => keep(t)) as [Tensor, Tensor, Tensor, Tensor];
  }

  /** Reads and validates a JSON spec file; errors name the file and the field. */
  static fromFile(path: string, opts: { dtype?: DType } = {}): GaussianMixture {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new FewstepError(`cannot read mixture spec ${path}: ${(error as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${path}: not valid JSON (${(error as Error).message})`);
    }
    return new GaussianMixture(validateMixtureSpec(json, path), opts);
  }

  /**
   * The exact posterior mean E[x | z_t, c] for labels [n] (label = numClasses: unconditional).
   * z: [n, D], t: [n]. Returns x-hat in the mixture's dtype.
   */
  posteriorMean(z: Tensor, t: Tensor, labels: Tensor): Tensor {
    this.checkInputs(z, t, labels);
    return tidy(() =>
      noGrad(() => {
        const z64 = z.to("float64");
        const { alpha, sigma } = alphaSigmaTensor(t.to("float64"));
        const a = alpha.unsqueeze(1); // [n, 1]
        const a2 = a.square();
        const v = a2.mul(this.s2).add(sigma.square().unsqueeze(1)); // [n, M]
        // |z - alpha mu|^2 = |z|^2 - 2 alpha z.mu + alpha^2 |mu|^2
        const sq = z64.square().sum(1, true).sub(z64.matmul(this.mu.transpose(0, 1)).mul(a).mul(2)).add(a2.mul(this.muSq));
        const logits = this.logWeights.indexSelect(0, labels).sub(v.log().mul(this.dim / 2)).sub(sq.div(v.mul(2)));
        const r = logits.softmax(1); // [n, M]
        const gain = a.mul(this.s2).div(v); // alpha s^2 / v, [n, M]
        const x = r.mul(a.mul(gain).rsub(1)).matmul(this.mu).add(z64.mul(r.mul(gain).sum(1, true)));
        return x.to(this.dtype);
      }),
    );
  }

  /** This teacher as a Denoiser (cond.w is ignored: wrap it with guided() for guidance). */
  get denoiser(): Denoiser {
    return (z: Tensor, t: Tensor, cond: Cond) => {
      if (!cond.labels) throw new ConfigError(`GaussianMixture: the exact teacher is class-conditional: pass cond.labels (${this.nullLabel} = no class)`);
      return this.posteriorMean(z, t, cond.labels);
    };
  }

  /** The null condition: the null class for every example (w kept). */
  nullCond(cond: Cond): Cond {
    if (!cond.labels) throw new ConfigError("GaussianMixture.nullCond: the condition has no labels");
    return { ...cond, labels: full([cond.labels.shape[0]], this.nullLabel, { dtype: "int64", device: cond.labels.device }) };
  }

  /** A batch for the trainers: the mixture is sampled on the CPU (its draws read labels on the host). */
  draw(n: number, generator: Generator): { x: Tensor; cond: Cond } {
    if (generator.device !== "cpu") throw new ConfigError(`GaussianMixture: vector mixtures are sampled on the CPU; train them with device "cpu" (got a ${generator.device} generator)`);
    const { x, labels } = this.sample(n, generator);
    return { x, cond: { labels } };
  }

  /** n samples of the data: labels uniform over classes unless given. */
  sample(n: number, generator: Generator, opts: { labels?: Tensor } = {}): { x: Tensor; labels: Tensor } {
    return tidy(() => {
      const labels = opts.labels ? opts.labels.clone() : randint(0, this.numClasses, [n], generator);
      const labelValues = labels.toNumbers();
      if (labelValues.length !== n) throw new ConfigError(`sample: ${labelValues.length} labels for n = ${n}`);
      const u = rand([n], generator, { dtype: "float64" }).toNumbers();
      const component = labelValues.map((c, i) => {
        if (!Number.isInteger(c) || c < 0 || c >= this.numClasses) throw new ConfigError(`sample: label ${c} is not a class (0..${this.numClasses - 1})`);
        const ws = this.spec.weights[c];
        const total = ws.reduce((a, b) => a + b, 0);
        let acc = 0;
        for (let k = 0; k < ws.length; k++) {
          acc += ws[k] / total;
          if (u[i] < acc) return this.componentOffsets[c] + k;
        }
        return this.componentOffsets[c] + ws.length - 1;
      });
      const index = tensor(component, { dtype: "int64" });
      const std = this.s2.indexSelect(0, index).sqrt().unsqueeze(1);
      const x = this.mu.indexSelect(0, index).add(randn([n, this.dim], generator, { dtype: "float64" }).mul(std));
      return { x: x.to(this.dtype), labels };
    });
  }

  private checkInputs(z: Tensor, t: Tensor, labels: Tensor): void {
    const [n, d] = z.shape;
    if (z.ndim !== 2 || d !== this.dim) throw new ConfigError(`mixture x-hat: z has shape [${z.shape}] but the mixture needs [n, ${this.dim}]`);
    if (t.shape.join() !== String(n)) throw new ConfigError(`mixture x-hat: t has shape [${t.shape}] but z has ${n} examples`);
    if (labels.shape.join() !== String(n) || labels.dtype !== "int64") throw new ConfigError(`mixture x-hat: labels must be int64 [${n}], got ${labels.dtype} [${labels.shape}]`);
  }

  dispose(): void {
    for (const t of [this.mu, this.s2, this.muSq, this.logWeights]) t.dispose();
  }
}

// ---- built-in mixtures ------------------------------------------------------------------------

/**
 * "ring2d": 3 classes in 2-D, each with 3 components on a ring of radius 2 (std 0.3, weights
 * 0.5/0.3/0.2), interleaved so the unconditional model is a 9-mode ring and guidance visibly
 * pushes samples away from the other classes' modes. For plots.
 */
function ring2d(): MixtureSpec {
  const classes = 3;
  const means = Array.from({ length: classes }, (_, c) =>
    Array.from({ length: 3 }, (_, k) => {
      const angle = (2 * Math.PI * (3 * k + c)) / 9;
      return [2 * Math.cos(angle), 2 * Math.sin(angle)];
    }),
  );
  return { means, stds: means.map((cls) => cls.map(() => 0.3)), weights: means.map(() => [0.5, 0.3, 0.2]) };
}

/**
 * "gauss64d": 10 classes in 64-D, 2 components each, means from a fixed closed-form pattern
 * (mu_ckd = 1.2 sin(1.7 (d + 1)(c + 1) + 2.3 k), no random generator involved), std 0.5.
 */
function gauss64d(): MixtureSpec {
  const means = Array.from({ length: 10 }, (_, c) =>
    Array.from({ length: 2 }, (_, k) => Array.from({ length: 64 }, (_, d) => 1.2 * Math.sin(1.7 * (d + 1) * (c + 1) + 2.3 * k))),
  );
  return { means, stds: means.map(() => [0.5, 0.5]), weights: means.map(() => [0.6, 0.4]) };
}

export const BUILTIN_MIXTURES: Readonly<Record<string, () => MixtureSpec>> = { ring2d, gauss64d };

/** A built-in mixture by name, or a JSON spec file by path. */
export function loadMixture(nameOrPath: string, opts: { dtype?: DType } = {}): GaussianMixture {
  const builtin = Object.hasOwn(BUILTIN_MIXTURES, nameOrPath) ? BUILTIN_MIXTURES[nameOrPath] : undefined;
  if (builtin) return new GaussianMixture(builtin(), opts);
  // a bare word that is no file was meant as a built-in: say which there are, not ENOENT
  if (!/[\\/]/.test(nameOrPath) && !nameOrPath.endsWith(".json") && !existsSync(nameOrPath)) {
    throw new FewstepError(`unknown mixture '${nameOrPath}': built-ins are ${Object.keys(BUILTIN_MIXTURES).join(", ")}, or give a JSON spec file`);
  }
  return GaussianMixture.fromFile(nameOrPath, opts);
}

/** Fills a [n] int64 tensor with one class label. */
export function classLabels(n: number, label: number): Tensor {
  return full([n], label, { dtype: "int64" });
}
