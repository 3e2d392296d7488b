// ONNX graphs of AutoencoderKL (src/nn/autoencoder.ts): the decoder of diffusion latents
// (decodeLatents: divide by scaling_factor, post_quant_conv, decoder, then the latent record's
// center crop) and the encoder (encode: encoder, quant_conv, split into mean and log-variance,
// clamp; latents = mean * scaling_factor). Each block writes the operations of its libtorch
// forward in the same order, so the graphs agree with it to float32 rounding. Spatial sizes are
// read from the tensors (Shape), not baked in, except the crop's offsets.
import { LOGVAR_MAX, LOGVAR_MIN, type AutoencoderKLConfig } from "../nn/autoencoder.js";
import type { GraphBuilder } from "./graph-builder.js";
import { conv2d, groupNorm, linearLastAxis, silu, upsample2x, type WeightSource } from "./emit-layers.js";

/** GroupNorm eps of every autoencoder norm (autoencoder.ts GROUP_NORM_EPS, diffusers' 1e-6). */
const GROUP_NORM_EPS = 1e-6;

/** ResnetBlock: (conv_shortcut(x) or x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
function resnetBlock(g: GraphBuilder, ws: WeightSource, x: string, groups: number, cin: number, cout: number): string {
  const h1 = conv2d(g, ws.sub("conv1"), silu(g, groupNorm(g, ws.sub("norm1"), x, groups, cin, GROUP_NORM_EPS)), { padding: 1 });
  const h = conv2d(g, ws.sub("conv2"), silu(g, groupNorm(g, ws.sub("norm2"), h1, groups, cout, GROUP_NORM_EPS)), { padding: 1 });
  const skip = cin !== cout ? conv2d(g, ws.sub("conv_shortcut"), x) : x;
  return g.op("Add", [skip, h], {}, "resnet");
}

/** SelfAttention: x + to_out(softmax(q k^T / sqrt(C)) v) over the pixels [n, hw, C], one head. */
function selfAttention(g: GraphBuilder, ws: WeightSource, x: string, groups: number, channels: number): string {
  const normed = groupNorm(g, ws.sub("group_norm"), x, groups, channels, GROUP_NORM_EPS);
  const pixels = g.op("Transpose", [g.op("Reshape", [normed, g.constInt64([0, channels, -1])])], { perm: { ints: [0, 2, 1] } }, "pixels"); // [n, hw, C]
  const q = linearLastAxis(g, ws.sub("to_q"), pixels);
  const k = linearLastAxis(g, ws.sub("to_k"), pixels);
  const v = linearLastAxis(g, ws.sub("to_v"), pixels);
  const scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], { perm: { ints: [0, 2, 1] } })]), g.constFloat(1 / Math.sqrt(channels))]);
  const weights = g.op("Softmax", [scores], { axis: { i: 2 } }, "attn_weights"); // [n, hw, hw]
  const out = linearLastAxis(g, ws.sub("to_out").sub(0), g.op("MatMul", [weights, v])); // [n, hw, C]
  const image = g.op("Reshape", [g.op("Transpose", [out], { perm: { ints: [0, 2, 1] } }), g.op("Shape", [x])]);
  return g.op("Add", [x, image], {}, "attn");
}

/** MidBlock: ResNet, attention (when the config has it), ResNet. */
function midBlock(g: GraphBuilder, ws: WeightSource, x: string, c: AutoencoderKLConfig, channels: number): string {
  const groups = c.norm_num_groups;
  let h = resnetBlock(g, ws.sub("resnets").sub(0), x, groups, channels, channels);
  if (c.mid_block_add_attention) h = selfAttention(g, ws.sub("attentions").sub(0), h, groups, channels);
  return resnetBlock(g, ws.sub("resnets").sub(1), h, groups, channels, channels);
}

