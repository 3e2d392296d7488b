// A U-Net image denoiser network in the style of DDPM/ADM (Ho et al. 2020; Dhariwal & Nichol 2021):
// residual blocks with GroupNorm and SiLU, the condition embedding (cond-embedding.ts: noise level,
// class, pooled text and, for students, w) applied as FiLM scale and shift, self-attention at the
// low resolutions (plus cross-attention to a text context when contextDim > 0), dropout,
// strided-conv downsampling and nearest upsampling with skip connections; extra condition image
// channels (an inpainting mask and masked image) are concatenated to z. The same module is a
// teacher and a stage-one student (a w path whose last layer starts at zero). It returns its raw
// output; diffusion/parameterization.ts turns it into x-hat.
import { cat, dropout, interpolateNearest, noGrad, tidy, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { CondEmbedding, W_PATH_PREFIX } from "./cond-embedding.js";
import type { Cond } from "./condition.js";
import { Conv2d, GroupNorm, Linear } from "./layers.js";
import { PREDICTIONS, withDefaults, type DenoiserModel, type ModelKindEntry, type Prediction } from "./model.js";
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
  /** What the network outputs ("x", "v" or "eps"). @default "v" */
  prediction: Prediction;
  /** Takes the guidance weight w (stage-one students). @default false */
  wInput: boolean;
  /** w is scaled by 1 / wMax before its Fourier features. @default 4 */
  wMax: number;
  /** Fourier frequencies of log-SNR and w. @default 16 */
  fourierFeatures: number;
  /** Width of a pooled text vector added to the condition embedding; 0: none. @default 0 */
  pooledDim: number;
  /** Width d of a text context [n, L, d] the attention blocks cross-attend to; 0: none. @default 0 */
  contextDim: number;
  /** Condition image channels (cond.image) concatenated to z at the input; 0: none. @default 0 */
  condChannels: number;
}

export const UNET_DEFAULTS = {
  baseChannels: 32,
  channelMults: [1, 2, 2],
  numResBlocks: 1,
  attentionResolutions: [8],
  dropout: 0.1,
  prediction: "v" as Prediction,
  wInput: false,
  wMax: 4,
  fourierFeatures: 16,
  // class-conditional, pixel input only, unless a text or inpainting model asks for more
  pooledDim: 0,
  contextDim: 0,
  condChannels: 0,
};

const GROUPS = 8;


/** The largest value of each size field resolveUNetConfig accepts (levels: list lengths). */
export const UNET_LIMITS = {
  channels: 4096,
  size: 4096,
  numClasses: 100_000,
  baseChannels: 4096,
  numResBlocks: 16,
  fourierFeatures: 1024,
  pooledDim: 65_536,
  contextDim: 65_536,
  condChannels: 4096,
  levels: 8,
  channelMult: 64,
};

