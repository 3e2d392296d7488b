// The KL-regularised convolutional autoencoder of latent diffusion (Rombach et al. 2022), built as
// diffusers' `AutoencoderKL` builds it, with its parameter names and config fields, so that a
// diffusers-format checkpoint of a supported config loads by name (io/load-autoencoder.ts):
//   encoder: conv_in -> down_blocks (layers_per_block ResNet blocks each; all but the last end in a
//            stride-2 conv after zero padding (0, 1, 0, 1)) -> mid_block (ResNet, self-attention,
//            ResNet) -> conv_norm_out -> SiLU -> conv_out to 2 x latent_channels
//   quant_conv (1x1) -> mean, log-variance (clamped to [-30, 20])
//   post_quant_conv (1x1) -> decoder: conv_in -> mid_block -> up_blocks (layers_per_block + 1
//            ResNet blocks each, widths reversed; all but the last end in nearest x2 + 3x3 conv)
//            -> conv_norm_out -> SiLU -> conv_out
// GroupNorms use eps 1e-6 and norm_num_groups groups; the mid-block attention has one head
// (attention_head_dim = the last width), q/k/v/out as Linear layers over the pixels, residual.
// Diffusion runs on scaling_factor * z (Stable Diffusion's 0.18215), estimated from data by the
// trainer so the latents have unit variance; the denoiser never knows it is in latent space.
import { cat, interpolateNearest, randn, tidy, zeros, ConfigError, ShapeError, type Generator, type Tensor } from "../engine/index.js";
import { Conv2d, GroupNorm, Linear } from "./layers.js";
import type { Model, ModelKindEntry } from "./model.js";
import type { ParamStore } from "./param-store.js";

/** The config, in diffusers' field names (config.json of an AutoencoderKL). */
export interface AutoencoderKLConfig {
  /** Image channels in (1 for Fashion-MNIST, 3 for RGB). */
  in_channels: number;
  /** Image channels out. @default in_channels */
  out_channels: number;
  /** Widths of the levels; the image shrinks by 2 at each but the last (down factor 2^(levels - 1)). @default [32, 64, 64] */
  block_out_channels: number[];
  /** ResNet blocks per encoder level (the decoder has one more). @default 1 */
  layers_per_block: number;
  /** Channels of the latent. @default 4 */
  latent_channels: number;
  /** GroupNorm groups; every width must divide by it. @default 8 */
  norm_num_groups: number;
  /** Side of the training images (informational: the net is convolutional). */
  sample_size: number;
  /** Diffusion latents are scaling_factor * z (1 / std of z over training data). @default 1 */
  scaling_factor: number;
  /** Self-attention in the mid blocks. @default true */
  mid_block_add_attention: boolean;
  /** The 1x1 quant_conv / post_quant_conv exist (diffusers' use_quant_conv / use_post_quant_conv). @default true */
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
}

export const AUTOENCODER_DEFAULTS = {
  // Three levels: a down factor of 4, so 32 x 32 Fashion-MNIST (padded) gives [4, 8, 8] latents;
  // narrow enough to train on two CPU cores in tens of minutes.
  block_out_channels: [32, 64, 64],
  layers_per_block: 1,
  latent_channels: 4,
  // diffusers' default is 32; with widths of 32 that is one channel per group (instance norm),
  // so 8, as the other fewstep nets use.
  norm_num_groups: 8,
  scaling_factor: 1,
  mid_block_add_attention: true,
  use_quant_conv: true,
  use_post_quant_conv: true,
};

/** The largest value of each size field resolveAutoencoderConfig accepts. */
export const AUTOENCODER_LIMITS = { channels: 4096, width: 4096, levels: 8, layers: 16, latentChannels: 1024, sampleSize: 65_536 };

/** diffusers config fields that do not change the network (or that fewstep keeps elsewhere). */
const IGNORED_DIFFUSERS_FIELDS = ["_class_name", "_diffusers_version", "_name_or_path", "force_upcast", "act_fn", "down_block_types", "up_block_types", "latents_mean", "latents_std", "shift_factor"];

const GROUP_NORM_EPS = 1e-6;
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

/**
 * Fills in defaults and validates; every bad field is named in one ConfigError.
 * @throws ConfigError listing each invalid field
 */
