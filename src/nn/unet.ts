// A U-Net image denoiser in the style of DDPM/ADM (Ho et al. 2020; Dhariwal & Nichol 2021):
// residual blocks with GroupNorm and SiLU, the condition (time, class and, for students, w)
// applied as FiLM scale and shift, self-attention at the low resolutions, dropout, strided-conv
// downsampling and nearest upsampling with skip connections. The same module is a teacher
// (class plus a null class) and a stage-one student (plus a w path whose last layer starts at
// zero, so the student starts as the teacher). Output: x or v prediction, returned as x-hat.
import { cat, dropout, embedding, interpolateNearest, keep, noGrad, randn, tensor, tidy, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { alphaSigmaTensor, logSnrTensor, xFromV, LAMBDA_MAX, LAMBDA_MIN } from "../diffusion/schedule.js";
import type { Cond, Denoiser } from "../diffusion/denoiser.js";
import { Conv2d, EmbedMlp, GroupNorm, Linear, fourierFrequencies } from "./layers.js";
import type { ParamStore } from "./param-store.js";

export interface UNetConfig {
  /** Image channels in and out (1 for Fashion-MNIST). */
  channels: number;
  /** Height = width of the images the net takes (a multiple of 2^(levels - 1)). */
  size: number;
  numClasses: number;
  /** Channels of the first level. @default 32 */
  baseChannels: number;
  /** Channel multiplier per level. @default [1, 2, 2] */
  channelMults: number[];
  /** Residual blocks per level on the way down. @default 1 */
  numResBlocks: number;
  /** Resolutions (height) with self-attention. @default [8] */
  attentionResolutions: number[];
  /** Dropout inside residual blocks while training. @default 0.1 */
  dropout: number;
  /** @default "v" */
  prediction: "x" | "v";
  /** Takes the guidance weight w (stage-one students). @default false */
  wInput: boolean;
  /** w is scaled by 1 / wMax before its Fourier features. @default 4 */
  wMax: number;
  /** Fourier frequencies of log-SNR and w. @default 16 */
  fourierFeatures: number;
}

export const UNET_DEFAULTS = { baseChannels: 32, channelMults: [1, 2, 2], numResBlocks: 1, attentionResolutions: [8], dropout: 0.1, prediction: "v" as const, wInput: false, wMax: 4, fourierFeatures: 16 };

const GROUPS = 8;

/** Prefix of every w-path parameter name. */
export const UNET_W_PATH_PREFIX = "w_embed.";

/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveUNetConfig(config: Partial<UNetConfig> & { channels: number; size: number; numClasses: number }): UNetConfig {
  const known = new Set(["channels", "size", "numClasses", ...Object.keys(UNET_DEFAULTS)]);
  const c: UNetConfig = { ...UNET_DEFAULTS, channelMults: [...UNET_DEFAULTS.channelMults], attentionResolutions: [...UNET_DEFAULTS.attentionResolutions], ...config };
  const bad: string[] = [];
  for (const key of Object.keys(config)) if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
  const int = (name: keyof UNetConfig, min: number) => {
    const v = c[name];
    if (!Number.isSafeInteger(v) || (v as number) < min) bad.push(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  int("channels", 1);
  int("size", 1);
  int("numClasses", 1);
  int("baseChannels", GROUPS);
  int("numResBlocks", 1);
  int("fourierFeatures", 1);
  const intList = (name: "channelMults" | "attentionResolutions", allowEmpty: boolean) => {
    const v = c[name];
    if (!Array.isArray(v) || (!allowEmpty && v.length === 0) || !v.every((k) => Number.isSafeInteger(k) && k >= 1)) bad.push(`${name} must be a list of positive integers, got ${JSON.stringify(v)}`);
  };
  intList("channelMults", false);
  intList("attentionResolutions", true);
  if (Number.isSafeInteger(c.baseChannels) && c.baseChannels % GROUPS !== 0) bad.push(`baseChannels must be a multiple of ${GROUPS} (GroupNorm groups), got ${c.baseChannels}`);
  if (Array.isArray(c.channelMults) && Number.isSafeInteger(c.size) && c.size % 2 ** (c.channelMults.length - 1) !== 0) {
    bad.push(`size ${c.size} must be a multiple of 2^${c.channelMults.length - 1} for ${c.channelMults.length} levels (pad or resize the images)`);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) bad.push(`dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`);
  if (c.prediction !== "x" && c.prediction !== "v") bad.push(`prediction must be "x" or "v", got ${JSON.stringify(c.prediction)}`);
  if (typeof c.wInput !== "boolean") bad.push(`wInput must be true or false, got ${JSON.stringify(c.wInput)}`);
  if (typeof c.wMax !== "number" || !(c.wMax > 0) || !Number.isFinite(c.wMax)) bad.push(`wMax must be a positive number, got ${JSON.stringify(c.wMax)}`);
  if (bad.length > 0) throw new ConfigError(`UNet config: ${bad.join("; ")}`);
  return c;
}

/** A conv whose weights and bias start at zero: the residual branch it ends starts as identity (ADM). */
function zeroConv(store: ParamStore, cin: number, cout: number, kernel: number): Conv2d {
  const conv = new Conv2d(store, cin, cout, kernel, { padding: kernel >> 1 });
  noGrad(() => {
    conv.weight.zero_();
    conv.bias!.zero_();
  });
  return conv;
}

class ResBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly film: Linear;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  private readonly skip: Conv2d | null;
  constructor(store: ParamStore, cin: number, cout: number, embedDim: number) {
    this.norm1 = new GroupNorm(store.sub("norm1"), GROUPS, cin);
    this.conv1 = new Conv2d(store.sub("conv1"), cin, cout, 3, { padding: 1 });
    this.film = new Linear(store.sub("film"), embedDim, 2 * cout);
    this.norm2 = new GroupNorm(store.sub("norm2"), GROUPS, cout);
    this.conv2 = zeroConv(store.sub("conv2"), cout, cout, 3);
    this.skip = cin === cout ? null : new Conv2d(store.sub("skip"), cin, cout, 1);
  }
  /** @param e silu(condition embedding) [n, E] */
  forward(x: Tensor, e: Tensor, drop: (h: Tensor) => Tensor): Tensor {
    const h = this.conv1.forward(this.norm1.forward(x).silu());
    // FiLM: GN(h) * (1 + scale) + shift, scale and shift from the condition (ADM's scale-shift norm)
    const [scale, shift] = this.film.forward(e).unsqueeze(2).unsqueeze(3).chunk(2, 1);
    const modulated = this.norm2.forward(h).mul(scale.add(1)).add(shift);
    const out = this.conv2.forward(drop(modulated.silu()));
    return (this.skip ? this.skip.forward(x) : x).add(out);
  }
}

/** Single-head self-attention over the pixels of a feature map, residual, output projection at zero. */
class Attention {
  private readonly norm: GroupNorm;
  private readonly qkv: Conv2d;
  private readonly proj: Conv2d;
  constructor(store: ParamStore, private readonly channels: number) {
    this.norm = new GroupNorm(store.sub("norm"), GROUPS, channels);
    this.qkv = new Conv2d(store.sub("qkv"), channels, 3 * channels, 1);
    this.proj = zeroConv(store.sub("proj"), channels, channels, 1);
  }
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    const [q, k, v] = this.qkv.forward(this.norm.forward(x)).reshape([n, 3 * c, h * w]).chunk(3, 1); // [n, c, hw] each
    const weights = q.transpose(1, 2).matmul(k).mul(1 / Math.sqrt(this.channels)).softmax(2); // [n, hw, hw]
    const out = v.matmul(weights.transpose(1, 2)).reshape([n, c, h, w]);
    return x.add(this.proj.forward(out));
  }
}

type Stage = { kind: "res"; block: ResBlock } | { kind: "attn"; block: Attention } | { kind: "down"; conv: Conv2d } | { kind: "up"; conv: Conv2d };

/** One stage of the U-Net's plan: its parameter path (`down.3`), kind and sizes. */
export type UNetStagePlan = { path: string } & (
  | { kind: "res"; cin: number; cout: number }
  | { kind: "attn"; channels: number; res: number }
  | { kind: "down"; channels: number }
  | { kind: "up"; channels: number }
);

/**
 * The stages of a U-Net of config `c`, in the order the constructor creates them (which fixes
 * parameter names and initialisation order) and forward walks them. The ONNX exporter walks the
 * same plan (src/export/emit-unet.ts).
 */
export function unetLayout(c: UNetConfig): { down: UNetStagePlan[]; middle: UNetStagePlan[]; up: UNetStagePlan[]; outChannels: number } {
  const levels = c.channelMults.length;
  const down: UNetStagePlan[] = [];
  const up: UNetStagePlan[] = [];
  // Down: record each stage's output channels for the skips.
  const skips: number[] = [c.baseChannels];
  let ch = c.baseChannels;
  let res = c.size;
  let k = 0;
  c.channelMults.forEach((mult, level) => {
    for (let b = 0; b < c.numResBlocks; b++) {
      down.push({ path: `down.${k++}`, kind: "res", cin: ch, cout: c.baseChannels * mult });
      ch = c.baseChannels * mult;
      if (c.attentionResolutions.includes(res)) down.push({ path: `down.${k++}`, kind: "attn", channels: ch, res });
      skips.push(ch);
    }
    if (level < levels - 1) {
      down.push({ path: `down.${k++}`, kind: "down", channels: ch });
      res /= 2;
      skips.push(ch);
    }
  });
  const middle: UNetStagePlan[] = [
    { path: "mid.0", kind: "res", cin: ch, cout: ch },
    { path: "mid.1", kind: "attn", channels: ch, res },
    { path: "mid.2", kind: "res", cin: ch, cout: ch },
  ];
  k = 0;
  [...c.channelMults].reverse().forEach((mult, i) => {
    const level = levels - 1 - i;
    for (let b = 0; b <= c.numResBlocks; b++) {
      up.push({ path: `up.${k++}`, kind: "res", cin: ch + skips.pop()!, cout: c.baseChannels * mult });
      ch = c.baseChannels * mult;
      if (c.attentionResolutions.includes(res)) up.push({ path: `up.${k++}`, kind: "attn", channels: ch, res });
    }
    if (level > 0) {
      up.push({ path: `up.${k++}`, kind: "up", channels: ch });
      res *= 2;
    }
  });
  return { down, middle, up, outChannels: ch };
}

export class UNet {
  readonly store: ParamStore;
  readonly config: UNetConfig;
  /** The model as a Denoiser (z, t, cond) => x-hat. */
  readonly denoiser: Denoiser = (z, t, cond) => this.forward(z, t, cond);
  /** Dropout is active only while training, drawing its masks from `dropoutGenerator`. */
  training = false;
  dropoutGenerator: Generator | null = null;

  private readonly freqs: Tensor;
  private readonly embedDim: number;
  private readonly timeEmbed: EmbedMlp;
  private readonly classEmbed: Tensor;
  private wEmbed: EmbedMlp | null = null;
  private readonly convIn: Conv2d;
  private readonly down: Stage[] = [];
  private readonly middle: Stage[] = [];
  private readonly up: Stage[] = [];
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(store: ParamStore, config: Partial<UNetConfig> & { channels: number; size: number; numClasses: number }) {
    const c = resolveUNetConfig(config);
    this.store = store;
    this.config = { ...c, wInput: false };
    const E = (this.embedDim = 4 * c.baseChannels);
    const F = c.fourierFeatures;
    this.timeEmbed = new EmbedMlp(store.sub("time_embed"), 2 * F, E);
    this.classEmbed = store.sub("class_embed").param("weight", (g) => randn([c.numClasses + 1, E], g));
    this.convIn = new Conv2d(store.sub("conv_in"), c.channels, c.baseChannels, 3, { padding: 1 });

    const plan = unetLayout(c);
    const build = (stage: UNetStagePlan): Stage => {
      const sub = stage.path.split(".").reduce((st, part) => st.sub(part), store);
      switch (stage.kind) {
        case "res":
          return { kind: "res", block: new ResBlock(sub, stage.cin, stage.cout, E) };
        case "attn":
          return { kind: "attn", block: new Attention(sub, stage.channels) };
        case "down":
          return { kind: "down", conv: new Conv2d(sub, stage.channels, stage.channels, 3, { stride: 2, padding: 1 }) };
        case "up":
          return { kind: "up", conv: new Conv2d(sub, stage.channels, stage.channels, 3, { padding: 1 }) };
      }
    };
    this.down.push(...plan.down.map(build));
    this.middle.push(...plan.middle.map(build));
    this.up.push(...plan.up.map(build));
    const ch = plan.outChannels;
    this.normOut = new GroupNorm(store.sub("norm_out"), GROUPS, ch);
    this.convOut = zeroConv(store.sub("conv_out"), ch, c.channels, 3);
    this.freqs = keep(tensor(fourierFrequencies(F), { device: store.device }));
    if (c.wInput) this.addWInput();
  }

  /** Adds the w path (last layer zero): x-hat is unchanged for every w until training moves it. */
  addWInput(): this {
    if (this.wEmbed) throw new ConfigError("UNet.addWInput: the model already takes w");
    this.wEmbed = new EmbedMlp(this.store.sub(UNET_W_PATH_PREFIX.slice(0, -1)), 2 * this.config.fourierFeatures, this.embedDim, { zeroLast: true });
    this.config.wInput = true;
    return this;
  }

  parameters(): Tensor[] {
    return this.store.parameters();
  }

  /** The store's parameters, by full name (live references). */
  named(): Map<string, Tensor> {
    return this.store.named();
  }

  /** Shape of one example: [channels, size, size]. */
  get exampleShape(): number[] {
    return [this.config.channels, this.config.size, this.config.size];
  }

  /**
   * Copies weights in by name. A w model given a teacher's weights (no w path) keeps its fresh w
   * path (last layer zero), so it computes exactly the teacher's x-hat; any other difference is an error.
   */
  loadWeights(values: Map<string, Tensor>): { initialisedWPath: string[] } {
    return this.store.loadAllowingNewPath("UNet", values, UNET_W_PATH_PREFIX);
  }

  /** What a checkpoint records to rebuild this model. */
  metadata(): { kind: "unet"; config: UNetConfig } {
    return { kind: "unet", config: { ...this.config, channelMults: [...this.config.channelMults], attentionResolutions: [...this.config.attentionResolutions] } };
  }

  private fourier(u: Tensor): Tensor {
    const angles = u.to("float32").unsqueeze(1).mul(this.freqs);
    return cat([angles.sin(), angles.cos()], 1);
  }

  private embed(t: Tensor, cond: Cond): Tensor {
    // log-SNR mapped to [0, 1], as the MLP denoiser (its file says why)
    const u = logSnrTensor(t.to("float32")).sub(LAMBDA_MIN).div(LAMBDA_MAX - LAMBDA_MIN);
    let e = this.timeEmbed.forward(this.fourier(u)).add(embedding(this.classEmbed, cond.labels));
    if (this.wEmbed) {
      if (!cond.w) throw new ShapeError("UNet.forward: this model takes the guidance weight: pass cond.w [n]");
      e = e.add(this.wEmbed.forward(this.fourier(cond.w.div(this.config.wMax))));
    }
    return e;
  }

  /** The raw output [n, C, H, W]: v-hat or x-hat per `prediction`. */
  forwardRaw(z: Tensor, t: Tensor, cond: Cond): Tensor {
    const [n, c, h, w] = z.shape;
    if (z.ndim !== 4 || c !== this.config.channels || h !== this.config.size || w !== this.config.size) {
      throw new ShapeError(`UNet.forward: z has shape [${z.shape}] but the model needs [n, ${this.config.channels}, ${this.config.size}, ${this.config.size}]`);
    }
    if (t.shape.join() !== String(n) || cond.labels.shape.join() !== String(n)) throw new ShapeError(`UNet.forward: t [${t.shape}] and labels [${cond.labels.shape}] must be [${n}]`);
    return tidy(() => {
      const e = this.embed(t, cond).silu();
      const p = this.config.dropout;
      const drop = (x: Tensor) => (this.training && p > 0 ? dropout(x, p, this.requireGenerator()) : x);
      const run = (stage: Stage, x: Tensor): Tensor => {
        switch (stage.kind) {
          case "res":
            return stage.block.forward(x, e, drop);
          case "attn":
            return stage.block.forward(x);
          case "down":
            return stage.conv.forward(x);
          case "up":
            return stage.conv.forward(interpolateNearest(x, { scaleFactor: 2 }));
        }
      };
      let x = this.convIn.forward(z.to("float32"));
      const skips: Tensor[] = [x];
      for (const stage of this.down) {
        x = run(stage, x);
        if (stage.kind !== "attn") skips.push(x);
        else skips[skips.length - 1] = x; // attention refines the skip its block just pushed
      }
      for (const stage of this.middle) x = run(stage, x);
      for (const stage of this.up) x = stage.kind === "res" ? run(stage, cat([x, skips.pop()!], 1)) : run(stage, x);
      return this.convOut.forward(this.normOut.forward(x).silu());
    });
  }

  /** x-hat(z_t, t, cond) [n, C, H, W]. */
  forward(z: Tensor, t: Tensor, cond: Cond): Tensor {
    return tidy(() => {
      const out = this.forwardRaw(z, t, cond);
      if (this.config.prediction === "x") return out;
      const { alpha, sigma } = alphaSigmaTensor(t.to("float32"));
      const column = (v: Tensor) => v.reshape([v.shape[0], 1, 1, 1]);
      return xFromV(z.to("float32"), out, column(alpha), column(sigma));
    });
  }

  private requireGenerator(): Generator {
    if (!this.dropoutGenerator) throw new ConfigError("UNet: set dropoutGenerator before training with dropout");
    return this.dropoutGenerator;
  }

  dispose(): void {
    this.freqs.dispose();
    this.store.dispose();
  }
}
