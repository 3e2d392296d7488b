// ONNX graph of UNet.forward (src/nn/unet.ts) at inference (dropout off). The stages come from
// the constructor's own plan (unetLayout: order, channel counts and parameter names), walked as
// forwardRaw walks them: skips pushed after every down stage
// (an attention stage replaces the skip its residual block pushed), concatenated on the way up.
import { unetLayout, type UNetConfig, type UNetStagePlan } from "../nn/unet.js";
import type { GraphBuilder } from "./graph-builder.js";
import { conditionEmbedding, conv2d, groupNorm, linear, logSnr, silu, toXHat, upsample2x, type WeightSource } from "./emit-layers.js";
import type { DenoiserInputs } from "./emit-mlp.js";

/** GroupNorm groups of every UNet norm (unet.ts GROUPS). */
const GROUPS = 8;

/** A stage of the U-Net's plan (nn/unet.ts unetLayout) with its weights. */
type Stage = UNetStagePlan & { ws: WeightSource };

/** The U-Net constructor's stage plan, each stage with its weights. */
function layout(ws: WeightSource, c: UNetConfig): { down: Stage[]; middle: Stage[]; up: Stage[]; outChannels: number } {
  const plan = unetLayout(c);
  const withWeights = (stage: UNetStagePlan): Stage => ({ ...stage, ws: stage.path.split(".").reduce((w, part) => w.sub(part), ws) });
  return { down: plan.down.map(withWeights), middle: plan.middle.map(withWeights), up: plan.up.map(withWeights), outChannels: plan.outChannels };
}

/** ResBlock: skip(x) + conv2(silu(GN2(conv1(silu(GN1(x)))) * (1 + scale) + shift)), scale and shift from film(e). */
function resBlock(g: GraphBuilder, s: Extract<Stage, { kind: "res" }>, x: string, e: string): string {
  const h = conv2d(g, s.ws.sub("conv1"), silu(g, groupNorm(g, s.ws.sub("norm1"), x, GROUPS, s.cin)), { padding: 1 });
  // film(e) [n, 2 cout] -> [n, 2 cout, 1, 1] -> scale, shift [n, cout, 1, 1] (chunk(2, 1))
  const film = g.op("Unsqueeze", [linear(g, s.ws.sub("film"), e), g.constInt64([2, 3])]);
  const [scale, shift] = g.node("Split", [film], { axis: { i: 1 } }, { outputs: 2, name: "film" });
  const modulated = g.op("Add", [g.op("Mul", [groupNorm(g, s.ws.sub("norm2"), h, GROUPS, s.cout), g.op("Add", [scale, g.constFloat(1)])]), shift]);
  const out = conv2d(g, s.ws.sub("conv2"), silu(g, modulated), { padding: 1 });
  const skip = s.cin === s.cout ? x : conv2d(g, s.ws.sub("skip"), x);
  return g.op("Add", [skip, out], {}, "res");
}

/** Single-head self-attention over the pixels: x + proj(v softmax(q^T k / sqrt(c))^T). */
function attention(g: GraphBuilder, s: Extract<Stage, { kind: "attn" }>, x: string): string {
  const c = s.channels;
  const hw = s.res * s.res;
  const qkv = g.op("Reshape", [conv2d(g, s.ws.sub("qkv"), groupNorm(g, s.ws.sub("norm"), x, GROUPS, c)), g.constInt64([0, 3 * c, hw])]);
  const [q, k, v] = g.node("Split", [qkv], { axis: { i: 1 } }, { outputs: 3, name: "qkv" }); // [n, c, hw] each
  const scores = g.op("Mul", [g.op("MatMul", [g.op("Transpose", [q], { perm: { ints: [0, 2, 1] } }), k]), g.constFloat(1 / Math.sqrt(c))]);
  const weights = g.op("Softmax", [scores], { axis: { i: 2 } }, "attn_weights"); // [n, hw, hw]
  const out = g.op("MatMul", [v, g.op("Transpose", [weights], { perm: { ints: [0, 2, 1] } })]);
  const image = g.op("Reshape", [out, g.constInt64([0, c, s.res, s.res])]);
  return g.op("Add", [x, conv2d(g, s.ws.sub("proj"), image)], {}, "attn");
}

/** Emits the U-Net's forward; returns the name of x-hat [n, C, H, W]. */
export function emitUNet(g: GraphBuilder, ws: WeightSource, cfg: UNetConfig, io: DenoiserInputs): string {
  const lambda = logSnr(g, io.t);
  const e = silu(g, conditionEmbedding(g, ws, { lambda, labels: io.labels, w: io.w }, cfg));
  const { down, middle, up, outChannels } = layout(ws, cfg);
  const run = (stage: Stage, x: string): string => {
    switch (stage.kind) {
      case "res":
        return resBlock(g, stage, x, e);
      case "attn":
        return attention(g, stage, x);
      case "down":
        return conv2d(g, stage.ws, x, { stride: 2, padding: 1 });
      case "up":
        return conv2d(g, stage.ws, upsample2x(g, x), { padding: 1 });
    }
  };
  let x = conv2d(g, ws.sub("conv_in"), io.z, { padding: 1 });
  const skips: string[] = [x];
  for (const stage of down) {
    x = run(stage, x);
    if (stage.kind !== "attn") skips.push(x);
    else skips[skips.length - 1] = x;
  }
  for (const stage of middle) x = run(stage, x);
  for (const stage of up) x = stage.kind === "res" ? run(stage, g.op("Concat", [x, skips.pop()!], { axis: { i: 1 } }, "skip_cat")) : run(stage, x);
  const raw = conv2d(g, ws.sub("conv_out"), silu(g, groupNorm(g, ws.sub("norm_out"), x, GROUPS, outChannels)), { padding: 1 });
  return toXHat(g, { z: io.z, raw, lambda }, cfg.prediction, 3);
}
