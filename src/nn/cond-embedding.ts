// The condition embedding every denoiser network shares (MLP and U-Net): the noise level, the
// class, a pooled text vector and, for students, the guidance weight, summed into one vector
// e [n, E] that the network's blocks read (DESIGN.md sections 4 and 10):
//   e = timeMlp(fourier(u)) + classEmbed[c] (+ pooledProj(pooled)) (+ wMlp(fourier(w / wMax)))
// u in [0, 1] is the network's noise input: the log-SNR of t mapped to [0, 1] (u = 1 clean, 0
// pure noise) by diffusion/parameterization.ts, so no network needs the schedule.
// The w path is stage one's: w enters like t, through Fourier features and a small MLP; its last
// layer starts at zero, so a student built from a teacher computes the teacher's output at any w.
import { cat, embedding, full, keep, randn, tensor, ConfigError, ShapeError, type Tensor } from "../engine/index.js";
import type { Cond } from "./condition.js";
import { EmbedMlp, Linear, fourierFrequencies } from "./layers.js";
import type { ParamStore } from "./param-store.js";

/** The condition settings both denoiser configs carry. */
export interface CondEmbeddingConfig {
  /** Number of classes C; label C is the null (unconditional) class. */
  numClasses: number;
  /** Fourier frequencies of u and w: 2x this many sin/cos features. */
  fourierFeatures: number;
  /** w is divided by this before its Fourier features. */
  wMax: number;
  /** Width of a pooled text vector added to the embedding; 0: none. */
  pooledDim: number;
}

/** Prefix of every w-path parameter name (at the model's root). */
export const W_PATH_PREFIX = "w_embed.";

/** What "no prompt" is for a text model: the encoded empty prompt, one row that broadcasts over n. */
export interface NullText {
  context: Tensor;
  contextMask?: Tensor;
  pooled?: Tensor;
}

/**
 * Parameters, named at the model's root store: `time_embed.{0,2}`, `class_embed.weight`
 * ([numClasses + 1, E]; the last row is the null class), `pooled_embed` (pooledDim > 0) and, after
 * addWInput, `w_embed.{0,2}`. Created in that order where the model constructs this module.
 */
export class CondEmbedding {
  readonly dim: number;
  private readonly timeEmbed: EmbedMlp;
  private readonly classEmbed: Tensor;
  private readonly pooledEmbed: Linear | null;
  private wEmbed: EmbedMlp | null = null;
  /** Fourier frequencies [F]: a fixed buffer, not a parameter (never trained, not in the store). */
  private readonly freqs: Tensor;
  private nullText: NullText | null = null;

  constructor(private readonly store: ParamStore, dim: number, private readonly cfg: CondEmbeddingConfig) {
    this.dim = dim;
    const F = cfg.fourierFeatures;
    this.timeEmbed = new EmbedMlp(store.sub("time_embed"), 2 * F, dim);
    // N(0, 1) rows, as torch.nn.Embedding; one extra row for the null class.
    this.classEmbed = store.sub("class_embed").param("weight", (g) => randn([cfg.numClasses + 1, dim], g));
    this.pooledEmbed = cfg.pooledDim > 0 ? new Linear(store.sub("pooled_embed"), cfg.pooledDim, dim) : null;
    this.freqs = keep(tensor(fourierFrequencies(F), { device: store.device }));
  }

  get takesW(): boolean {
    return this.wEmbed !== null;
  }

  /** Adds the w path (`w_embed.0` random, `w_embed.2` zero); build the optimizer after this call. */
  addWInput(): void {
    if (this.wEmbed) throw new ConfigError("addWInput: the model already takes w");
    this.wEmbed = new EmbedMlp(this.store.sub(W_PATH_PREFIX.slice(0, -1)), 2 * this.cfg.fourierFeatures, this.dim, { zeroLast: true });
  }

  /** sin/cos features [n, 2F] of x [n] (expected in about [0, 1]), in the weights' dtype. */
  private fourier(x: Tensor): Tensor {
    const angles = x.to(this.freqs.dtype).unsqueeze(1).mul(this.freqs);
    return cat([angles.sin(), angles.cos()], 1);
  }

  /** e [n, E] of the noise level u [n] and the condition (before the blocks' SiLU). */
  forward(u: Tensor, cond: Cond, who: string): Tensor {
    const n = u.shape[0];
    if (!cond.labels) throw new ShapeError(`${who}: this model is class-conditional: pass cond.labels [${n}] (int64; ${this.cfg.numClasses} = no class)`);
    let e = this.timeEmbed.forward(this.fourier(u)).add(embedding(this.classEmbed, cond.labels));
    if (this.pooledEmbed) {
      if (!cond.pooled) throw new ShapeError(`${who}: this model takes a pooled text vector: pass cond.pooled [${n}, ${this.cfg.pooledDim}]`);
      e = e.add(this.pooledEmbed.forward(cond.pooled.to(this.freqs.dtype)));
    }
    if (this.wEmbed) {
      if (!cond.w) throw new ShapeError(`${who}: this model takes the guidance weight: pass cond.w [${n}]`);
      e = e.add(this.wEmbed.forward(this.fourier(cond.w.to(this.freqs.dtype).div(this.cfg.wMax)))); // adds exactly 0 at init
    }
    return e;
  }

  /** Sets the encoded empty prompt that nullCond puts in place of a text condition (kept until dispose). */
  setNullText(text: NullText): void {
    this.disposeNullText();
    this.nullText = { context: keep(text.context.clone()), contextMask: text.contextMask && keep(text.contextMask.clone()), pooled: text.pooled && keep(text.pooled.clone()) };
  }

  /**
   * The null condition of each example of `cond`: the null class, the empty prompt's text parts;
   * the parts that are not the prompt (w, image channels) unchanged.
   */
  nullCond(cond: Cond): Cond {
    const out: Cond = { ...cond };
    const n = (cond.labels ?? cond.context ?? cond.pooled)?.shape[0];
    if (n === undefined) throw new ShapeError("nullCond: the condition has no prompt part (labels, context or pooled)");
    if (cond.labels) out.labels = full([n], this.cfg.numClasses, { dtype: "int64", device: cond.labels.device });
    if (cond.context || cond.pooled) {
      const t = this.nullText;
      if (!t) throw new ConfigError("nullCond: the condition has text parts but the model has no empty-prompt encoding: call setNullText first");
      const rows = (x: Tensor) => x.expand([n, ...x.shape.slice(1)]);
      if (cond.context) out.context = rows(t.context);
      if (cond.contextMask && t.contextMask) out.contextMask = rows(t.contextMask);
      if (cond.pooled && t.pooled) out.pooled = rows(t.pooled);
    }
    return out;
  }

  private disposeNullText(): void {
    for (const x of [this.nullText?.context, this.nullText?.contextMask, this.nullText?.pooled]) x?.dispose();
    this.nullText = null;
  }

  /** Frees the frequency buffer and the null text (parameters belong to the model's store). */
  dispose(): void {
    this.freqs.dispose();
    this.disposeNullText();
  }
}