export function resolveAutoencoderConfig(raw: Record<string, unknown>): AutoencoderKLConfig {
  const known = new Set(["in_channels", "out_channels", "sample_size", ...Object.keys(AUTOENCODER_DEFAULTS)]);
  const bad: string[] = [];
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (IGNORED_DIFFUSERS_FIELDS.includes(key)) continue;
    if (!known.has(key)) bad.push(`unknown field '${key}'; known: ${[...known].join(", ")}`);
    else if (value !== undefined) given[key] = value;
  }
  checkDiffusersOnlyFields(raw, bad);
  const c = { ...structuredClone(AUTOENCODER_DEFAULTS), out_channels: given.in_channels, ...given } as AutoencoderKLConfig;
  const L = AUTOENCODER_LIMITS;
  const int = (name: keyof AutoencoderKLConfig, min: number, max: number) => {
    const v = c[name];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) bad.push(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  int("in_channels", 1, L.channels);
  int("out_channels", 1, L.channels);
  int("layers_per_block", 1, L.layers);
  int("latent_channels", 1, L.latentChannels);
  int("norm_num_groups", 1, L.width);
  int("sample_size", 1, L.sampleSize);
  const widths = c.block_out_channels;
  if (!Array.isArray(widths) || widths.length === 0 || widths.length > L.levels || !widths.every((k) => Number.isSafeInteger(k) && k >= 1 && k <= L.width)) {
    bad.push(`block_out_channels must be a list of 1 to ${L.levels} integers in [1, ${L.width}], got ${JSON.stringify(widths)?.slice(0, 80)}`);
  } else if (Number.isSafeInteger(c.norm_num_groups) && !widths.every((k) => k % c.norm_num_groups === 0)) {
    bad.push(`every block_out_channels width must divide by norm_num_groups ${c.norm_num_groups}, got [${widths}]`);
  }
  if (typeof c.scaling_factor !== "number" || !Number.isFinite(c.scaling_factor) || c.scaling_factor <= 0) bad.push(`scaling_factor must be a positive number, got ${JSON.stringify(c.scaling_factor)}`);
  for (const name of ["mid_block_add_attention", "use_quant_conv", "use_post_quant_conv"] as const) {
    if (typeof c[name] !== "boolean") bad.push(`${name} must be true or false, got ${JSON.stringify(c[name])}`);
  }
  if (bad.length > 0) throw new ConfigError(`invalid autoencoder config:\n  ${bad.join("\n  ")}`);
  return c;
}

/** The diffusers fields fewstep ignores must hold what fewstep builds (silu; the KL blocks; no latent shift). */
function checkDiffusersOnlyFields(raw: Record<string, unknown>, bad: string[]): void {
  if (raw.act_fn !== undefined && raw.act_fn !== "silu") bad.push(`act_fn ${JSON.stringify(raw.act_fn)} is not supported; fewstep's autoencoder uses "silu"`);
  const blocks = (field: string, want: string) => {
    const v = raw[field];
    if (v !== undefined && (!Array.isArray(v) || !v.every((b) => b === want))) bad.push(`${field} must list only ${want}, got ${JSON.stringify(v)?.slice(0, 80)}`);
  };
  blocks("down_block_types", "DownEncoderBlock2D");
  blocks("up_block_types", "UpDecoderBlock2D");
  if (raw.shift_factor !== undefined && raw.shift_factor !== null && raw.shift_factor !== 0) bad.push(`shift_factor ${JSON.stringify(raw.shift_factor)} is not supported (latents are scaling_factor * z)`);
  for (const field of ["latents_mean", "latents_std"]) if (raw[field] !== undefined && raw[field] !== null) bad.push(`${field} is not supported (latents are scaling_factor * z)`);
}

/** The down factor 2^(levels - 1). */
export function downFactor(c: Pick<AutoencoderKLConfig, "block_out_channels">): number {
  return 2 ** (c.block_out_channels.length - 1);
}

/** diffusers' ResnetBlock2D without a time embedding: x + conv2(drop(silu(norm2(conv1(silu(norm1(x))))))). */
class ResnetBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  private readonly shortcut: Conv2d | null;
  constructor(store: ParamStore, groups: number, cin: number, cout: number) {
    this.norm1 = new GroupNorm(store.sub("norm1"), groups, cin, GROUP_NORM_EPS);
    this.conv1 = new Conv2d(store.sub("conv1"), cin, cout, 3, { padding: 1 });
    this.norm2 = new GroupNorm(store.sub("norm2"), groups, cout, GROUP_NORM_EPS);
    this.conv2 = new Conv2d(store.sub("conv2"), cout, cout, 3, { padding: 1 });
    this.shortcut = cin !== cout ? new Conv2d(store.sub("conv_shortcut"), cin, cout, 1) : null;
  }
  forward(x: Tensor): Tensor {
    const h = this.conv2.forward(this.norm2.forward(this.conv1.forward(this.norm1.forward(x).silu())).silu());
    return (this.shortcut ? this.shortcut.forward(x) : x).add(h);
  }
}

