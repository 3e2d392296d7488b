// Class-conditional MLP denoiser network for vector data (DESIGN.md section 4). It returns its raw
// output (v-hat or x-hat per `prediction`); diffusion/parameterization.ts turns it into x-hat and
// maps t to the noise input u, so the network knows nothing of the schedule.
// Notation: z = z_t [n, D]; u = the noise level in [0, 1] (normalised log-SNR).
//
//   e   = condEmbed(u, c[, w])                      (cond-embedding.ts, shared with the U-Net)
//   h_0 = input(z);  h_{k+1} = h_k + fc2(silu(fc1(layerNorm(h_k)) + emb(silu(e))))
//   out = output(silu(layerNorm(h_depth)))
import { layerNorm, ones, tidy, zeros, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { CondEmbedding, W_PATH_PREFIX } from "./cond-embedding.js";
import type { Cond } from "./condition.js";
import { Linear } from "./layers.js";
import type { DenoiserModel, ModelKindEntry, Prediction } from "./model.js";
import { PREDICTIONS, withDefaults } from "./model.js";
import type { ParamStore } from "./param-store.js";

export type { Prediction };

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
  /** What the network outputs ("x", "v" or "eps"); the parameterization wrapper returns x-hat. @default "v" */
  prediction: Prediction;
  /** Whether the model takes the guidance weight w (stage-one students). @default false */
  wInput: boolean;
  /** w is divided by this before its Fourier features, so the usual w range maps to about [0, 1]. @default 4 */
  wMax: number;
  /** Width of a pooled text vector added to the condition embedding; 0: none. @default 0 */
  pooledDim: number;
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
  // Class-conditional by default; a text model sets the width of its pooled vector.
  pooledDim: 0,
} as const;

/** The largest value of each size field resolveMlpDenoiserConfig accepts. */
export const MLP_DENOISER_LIMITS = { dim: 100_000, numClasses: 100_000, hidden: 16_384, depth: 256, fourierFeatures: 1024, pooledDim: 65_536 };

