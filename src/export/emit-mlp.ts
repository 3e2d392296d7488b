// ONNX graph of MlpDenoiser.forward (src/nn/mlp-denoiser.ts), operation for operation:
//   e   = timeMlp(fourier(u(lambda(t)))) + classEmbed[c] (+ wMlp(fourier(w / wMax)) for students)
//   h_0 = input(z);  h_{k+1} = h_k + fc2(silu(fc1(layerNorm(h_k)) + emb(silu(e))))
//   out = output(silu(layerNorm(h_depth)));  x-hat = out ("x") or alpha z - sigma out ("v")
import type { MlpDenoiserConfig } from "../nn/mlp-denoiser.js";
import type { GraphBuilder } from "./graph-builder.js";
import { conditionEmbedding, layerNorm, linear, logSnr, silu, toXHat, type WeightSource } from "./emit-layers.js";

/** Graph values the denoiser reads: z [n, D], t [n], labels [n] int64, w [n] or null. */
export interface DenoiserInputs {
  z: string;
  t: string;
  labels: string;
  w: string | null;
}

/** Emits the MLP denoiser's forward; returns the name of x-hat [n, D]. */
export function emitMlpDenoiser(g: GraphBuilder, ws: WeightSource, cfg: MlpDenoiserConfig, io: DenoiserInputs): string {
  const lambda = logSnr(g, io.t);
  const e = silu(g, conditionEmbedding(g, ws, { lambda, labels: io.labels, w: io.w }, cfg));
  let h = linear(g, ws.sub("input"), io.z);
  for (let k = 0; k < cfg.depth; k++) {
    const block = ws.sub("blocks").sub(k);
    const inner = g.op("Add", [linear(g, block.sub("fc1"), layerNorm(g, block.sub("norm"), h)), linear(g, block.sub("emb"), e)]);
    h = g.op("Add", [h, linear(g, block.sub("fc2"), silu(g, inner))], {}, `block${k}`);
  }
  const raw = linear(g, ws.sub("output"), silu(g, layerNorm(g, ws.sub("out_norm"), h)));
  return toXHat(g, { z: io.z, raw, lambda }, cfg.prediction, 1);
}