/** diffusers' Attention as the VAE's mid block uses it: GroupNorm, one head over the pixels, residual. */
class SelfAttention {
  private readonly norm: GroupNorm;
  private readonly toQ: Linear;
  private readonly toK: Linear;
  private readonly toV: Linear;
  private readonly toOut: Linear;
  constructor(store: ParamStore, groups: number, private readonly channels: number) {
    this.norm = new GroupNorm(store.sub("group_norm"), groups, channels, GROUP_NORM_EPS);
    this.toQ = new Linear(store.sub("to_q"), channels, channels);
    this.toK = new Linear(store.sub("to_k"), channels, channels);
    this.toV = new Linear(store.sub("to_v"), channels, channels);
    this.toOut = new Linear(store.sub("to_out").sub(0), channels, channels);
  }
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    const pixels = this.norm.forward(x).reshape([n, c, h * w]).transpose(1, 2); // [n, hw, c]
    const q = this.toQ.forward(pixels);
    const k = this.toK.forward(pixels);
    const v = this.toV.forward(pixels);
    const weights = q.matmul(k.transpose(1, 2)).mul(1 / Math.sqrt(this.channels)).softmax(2); // [n, hw, hw]
    const out = this.toOut.forward(weights.matmul(v)); // [n, hw, c]
    return x.add(out.transpose(1, 2).reshape([n, c, h, w]));
  }
}

/** UNetMidBlock2D of the VAE: ResNet, attention (optional), ResNet. */
class MidBlock {
  private readonly resnets: ResnetBlock[];
  private readonly attention: SelfAttention | null;
  constructor(store: ParamStore, groups: number, channels: number, withAttention: boolean) {
    const resnets = store.sub("resnets");
    this.resnets = [new ResnetBlock(resnets.sub(0), groups, channels, channels)];
    this.attention = withAttention ? new SelfAttention(store.sub("attentions").sub(0), groups, channels) : null;
    this.resnets.push(new ResnetBlock(resnets.sub(1), groups, channels, channels));
  }
  forward(x: Tensor): Tensor {
    let h = this.resnets[0].forward(x);
    if (this.attention) h = this.attention.forward(h);
    return this.resnets[1].forward(h);
  }
}

/** Zero padding (0, 1, 0, 1) then a stride-2 3x3 conv: diffusers' Downsample2D with padding 0. */
class Downsample {
  private readonly conv: Conv2d;
  constructor(store: ParamStore, channels: number) {
    this.conv = new Conv2d(store.sub("conv"), channels, channels, 3, { stride: 2 });
  }
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    const opts = { dtype: x.dtype, device: x.device };
    const right = cat([x, zeros([n, c, h, 1], opts)], 3);
    return this.conv.forward(cat([right, zeros([n, c, 1, w + 1], opts)], 2));
  }
}

/** Nearest x2 then a 3x3 conv: diffusers' Upsample2D. */
class Upsample {
  private readonly conv: Conv2d;
  constructor(store: ParamStore, channels: number) {
    this.conv = new Conv2d(store.sub("conv"), channels, channels, 3, { padding: 1 });
  }
  forward(x: Tensor): Tensor {
    return this.conv.forward(interpolateNearest(x, { scaleFactor: 2 }));
  }
}

class Encoder {
  private readonly convIn: Conv2d;
  private readonly levels: { resnets: ResnetBlock[]; down: Downsample | null }[] = [];
  private readonly mid: MidBlock;
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  constructor(store: ParamStore, c: AutoencoderKLConfig) {
    const widths = c.block_out_channels;
    const groups = c.norm_num_groups;
    this.convIn = new Conv2d(store.sub("conv_in"), c.in_channels, widths[0], 3, { padding: 1 });
    const blocks = store.sub("down_blocks");
    let ch = widths[0];
    widths.forEach((width, i) => {
      const block = blocks.sub(i);
      const resnets: ResnetBlock[] = [];
      for (let j = 0; j < c.layers_per_block; j++) {
        resnets.push(new ResnetBlock(block.sub("resnets").sub(j), groups, ch, width));
        ch = width;
      }
      const down = i < widths.length - 1 ? new Downsample(block.sub("downsamplers").sub(0), width) : null;
      this.levels.push({ resnets, down });
    });
    this.mid = new MidBlock(store.sub("mid_block"), groups, ch, c.mid_block_add_attention);
    this.normOut = new GroupNorm(store.sub("conv_norm_out"), groups, ch, GROUP_NORM_EPS);
    this.convOut = new Conv2d(store.sub("conv_out"), ch, 2 * c.latent_channels, 3, { padding: 1 });
  }
  forward(x: Tensor): Tensor {
    let h = this.convIn.forward(x);
    for (const level of this.levels) {
      for (const r of level.resnets) h = r.forward(h);
      if (level.down) h = level.down.forward(h);
    }
    h = this.mid.forward(h);
    return this.convOut.forward(this.normOut.forward(h).silu());
  }
}