/** Downsample: zero padding (0, 1, 0, 1) (one column right, one row below), then the stride-2 3x3 conv. */
function downsample(g: GraphBuilder, ws: WeightSource, x: string): string {
  // ONNX pads: begins of axes n, c, h, w, then their ends
  const padded = g.op("Pad", [x, g.constInt64([0, 0, 0, 0, 0, 0, 1, 1])], { mode: { s: "constant" } }, "pad");
  return conv2d(g, ws.sub("conv"), padded, { stride: 2 });
}

/** The encoder, quant_conv and the split: mean and clamped log-variance [n, latent_channels, h, w] of images [n, C, H, W]. */
export function emitEncoder(g: GraphBuilder, ws: WeightSource, c: AutoencoderKLConfig, image: string): { mean: string; logvar: string } {
  const e = ws.sub("encoder");
  const widths = c.block_out_channels;
  const groups = c.norm_num_groups;
  let h = conv2d(g, e.sub("conv_in"), image, { padding: 1 });
  let ch = widths[0];
  widths.forEach((width, i) => {
    const block = e.sub("down_blocks").sub(i);
    for (let j = 0; j < c.layers_per_block; j++) {
      h = resnetBlock(g, block.sub("resnets").sub(j), h, groups, ch, width);
      ch = width;
    }
    if (i < widths.length - 1) h = downsample(g, block.sub("downsamplers").sub(0), h);
  });
  h = midBlock(g, e.sub("mid_block"), h, c, ch);
  let moments = conv2d(g, e.sub("conv_out"), silu(g, groupNorm(g, e.sub("conv_norm_out"), h, groups, ch, GROUP_NORM_EPS)), { padding: 1 });
  if (c.use_quant_conv) moments = conv2d(g, ws.sub("quant_conv"), moments);
  const [mean, rawLogvar] = g.node("Split", [moments], { axis: { i: 1 } }, { outputs: 2, name: "moments" });
  const logvar = g.op("Clip", [rawLogvar, g.constFloat(LOGVAR_MIN), g.constFloat(LOGVAR_MAX)], {}, "logvar");
  return { mean, logvar };
}

/**
 * Images [n, out_channels, H, W] from diffusion latents [n, latent_channels, h, w]: divided by
 * scaling_factor, post_quant_conv, the decoder; then, with `crop`, the center [cropTo, cropTo]
 * window of the [size, size] image (offset centerCropOffset, io/latent-record.ts).
 */
export function emitDecoder(g: GraphBuilder, ws: WeightSource, c: AutoencoderKLConfig, latents: string, crop: { size: number; cropTo: number; offset: number } | null): string {
  let z = g.op("Div", [latents, g.constFloat(c.scaling_factor)], {}, "z");
  if (c.use_post_quant_conv) z = conv2d(g, ws.sub("post_quant_conv"), z);
  const d = ws.sub("decoder");
  const reversed = [...c.block_out_channels].reverse();
  const groups = c.norm_num_groups;
  let h = midBlock(g, d.sub("mid_block"), conv2d(g, d.sub("conv_in"), z, { padding: 1 }), c, reversed[0]);
  let ch = reversed[0];
  reversed.forEach((width, i) => {
    const block = d.sub("up_blocks").sub(i);
    for (let j = 0; j <= c.layers_per_block; j++) {
      h = resnetBlock(g, block.sub("resnets").sub(j), h, groups, ch, width);
      ch = width;
    }
    if (i < reversed.length - 1) h = conv2d(g, block.sub("upsamplers").sub(0).sub("conv"), upsample2x(g, h), { padding: 1 });
  });
  const image = conv2d(g, d.sub("conv_out"), silu(g, groupNorm(g, d.sub("conv_norm_out"), h, groups, ch, GROUP_NORM_EPS)), { padding: 1 });
  if (crop === null || crop.cropTo === crop.size) return image;
  const { offset, cropTo } = crop;
  return g.op("Slice", [image, g.constInt64([offset, offset]), g.constInt64([offset + cropTo, offset + cropTo]), g.constInt64([2, 3])], {}, "crop");
}