/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveUNetConfig(config: Partial<UNetConfig> & { channels: number; size: number; numClasses: number }): UNetConfig {
  const known = new Set(["channels", "size", "numClasses", ...Object.keys(UNET_DEFAULTS)]);
  const c: UNetConfig = withDefaults(UNET_DEFAULTS, config);
  const bad: string[] = [];
  for (const key of Object.keys(config)) if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
  // Upper limits keep a crafted checkpoint's config from being built at all.
  const L = UNET_LIMITS;
  const int = (name: keyof UNetConfig, min: number, max: number) => {
    const v = c[name];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) bad.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  int("channels", 1, L.channels);
  int("size", 1, L.size);
  int("numClasses", 1, L.numClasses);
  int("baseChannels", GROUPS, L.baseChannels);
  int("numResBlocks", 1, L.numResBlocks);
  int("fourierFeatures", 1, L.fourierFeatures);
  int("pooledDim", 0, L.pooledDim);
  int("contextDim", 0, L.contextDim);
  int("condChannels", 0, L.condChannels);
  const intList = (name: "channelMults" | "attentionResolutions", allowEmpty: boolean, maxItem: number) => {
    const v = c[name];
    if (!Array.isArray(v) || (!allowEmpty && v.length === 0) || v.length > L.levels || !v.every((k) => Number.isSafeInteger(k) && k >= 1 && k <= maxItem)) {
      bad.push(`${name} must be a list of at most ${L.levels} integers in [1, ${maxItem}], got ${JSON.stringify(v)?.slice(0, 80)}`);
    }
  };
  intList("channelMults", false, L.channelMult);
  intList("attentionResolutions", true, L.size);
  if (Number.isSafeInteger(c.baseChannels) && c.baseChannels % GROUPS !== 0) bad.push(`baseChannels must be a multiple of ${GROUPS} (GroupNorm groups), got ${c.baseChannels}`);
  if (Array.isArray(c.channelMults) && Number.isSafeInteger(c.size) && c.size % 2 ** (c.channelMults.length - 1) !== 0) {
    bad.push(`size ${c.size} must be a multiple of 2^${c.channelMults.length - 1} for ${c.channelMults.length} levels (pad or resize the images)`);
  }
  // attention sits at a level's resolution (size / 2^level); one the net never reaches would be silently unused
  if (Array.isArray(c.channelMults) && c.channelMults.length > 0 && Number.isSafeInteger(c.size) && Array.isArray(c.attentionResolutions)) {
    const resolutions = unetResolutions(c);
    // the default [8] means "attention at 8 x 8 where the net has it" (unchanged behaviour for nets without it)
    if (config.attentionResolutions === undefined) c.attentionResolutions = c.attentionResolutions.filter((r) => resolutions.includes(r));
    const missing = c.attentionResolutions.filter((r) => !resolutions.includes(r));
    if (missing.length > 0) bad.push(`attentionResolutions [${missing.join(", ")}] not in this net: size ${c.size} with ${c.channelMults.length} levels has resolutions ${resolutions.join(", ")}`);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) bad.push(`dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`);
  if (!PREDICTIONS.includes(c.prediction)) bad.push(`prediction must be one of ${PREDICTIONS.map((p) => `"${p}"`).join(", ")}, got ${JSON.stringify(c.prediction)}`);
  if (typeof c.wInput !== "boolean") bad.push(`wInput must be true or false, got ${JSON.stringify(c.wInput)}`);
  if (typeof c.wMax !== "number" || !(c.wMax > 0) || !Number.isFinite(c.wMax)) bad.push(`wMax must be a positive number, got ${JSON.stringify(c.wMax)}`);
  if (bad.length > 0) throw new ConfigError(`UNet config: ${bad.join("; ")}`);
  return c;
}