class Decoder {
  private readonly convIn: Conv2d;
  private readonly mid: MidBlock;
  private readonly levels: { resnets: ResnetBlock[]; up: Upsample | null }[] = [];
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  constructor(store: ParamStore, c: AutoencoderKLConfig) {
    const reversed = [...c.block_out_channels].reverse();
    const groups = c.norm_num_groups;
    this.convIn = new Conv2d(store.sub("conv_in"), c.latent_channels, reversed[0], 3, { padding: 1 });
    this.mid = new MidBlock(store.sub("mid_block"), groups, reversed[0], c.mid_block_add_attention);
    const blocks = store.sub("up_blocks");
    let ch = reversed[0];
    reversed.forEach((width, i) => {
      const block = blocks.sub(i);
      const resnets: ResnetBlock[] = [];
      for (let j = 0; j <= c.layers_per_block; j++) {
        resnets.push(new ResnetBlock(block.sub("resnets").sub(j), groups, ch, width));
        ch = width;
      }
      const up = i < reversed.length - 1 ? new Upsample(block.sub("upsamplers").sub(0), width) : null;
      this.levels.push({ resnets, up });
    });
    this.normOut = new GroupNorm(store.sub("conv_norm_out"), groups, ch, GROUP_NORM_EPS);
    this.convOut = new Conv2d(store.sub("conv_out"), ch, c.out_channels, 3, { padding: 1 });
  }
  forward(z: Tensor): Tensor {
    let h = this.mid.forward(this.convIn.forward(z));
    for (const level of this.levels) {
      for (const r of level.resnets) h = r.forward(h);
      if (level.up) h = level.up.forward(h);
    }
    return this.convOut.forward(this.normOut.forward(h).silu());
  }
}

/** The posterior N(mean, exp(logvar)) of the latent, per element [n, latent_channels, h, w]. */
export interface LatentPosterior {
  mean: Tensor;
  /** Clamped to [-30, 20] as latent diffusion clamps it. */
  logvar: Tensor;
}

/**
 * AutoencoderKL: `encode(x)` gives the posterior of z, `decode(z)` the image. Parameter names are
 * diffusers': `encoder.*`, `quant_conv`, `post_quant_conv`, `decoder.*`.
 */
export class AutoencoderKL implements Model {
  readonly kind = "autoencoder-kl" as const;
  readonly store: ParamStore;
  readonly config: AutoencoderKLConfig;
  private readonly encoder: Encoder;
  private readonly decoder: Decoder;
  private readonly quantConv: Conv2d | null;
  private readonly postQuantConv: Conv2d | null;

  constructor(store: ParamStore, config: Record<string, unknown>) {
    const c = resolveAutoencoderConfig(config);
    this.store = store;
    this.config = c;
    this.encoder = new Encoder(store.sub("encoder"), c);
    this.decoder = new Decoder(store.sub("decoder"), c);
    const L = c.latent_channels;
    this.quantConv = c.use_quant_conv ? new Conv2d(store.sub("quant_conv"), 2 * L, 2 * L, 1) : null;
    this.postQuantConv = c.use_post_quant_conv ? new Conv2d(store.sub("post_quant_conv"), L, L, 1) : null;
  }

  /** How much smaller each side of the latent is than the image's. */
  get downFactor(): number {
    return downFactor(this.config);
  }