/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveMlpDenoiserConfig(config: Partial<MlpDenoiserConfig> & { dim: number; numClasses: number }): MlpDenoiserConfig {
  const known = new Set(["dim", "numClasses", ...Object.keys(MLP_DENOISER_DEFAULTS)]);
  const r: MlpDenoiserConfig = withDefaults(MLP_DENOISER_DEFAULTS, config);
  const bad: string[] = [];
  // Upper limits keep a crafted checkpoint's config (depth 1e6, hidden 1e7) from being built at all.
  const posInt = (name: keyof MlpDenoiserConfig, min: number, max: number) => {
    const v = r[name];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) bad.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  for (const key of Object.keys(config)) if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
  posInt("dim", 1, MLP_DENOISER_LIMITS.dim);
  posInt("numClasses", 1, MLP_DENOISER_LIMITS.numClasses);
  posInt("hidden", 1, MLP_DENOISER_LIMITS.hidden);
  posInt("depth", 0, MLP_DENOISER_LIMITS.depth);
  posInt("fourierFeatures", 1, MLP_DENOISER_LIMITS.fourierFeatures);
  posInt("pooledDim", 0, MLP_DENOISER_LIMITS.pooledDim);
  if (!PREDICTIONS.includes(r.prediction)) bad.push(`prediction must be one of ${PREDICTIONS.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(r.prediction)}`);
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

export { W_PATH_PREFIX };

/**
 * An MLP denoiser network for class-conditional vector data: `forwardRaw(z, u, cond)` is the raw
 * output; diffusion/parameterization.ts `denoiserOf(model)` makes it a Denoiser returning x-hat.
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
 * const xHat = denoiserOf(model).denoiser(z, t, { labels });
 */
export class MlpDenoiser implements DenoiserModel {
  readonly kind = "mlp-denoiser" as const;
  readonly store: ParamStore;
  /** The MLP has no dropout: these exist for the DenoiserModel interface (nn/model.ts) and change nothing. */
  training = false;
  dropoutGenerator: Generator | null = null;

  private readonly input: Linear;
  private readonly condEmbed: CondEmbedding;
  private readonly blocks: ResBlock[];
  private readonly outNorm: LayerNorm;
  private readonly output: Linear;
  private readonly cfg: MlpDenoiserConfig;

  /**
   * Creates the parameters in `store` (drawing from its generator). The w path is created last,
   * so a w model and a plain model from the same seed share every other initial value.
   */
  constructor(store: ParamStore, config: Partial<MlpDenoiserConfig> & { dim: number; numClasses: number }) {
    const c = resolveMlpDenoiserConfig(config);
    this.store = store;
    this.cfg = { ...c, wInput: false };
    this.input = new Linear(store.sub("input"), c.dim, c.hidden);
    this.condEmbed = new CondEmbedding(store, c.hidden, c);
    this.blocks = Array.from({ length: c.depth }, (_, k) => new ResBlock(store.sub("blocks").sub(k), c.hidden));
    this.outNorm = new LayerNorm(store.sub("out_norm"), c.hidden);
    this.output = new Linear(store.sub("output"), c.hidden, c.dim);
    if (c.wInput) this.addWInput();
  }

  /**
   * Adds the guidance-weight input (stage one): `w_embed.0` random, `w_embed.2` zero, so the
   * model's output is unchanged for every w until training moves it. Parameters join the store,
   * so build the optimizer after this call.
   * @throws ConfigError when the model already takes w
   */
  addWInput(): this {
    this.condEmbed.addWInput();
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

  get prediction(): Prediction {
    return this.cfg.prediction;
  }

  /** The store's parameters, by full name (live references). */
  named(): Map<string, Tensor> {
    return this.store.named();
  }

  /** The store's parameters in creation order (for optimizers). */
  parameters(): Tensor[] {
    return this.store.parameters();
  }

  /** The null condition of each example (the null class; w unchanged). */
  nullCond(cond: Cond): Cond {
    return this.condEmbed.nullCond(cond);
  }

  private check(z: Tensor, u: Tensor, cond: Cond): void {
    const n = z.shape[0];
    const want = (what: string, got: number[], expected: number[]) => {
      if (got.join() !== expected.join()) throw new ShapeError(`MlpDenoiser.forward: ${what} has shape [${got}] but z [${z.shape}] needs [${expected}]`);
    };
    if (z.ndim !== 2 || z.shape[1] !== this.cfg.dim) throw new ShapeError(`MlpDenoiser.forward: z has shape [${z.shape}] but the model needs [n, ${this.cfg.dim}]`);
    want("t", u.shape, [n]);
    if (cond.labels) want("cond.labels", cond.labels.shape, [n]);
    if (this.condEmbed.takesW && cond.w) want("cond.w", cond.w.shape, [n]);
    // A model without a w input ignores cond.w, so wrappers may pass a student's condition through.
  }

  /** The raw network output [n, D] (v-hat, x-hat or eps-hat per `prediction`) at noise level u [n]. */
  forwardRaw(z: Tensor, u: Tensor, cond: Cond): Tensor {
    this.check(z, u, cond);
    // The intermediates' handles are freed here; autograd keeps what backward needs natively.
    return tidy(() => {
      const e = this.condEmbed.forward(u, cond, "MlpDenoiser.forward").silu();
      let h = this.input.forward(z);
      for (const block of this.blocks) h = block.forward(h, e);
      return this.output.forward(this.outNorm.forward(h).silu());
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

  /** Frees the embedding's buffers and every parameter of the store (the model owns its store). */
  dispose(): void {
    this.condEmbed.dispose();
    this.store.dispose();
  }
}

/** The registry entry of this kind (nn/registry.ts). */
export const MLP_DENOISER_KIND: ModelKindEntry<MlpDenoiserConfig, MlpDenoiser> = {
  role: "denoiser",
  resolveConfig: (raw) => resolveMlpDenoiserConfig(raw as Partial<MlpDenoiserConfig> & { dim: number; numClasses: number }),
  build: (store, config) => new MlpDenoiser(store, config),
  describe: (c) => `MLP denoiser: vectors [${c.dim}], ${c.numClasses} classes, ${c.depth} blocks x ${c.hidden}, ${c.prediction}-prediction${c.wInput ? ", takes w" : ""}`,
  defaultFor: (shape) => shape.length === 1,
  forData: (data, settings) => {
    if (data.exampleShape.length !== 1) throw new ConfigError(`the MLP takes vectors but the data's examples have shape [${data.exampleShape}]; use architecture "unet" for images`);
    return resolveMlpDenoiserConfig({ ...settings, dim: data.exampleShape[0], numClasses: data.numClasses });
  },
};