/** The resolutions (height) of a U-Net's levels: size / 2^level. */
export function unetResolutions(c: Pick<UNetConfig, "size" | "channelMults">): number[] {
  return c.channelMults.map((_, level) => c.size / 2 ** level);
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

/**
 * Single-head self-attention over the pixels of a feature map, residual, output projection at zero;
 * with `contextDim` > 0 also cross-attention from the pixels to a context [n, L, d] (keys and values
 * from the context, padding masked out), residual, output projection at zero (latent diffusion's
 * text conditioning), so a new context path starts as identity.
 */
class Attention {
  private readonly norm: GroupNorm;
  private readonly qkv: Conv2d;
  private readonly proj: Conv2d;
  private readonly cross: CrossAttention | null;
  constructor(store: ParamStore, private readonly channels: number, contextDim: number) {
    this.norm = new GroupNorm(store.sub("norm"), GROUPS, channels);
    this.qkv = new Conv2d(store.sub("qkv"), channels, 3 * channels, 1);
    this.proj = zeroConv(store.sub("proj"), channels, channels, 1);
    this.cross = contextDim > 0 ? new CrossAttention(store.sub("cross"), channels, contextDim) : null;
  }
  forward(x: Tensor, cond: Cond): Tensor {
    const [n, c, h, w] = x.shape;
    const [q, k, v] = this.qkv.forward(this.norm.forward(x)).reshape([n, 3 * c, h * w]).chunk(3, 1); // [n, c, hw] each
    const weights = q.transpose(1, 2).matmul(k).mul(1 / Math.sqrt(this.channels)).softmax(2); // [n, hw, hw]
    const out = v.matmul(weights.transpose(1, 2)).reshape([n, c, h, w]);
    const y = x.add(this.proj.forward(out));
    return this.cross ? this.cross.forward(y, cond) : y;
  }
}

class CrossAttention {
  private readonly norm: GroupNorm;
  private readonly toQ: Linear;
  private readonly toK: Linear;
  private readonly toV: Linear;
  private readonly toOut: Linear;
  constructor(store: ParamStore, private readonly channels: number, private readonly contextDim: number) {
    this.norm = new GroupNorm(store.sub("norm"), GROUPS, channels);
    this.toQ = new Linear(store.sub("to_q"), channels, channels, { bias: false });
    this.toK = new Linear(store.sub("to_k"), contextDim, channels, { bias: false });
    this.toV = new Linear(store.sub("to_v"), contextDim, channels, { bias: false });
    this.toOut = new Linear(store.sub("to_out"), channels, channels);
    noGrad(() => {
      this.toOut.weight.zero_();
      this.toOut.bias!.zero_();
    });
  }
  forward(x: Tensor, cond: Cond): Tensor {
    const [n, c, h, w] = x.shape;
    const context = cond.context;
    if (!context || context.ndim !== 3 || context.shape[0] !== n || context.shape[2] !== this.contextDim) {
      throw new ShapeError(`UNet.forward: this model cross-attends to a text context: pass cond.context [${n}, L, ${this.contextDim}], got ${context ? `[${context.shape}]` : "none"}`);
    }
    const ctx = context.to(x.dtype);
    const q = this.toQ.forward(this.norm.forward(x).reshape([n, c, h * w]).transpose(1, 2)); // [n, hw, c]
    let scores = q.matmul(this.toK.forward(ctx).transpose(1, 2)).mul(1 / Math.sqrt(this.channels)); // [n, hw, L]
    // padding tokens get -1e9 before the softmax, so they carry no weight
    if (cond.contextMask) scores = scores.add(cond.contextMask.to(x.dtype).sub(1).mul(1e9).unsqueeze(1));
    const out = this.toOut.forward(scores.softmax(2).matmul(this.toV.forward(ctx))); // [n, hw, c]
    return x.add(out.transpose(1, 2).reshape([n, c, h, w]));
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

/**
 * The U-Net denoiser network: `forwardRaw(z, u, cond)` is the raw output [n, C, H, W] (v-hat,
 * x-hat or eps-hat per `prediction`); diffusion/parameterization.ts makes it a Denoiser.
 * Parameter names: `time_embed`, `class_embed.weight`, `conv_in`, `down.<k>`, `mid.<k>`, `up.<k>`,
 * `norm_out`, `conv_out`, and for students `w_embed`.
 */
export class UNet implements DenoiserModel {
  readonly kind = "unet" as const;
  readonly store: ParamStore;
  readonly config: UNetConfig;
  /** Dropout is active only while training, drawing its masks from `dropoutGenerator`. */
  training = false;
  dropoutGenerator: Generator | null = null;

  private readonly condEmbed: CondEmbedding;
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
    const E = 4 * c.baseChannels;
    this.condEmbed = new CondEmbedding(store, E, c);
    this.convIn = new Conv2d(store.sub("conv_in"), c.channels + c.condChannels, c.baseChannels, 3, { padding: 1 });

    const plan = unetLayout(c);
    const build = (stage: UNetStagePlan): Stage => {
      const sub = stage.path.split(".").reduce((st, part) => st.sub(part), store);
      switch (stage.kind) {
        case "res":
          return { kind: "res", block: new ResBlock(sub, stage.cin, stage.cout, E) };
        case "attn":
          return { kind: "attn", block: new Attention(sub, stage.channels, c.contextDim) };
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
    if (c.wInput) this.addWInput();
  }

  /** Adds the w path (last layer zero): the output is unchanged for every w until training moves it. */
  addWInput(): this {
    this.condEmbed.addWInput();
    this.config.wInput = true;
    return this;
  }

  get prediction(): Prediction {
    return this.config.prediction;
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

  /** The null condition of each example: the null class (and empty text); w and image channels kept. */
  nullCond(cond: Cond): Cond {
    return this.condEmbed.nullCond(cond);
  }

  /** Sets the encoded empty prompt that nullCond uses for text conditions. */
  setNullText(text: Parameters<CondEmbedding["setNullText"]>[0]): void {
    this.condEmbed.setNullText(text);
  }

  /**
   * Copies weights in by name. A w model given a teacher's weights (no w path) keeps its fresh w
   * path (last layer zero), so it computes exactly the teacher's x-hat; any other difference is an error.
   */
  loadWeights(values: Map<string, Tensor>): { initialisedWPath: string[] } {
    return this.store.loadAllowingNewPath("UNet", values, W_PATH_PREFIX);
  }

  /** What a checkpoint records to rebuild this model. */
  metadata(): { kind: "unet"; config: UNetConfig } {
    return { kind: "unet", config: { ...this.config, channelMults: [...this.config.channelMults], attentionResolutions: [...this.config.attentionResolutions] } };
  }

  /** The input: z, with the condition image channels when the model takes them. */
  private input(z: Tensor, cond: Cond): Tensor {
    const k = this.config.condChannels;
    if (k === 0) return z.to("float32");
    const image = cond.image;
    const [n, , h, w] = z.shape;
    if (!image || image.shape.join() !== [n, k, h, w].join()) {
      throw new ShapeError(`UNet.forward: this model takes ${k} condition image channels: pass cond.image [${n}, ${k}, ${h}, ${w}], got ${image ? `[${image.shape}]` : "none"}`);
    }
    return cat([z.to("float32"), image.to("float32")], 1);
  }

  /** The raw output [n, C, H, W] at noise level u [n]: v-hat, x-hat or eps-hat per `prediction`. */
  forwardRaw(z: Tensor, u: Tensor, cond: Cond): Tensor {
    const [n, c, h, w] = z.shape;
    if (z.ndim !== 4 || c !== this.config.channels || h !== this.config.size || w !== this.config.size) {
      throw new ShapeError(`UNet.forward: z has shape [${z.shape}] but the model needs [n, ${this.config.channels}, ${this.config.size}, ${this.config.size}]`);
    }
    if (u.shape.join() !== String(n) || (cond.labels && cond.labels.shape.join() !== String(n))) throw new ShapeError(`UNet.forward: t [${u.shape}] and labels [${cond.labels?.shape}] must be [${n}]`);
    return tidy(() => {
      const e = this.condEmbed.forward(u, cond, "UNet.forward").silu();
      const p = this.config.dropout;
      const drop = (x: Tensor) => (this.training && p > 0 ? dropout(x, p, this.requireGenerator()) : x);
      const run = (stage: Stage, x: Tensor): Tensor => {
        switch (stage.kind) {
          case "res":
            return stage.block.forward(x, e, drop);
          case "attn":
            return stage.block.forward(x, cond);
          case "down":
            return stage.conv.forward(x);
          case "up":
            return stage.conv.forward(interpolateNearest(x, { scaleFactor: 2 }));
        }
      };
      let x = this.convIn.forward(this.input(z, cond));
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

  private requireGenerator(): Generator {
    if (!this.dropoutGenerator) throw new ConfigError("UNet: set dropoutGenerator before training with dropout");
    return this.dropoutGenerator;
  }

  dispose(): void {
    this.condEmbed.dispose();
    this.store.dispose();
  }
}

/** The registry entry of this kind (nn/registry.ts). */
export const UNET_KIND: ModelKindEntry<UNetConfig, UNet> = {
  role: "denoiser",
  resolveConfig: (raw) => resolveUNetConfig(raw as Partial<UNetConfig> & { channels: number; size: number; numClasses: number }),
  build: (store, config) => new UNet(store, config),
  describe: (c) =>
    `U-Net: images [${c.channels}, ${c.size}, ${c.size}], ${c.numClasses} classes, ${c.baseChannels} x [${c.channelMults}] channels, attention at [${c.attentionResolutions}], ${c.prediction}-prediction${c.wInput ? ", takes w" : ""}${c.contextDim ? `, cross-attention to d = ${c.contextDim}` : ""}${c.condChannels ? `, ${c.condChannels} condition channels` : ""}`,
  defaultFor: (shape) => shape.length === 3,
  forData: (data, settings) => {
    const shape = data.exampleShape;
    if (shape.length !== 3 || shape[1] !== shape[2]) throw new ConfigError(`the U-Net takes square images [C, S, S] but the data's examples have shape [${shape}]`);
    return resolveUNetConfig({ ...settings, channels: shape[0], size: shape[1], numClasses: data.numClasses });
  },
};