  /** The latent shape [latent_channels, H / f, W / f] of images [C, H, W]; a ShapeError when f does not divide H and W. */
  latentShape(imageShape: number[]): number[] {
    const [c, h, w] = imageShape;
    const f = this.downFactor;
    if (imageShape.length !== 3 || c !== this.config.in_channels) {
      throw new ShapeError(`the autoencoder takes images [${this.config.in_channels}, H, W], got [${imageShape}]`);
    }
    if (h % f !== 0 || w % f !== 0) {
      throw new ShapeError(`image size ${h}x${w} does not divide by the autoencoder's down factor ${f}; pad or resize the images to a multiple of ${f} (e.g. --size ${Math.ceil(Math.max(h, w) / f) * f})`);
    }
    return [this.config.latent_channels, h / f, w / f];
  }

  /** The image shape [out_channels, h f, w f] that latents [latent_channels, h, w] decode to. */
  imageShape(latentShape: number[]): number[] {
    const f = this.downFactor;
    return [this.config.out_channels, latentShape[1] * f, latentShape[2] * f];
  }

  parameters(): Tensor[] {
    return this.store.parameters();
  }

  named(): Map<string, Tensor> {
    return this.store.named();
  }

  metadata(): { kind: "autoencoder-kl"; config: AutoencoderKLConfig } {
    return { kind: "autoencoder-kl", config: structuredClone(this.config) };
  }

  /** The posterior of z for images x [n, C, H, W] in [-1, 1]. */
  encode(x: Tensor): LatentPosterior {
    this.latentShape(x.shape.slice(1));
    if (x.ndim !== 4) throw new ShapeError(`AutoencoderKL.encode: x must be [n, C, H, W], got [${x.shape}]`);
    return tidy(() => {
      let moments = this.encoder.forward(x.to("float32"));
      if (this.quantConv) moments = this.quantConv.forward(moments);
      const [mean, logvar] = moments.chunk(2, 1);
      return { mean, logvar: logvar.clamp(LOGVAR_MIN, LOGVAR_MAX) };
    });
  }

  /** Images [n, out_channels, H, W] from latents z [n, latent_channels, h, w] (unscaled). */
  decode(z: Tensor): Tensor {
    const L = this.config.latent_channels;
    if (z.ndim !== 4 || z.shape[1] !== L) {
      throw new ShapeError(`the decoder takes latents [n, ${L}, h, w], got [${z.shape}]; were these latents made by another autoencoder?`);
    }
    return tidy(() => this.decoder.forward(this.postQuantConv ? this.postQuantConv.forward(z.to("float32")) : z.to("float32")));
  }

  /** Diffusion latents scaling_factor * z for images x: the posterior mean, or a draw from it when `generator` is given. */
  encodeLatents(x: Tensor, generator?: Generator): Tensor {
    return tidy(() => {
      const { mean, logvar } = this.encode(x);
      const z = generator ? samplePosterior({ mean, logvar }, generator) : mean;
      return z.mul(this.config.scaling_factor);
    });
  }

  /** Images from diffusion latents (divided by scaling_factor, then decoded). */
  decodeLatents(latents: Tensor): Tensor {
    return tidy(() => this.decode(latents.div(this.config.scaling_factor)));
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** z = mean + exp(logvar / 2) eps, eps ~ N(0, I) from `generator` (the reparameterisation). */
export function samplePosterior(p: LatentPosterior, generator: Generator): Tensor {
  return tidy(() => {
    const eps = randn(p.mean.shape, generator, { device: p.mean.device });
    return p.mean.add(p.logvar.mul(0.5).exp().mul(eps));
  });
}

/** KL(N(mean, var) || N(0, I)) per example [n]: 0.5 sum(mean^2 + var - 1 - logvar) over the latent (LDM's DiagonalGaussianDistribution.kl). */
export function klToStandardNormal(p: LatentPosterior): Tensor {
  return tidy(() => p.mean.square().add(p.logvar.exp()).sub(1).sub(p.logvar).sum([1, 2, 3]).mul(0.5));
}

/** The registry entry of this kind (nn/registry.ts). */
export const AUTOENCODER_KL_KIND: ModelKindEntry<AutoencoderKLConfig, AutoencoderKL> = {
  role: "autoencoder",
  resolveConfig: (raw) => resolveAutoencoderConfig(raw),
  build: (store, config) => new AutoencoderKL(store, config as unknown as Record<string, unknown>),
  describe: (c) =>
    `autoencoder (KL): [${c.in_channels}, H, W] -> [${c.latent_channels}, H/${downFactor(c)}, W/${downFactor(c)}], widths [${c.block_out_channels}], ${c.layers_per_block} ResNet block(s) per level, scaling factor ${c.scaling_factor.toPrecision(5)}`,
};
