// Class-conditional MLP denoiser for vector data: x-hat(z_t, t, c[, w]) (DESIGN.md section 4).
// Notation: z = z_t [n, D]; lambda = log-SNR(t); alpha, sigma = alpha_t, sigma_t;
// v = alpha eps - sigma x, so x-hat = alpha z - sigma v-hat (schedule.ts xFromV).
//
//   e   = timeMlp(fourier(lambda(t))) + classEmbed[c] (+ wMlp(fourier(w / wMax)) for students)
//   h_0 = input(z);  h_{k+1} = h_k + fc2(silu(fc1(layerNorm(h_k)) + emb(silu(e))))
//   out = output(silu(layerNorm(h_depth)));  x-hat = out ("x") or alpha z - sigma out ("v")
//
// The w path is stage one's (Meng et al. 2023; DESIGN.md section 4): w enters like t, through
// Fourier features and a small MLP added to the time embedding. Its last layer starts at zero, so a
// stage-one student built from a teacher computes exactly the teacher's x-hat at any w.
//
// Layering note: this file imports diffusion/schedule.ts and diffusion/denoiser.ts (types), two
// leaf files that import only the engine, because "x" / "v" output conversion is part of the model.
import { cat, embedding, keep, layerNorm, ones, randn, tensor, tidy, zeros, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { alphaSigmaTensor, logSnrTensor, xFromV, LAMBDA_MAX, LAMBDA_MIN } from "../diffusion/schedule.js";
import type { Cond, Denoiser } from "../diffusion/denoiser.js";
import { EmbedMlp, Linear, fourierFrequencies } from "./layers.js";
import type { ParamStore } from "./param-store.js";

/** What the network's D outputs mean: the clean data ("x") or the velocity v ("v"). */
export type Prediction = "x" | "v";

/** Architecture of an MlpDenoiser; saved in checkpoints (JSON) so the model can be rebuilt. */
export interface MlpDenoiserConfig {
  /** Data dimension D. Required. */
  dim: number;
  /** Number of classes C; label C is the null (unconditional) class. Required. */
  numClasses: number;
  /** Width of every hidden layer and of the condition embedding. @default 256 */
  hidden: number;
  /** Number of residual blocks. @default 4 */
  depth: number;
  /** Number of Fourier frequencies for t (and w): 2x this many sin/cos features. @default 16 */
  fourierFeatures: number;
  /** What the network outputs; forward() always returns x-hat. @default "v" */
  prediction: Prediction;
  /** Whether the model takes the guidance weight w (stage-one students). @default false */
  wInput: boolean;
  /** w is divided by this before its Fourier features, so the usual w range maps to about [0, 1]. @default 4 */
  wMax: number;
}

/**
 * Defaults of MlpDenoiserConfig, each with its reason.
 */
export const MLP_DENOISER_DEFAULTS = {
  // 256 wide x 4 blocks (~0.9 M parameters): capacity to spare for 2-D to ~100-D mixtures, so
  // teacher error stays below the sampler errors we measure. Cost: about 20-50 steps/s at batch
  // 256 on 2 CPU cores (measured under load, 1-2 threads); a small test model is 500 steps/s.
  hidden: 256,
  depth: 4,
  // 16 log-spaced frequencies (0.25 to 32 cycles over the unit range) resolve a change of
  // lambda by ~1 (the scale on which a posterior mean moves) without aliasing.
  fourierFeatures: 16,
  // v: x-hat = alpha z - sigma v-hat has the identity skip built in where z is almost clean
  // (t -> 0) and a bounded target everywhere (Salimans & Ho 2022, sec. 4), so teacher training is
  // stable over all t. Distillation still regresses x-hat (DESIGN.md section 4); only the
  // network's output space changes.
  prediction: "v" as Prediction,
  // Teachers have no w; stage one turns it on when it builds the student from the teacher.
  wInput: false,
  // Guidance weights of interest lie in [0, 4] (the paper's w range), so w / 4 is in [0, 1],
  // the range the shared Fourier frequencies are laid out for.
  wMax: 4,
} as const;


/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveMlpDenoiserConfig(config: Partial<MlpDenoiserConfig> & { dim: number; numClasses: number }): MlpDenoiserConfig {
  const known = new Set(["dim", "numClasses", "hidden", "depth", "fourierFeatures", "prediction", "wInput", "wMax"]);
  const r: MlpDenoiserConfig = {
    dim: config.dim,
    numClasses: config.numClasses,
    hidden: config.hidden ?? MLP_DENOISER_DEFAULTS.hidden,
    depth: config.depth ?? MLP_DENOISER_DEFAULTS.depth,
    fourierFeatures: config.fourierFeatures ?? MLP_DENOISER_DEFAULTS.fourierFeatures,
    prediction: config.prediction ?? MLP_DENOISER_DEFAULTS.prediction,
    wInput: config.wInput ?? MLP_DENOISER_DEFAULTS.wInput,
    wMax: config.wMax ?? MLP_DENOISER_DEFAULTS.wMax,
  };
  const bad: string[] = [];
  const posInt = (name: keyof MlpDenoiserConfig, min: number) => {
    const v = r[name];
    if (!Number.isSafeInteger(v) || (v as number) < min) bad.push(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  for (const key of Object.keys(config)) if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
  posInt("dim", 1);
  posInt("numClasses", 1);
  posInt("hidden", 1);
  posInt("depth", 0);
  posInt("fourierFeatures", 1);
  if (r.prediction !== "x" && r.prediction !== "v") bad.push(`prediction must be "x" or "v", got ${JSON.stringify(r.prediction)}`);
  if (typeof r.wInput !== "boolean") bad.push(`wInput must be true or false, got ${JSON.stringify(r.wInput)}`);
  if (typeof r.wMax !== "number" || !(r.wMax > 0) || !Number.isFinite(r.wMax)) bad.push(`wMax must be a positive number, got ${JSON.stringify(r.wMax)}`);
  if (bad.length > 0) throw new ConfigError(`MlpDenoiser config: ${bad.join("; ")}`);
  return r;
}

/** LayerNorm over the last dim with affine weight (ones) and bias (zeros), as torch.nn.LayerNorm. */
class LayerNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(store: ParamStore, readonly features: number) {
    this.weight = store.param("weight", () => ones([features]));
    this.bias = store.param("bias", () => zeros([features]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, [this.features], this.weight, this.bias);
  }
}

/** One pre-norm residual block; the condition is added to the first layer's output. */
class ResBlock {
  readonly norm: LayerNorm;
  readonly fc1: Linear;
  readonly emb: Linear;
  readonly fc2: Linear;
  constructor(store: ParamStore, hidden: number) {
    this.norm = new LayerNorm(store.sub("norm"), hidden);
    this.fc1 = new Linear(store.sub("fc1"), hidden, hidden);
    this.emb = new Linear(store.sub("emb"), hidden, hidden);
    this.fc2 = new Linear(store.sub("fc2"), hidden, hidden);
  }
  /** @param e silu(condition embedding) [n, hidden] */
  forward(h: Tensor, e: Tensor): Tensor {
    // Addition, not FiLM: each block gets its own projection of the condition (as the ResBlocks of
    // DDPM/ADM add their time embedding), which is enough for low-dimensional data and keeps the
    // zero-w-path identity exact (a zero w embedding changes nothing, not even through a scale).
    return h.add(this.fc2.forward(this.fc1.forward(this.norm.forward(h)).add(this.emb.forward(e)).silu()));
  }
}

/** Prefix of every w-path parameter name. */
export const W_PATH_PREFIX = "w_embed.";

/**
 * An MLP denoiser for class-conditional vector data. `forward` (and `denoiser`) return x-hat,
 * so the model is a `Denoiser` for every sampler, guidance wrapper and distillation stage.
 *
 * Parameter names (PyTorch style, under the store's prefix): `input`, `time_embed.{0,2}`,
 * `class_embed.weight` ([numClasses + 1, hidden]; the last row is the null class),
 * `blocks.<k>.{norm,fc1,emb,fc2}`, `out_norm`, `output`, and for w students `w_embed.{0,2}`.
 *
 * Give each model a root store of its own: named(), parameters(), loadWeights() and dispose()
 * act on the whole store.
 *
 * @example
 * const model = new MlpDenoiser(new ParamStore({ seed: 0 }), { dim: 2, numClasses: 2 });
 * const xHat = model.forward(z, t, { labels });
 */
export class MlpDenoiser {
  readonly store: ParamStore;
  /** The model as a Denoiser function (z, t, cond) => x-hat. */
  readonly denoiser: Denoiser = (z, t, cond) => this.forward(z, t, cond);
  /** The MLP has no dropout: these exist for the DenoiserModel interface (nn/model.ts) and change nothing. */
  training = false;
  dropoutGenerator: Generator | null = null;

  private readonly input: Linear;
  private readonly timeEmbed: EmbedMlp;
  private readonly classEmbed: Tensor;
  private readonly blocks: ResBlock[];
  private readonly outNorm: LayerNorm;
  private readonly output: Linear;
  private wEmbed: EmbedMlp | null = null;
  private readonly cfg: MlpDenoiserConfig;
  /** Fourier frequencies [F]: a fixed buffer, not a parameter (never trained, not in the store). */
  private readonly freqs: Tensor;

  /**
   * Creates the parameters in `store` (drawing from its generator). The w path is created last,
   * so a w model and a plain model from the same seed share every other initial value.
   */
  constructor(store: ParamStore, config: Partial<MlpDenoiserConfig> & { dim: number; numClasses: number }) {
    const c = resolveMlpDenoiserConfig(config);
    this.store = store;
    this.cfg = { ...c, wInput: false };
    const F = c.fourierFeatures;
    this.input = new Linear(store.sub("input"), c.dim, c.hidden);
    this.timeEmbed = new EmbedMlp(store.sub("time_embed"), 2 * F, c.hidden);
    // N(0, 1) rows, as torch.nn.Embedding; one extra row for the null class.
    this.classEmbed = store.sub("class_embed").param("weight", (g) => randn([c.numClasses + 1, c.hidden], g));
    this.blocks = Array.from({ length: c.depth }, (_, k) => new ResBlock(store.sub("blocks").sub(k), c.hidden));
    this.outNorm = new LayerNorm(store.sub("out_norm"), c.hidden);
    this.output = new Linear(store.sub("output"), c.hidden, c.dim);
    this.freqs = keep(tensor(fourierFrequencies(F), { device: this.input.weight.device }));
    if (c.wInput) this.addWInput();
  }

  /**
   * Adds the guidance-weight input (stage one): `w_embed.0` random, `w_embed.2` zero, so the
   * model's x-hat is unchanged for every w until training moves it. Parameters join the store,
   * so build the optimizer after this call.
   * @throws ConfigError when the model already takes w
   */
  addWInput(): this {
    if (this.wEmbed) throw new ConfigError("MlpDenoiser.addWInput: the model already takes w");
    this.wEmbed = new EmbedMlp(this.store.sub("w_embed"), 2 * this.cfg.fourierFeatures, this.cfg.hidden, { zeroLast: true });
    this.cfg.wInput = true;
    return this;
  }

  /** Shape of one example: [dim]. */
  get exampleShape(): number[] {
    return [this.cfg.dim];
  }

  /** The resolved architecture (a copy; wInput turns true after addWInput()). */
  get config(): MlpDenoiserConfig {
    return { ...this.cfg };
  }

  /** Full names of the w-path parameters (empty without a w input). */
  wPathNames(): string[] {
    const prefix = this.store.prefix ? `${this.store.prefix}.${W_PATH_PREFIX}` : W_PATH_PREFIX;
    return [...this.store.named().keys()].filter((k) => k.startsWith(prefix));
  }

  /** The store's parameters, by full name (live references). */
  named(): Map<string, Tensor> {
    return this.store.named();
  }

  /** The store's parameters in creation order (for optimizers). */
  parameters(): Tensor[] {
    return this.store.parameters();
  }

  /** sin/cos features [n, 2F] of u [n] (expected in about [0, 1]). */
  private fourier(u: Tensor): Tensor {
    const angles = u.unsqueeze(1).mul(this.freqs);
    return cat([angles.sin(), angles.cos()], 1);
  }

  /** t or w in the weights' dtype, so a float64 t neither fails nor promotes x-hat to float64. */
  private asWeightDtype(x: Tensor): Tensor {
    return x.dtype === this.freqs.dtype ? x : x.to(this.freqs.dtype);
  }

  /** The condition embedding e [n, hidden] (before the blocks' SiLU). */
  private embed(t: Tensor, cond: Cond): Tensor {
    // Fourier features of lambda(t) mapped to [0, 1], not of t: the posterior mean moves on a
    // log-SNR scale, and near t = 0 the cosine schedule sweeps lambda from 20 to 5 within
    // t < 0.05, which t-features would need very high frequencies to resolve.
    const u = logSnrTensor(this.asWeightDtype(t)).sub(LAMBDA_MIN).div(LAMBDA_MAX - LAMBDA_MIN);
    let e = this.timeEmbed.forward(this.fourier(u)).add(embedding(this.classEmbed, cond.labels));
    if (this.wEmbed) {
      e = e.add(this.wEmbed.forward(this.fourier(this.asWeightDtype(cond.w!).div(this.cfg.wMax)))); // adds exactly 0 at init
    }
    return e;
  }

  private check(z: Tensor, t: Tensor, cond: Cond): void {
    const n = z.shape[0];
    const want = (what: string, got: number[], expected: number[]) => {
      if (got.join() !== expected.join()) throw new ShapeError(`MlpDenoiser.forward: ${what} has shape [${got}] but z [${z.shape}] needs [${expected}]`);
    };
    if (z.ndim !== 2 || z.shape[1] !== this.cfg.dim) throw new ShapeError(`MlpDenoiser.forward: z has shape [${z.shape}] but the model needs [n, ${this.cfg.dim}]`);
    want("t", t.shape, [n]);
    want("cond.labels", cond.labels.shape, [n]);
    if (this.wEmbed) {
      if (!cond.w) throw new ShapeError(`MlpDenoiser.forward: this model takes the guidance weight: pass cond.w with shape [${n}]`);
      want("cond.w", cond.w.shape, [n]);
    }
    // A model without a w input ignores cond.w, so wrappers may pass a student's condition through.
  }

  /** The raw network output [n, D]: v-hat for prediction "v", x-hat for "x". */
  forwardRaw(z: Tensor, t: Tensor, cond: Cond): Tensor {
    this.check(z, t, cond);
    // The intermediates' handles are freed here; autograd keeps what backward needs natively.
    return tidy(() => {
      const e = this.embed(t, cond).silu();
      let h = this.input.forward(z);
      for (const block of this.blocks) h = block.forward(h, e);
      return this.output.forward(this.outNorm.forward(h).silu());
    });
  }

  /** x-hat(z_t, t, cond) [n, D]. z [n, D]; t [n] float in [0, 1]; labels [n] int64 (numClasses = null); w [n] if wInput. */
  forward(z: Tensor, t: Tensor, cond: Cond): Tensor {
    return tidy(() => {
      const out = this.forwardRaw(z, t, cond);
      if (this.cfg.prediction === "x") return out;
      const { alpha, sigma } = alphaSigmaTensor(this.asWeightDtype(t));
      return xFromV(z, out, alpha.unsqueeze(1), sigma.unsqueeze(1));
    });
  }

  /**
   * Copies weights in by name (names as `named()`). When the model takes w and `values` has no
   * w path at all (a teacher's weights), the w path keeps its fresh initialisation (last layer
   * zero), so the result computes exactly the teacher's x-hat. Any other missing or unexpected
   * name, or a shape mismatch, is an error listing them all.
   * @returns the w-path names that kept their initial values (empty when all were given)
   */
  loadWeights(values: Map<string, Tensor>): { initialisedWPath: string[] } {
    return this.store.loadAllowingNewPath("MlpDenoiser", values, W_PATH_PREFIX);
  }

  /** What a checkpoint records to rebuild this model. */
  metadata(): { kind: "mlp-denoiser"; config: MlpDenoiserConfig } {
    return { kind: "mlp-denoiser", config: this.config };
  }

  /** Frees the frequency buffer and every parameter of the store (the model owns its store). */
  dispose(): void {
    this.freqs.dispose();
    this.store.dispose();
  }
}
