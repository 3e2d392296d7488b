// ONNX export of AutoencoderKL: onnxruntime-node's decoder gives libtorch's decodeLatents (then
// the center crop) and its encoder gives encode's mean and clamped logvar and mean *
// scaling_factor, to max abs diff <= 1e-4, for small random autoencoders of down factor 2 and 4,
// 1 and 3 channels, with and without attention, quant convs and crop (GroupNorm affines perturbed
// so that every weight takes part), at batch 1 and 3 from one file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, noGrad, rand, randn, tensor, tidy } from "../../src/engine/index.js";
import { exportAutoencoderToOnnx } from "../../src/export/export-autoencoder.js";
import { centerCropOffset } from "../../src/io/latent-record.js";
import { AutoencoderKL } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { readFewstepAutoencoderMetadata, readFewstepMetadata } from "../../src/portable/onnx-metadata.js";
import { maxAbsDiff, openSession, perturbWeights } from "../helpers/onnx-parity.js";

const TOLERANCE = 1e-4;
const SHA = "ab".repeat(32);

const variants = [
  { name: "factor 2, 1 channel, 8 -> crop 6, logvar clamped at both ends", size: 8, cropTo: 6, clampLogvar: true, config: { in_channels: 1, block_out_channels: [8, 16], latent_channels: 2, norm_num_groups: 4, sample_size: 8, scaling_factor: 0.37 } },
  { name: "factor 4, 3 channels, 16, 2 layers per block, no crop", size: 16, cropTo: null, config: { in_channels: 3, block_out_channels: [8, 8, 16], layers_per_block: 2, latent_channels: 3, norm_num_groups: 4, sample_size: 16, scaling_factor: 1.7 } },
  { name: "factor 4, 1 channel, 16 -> crop 13 (odd margin)", size: 16, cropTo: 13, config: { in_channels: 1, block_out_channels: [4, 8, 8], latent_channels: 4, norm_num_groups: 4, sample_size: 16, scaling_factor: 0.18215 } },
  { name: "factor 2, 3 channels, no attention, no quant convs, crop 10", size: 12, cropTo: 10, config: { in_channels: 3, block_out_channels: [8, 8], latent_channels: 2, norm_num_groups: 2, sample_size: 12, scaling_factor: 0.5, mid_block_add_attention: false, use_quant_conv: false, use_post_quant_conv: false } },
];

const isNorm = (name: string) => /(norm1|norm2|group_norm|conv_norm_out)\.(weight|bias)$/.test(name);

/** Center crop [n, C, S, S] -> [n, C, k, k] on host, at the offset the graph uses. */
function crop(x: Float32Array, n: number, c: number, size: number, k: number): Float32Array {
  const o = centerCropOffset(size, k);
  const out = new Float32Array(n * c * k * k);
  for (let p = 0; p < n * c; p++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[(p * k + i) * k + j] = x[(p * size + i + o) * size + j + o];
  return out;
}

for (const variant of variants) {
  test(`AutoencoderKL ${variant.name}: onnxruntime decoder and encoder match libtorch at batch 1 and 3`, async (t) => {
    const model = new AutoencoderKL(new ParamStore({ seed: 3 }), variant.config);
    try {
      perturbWeights(model, 17, 0.3, isNorm);
      if ("clampLogvar" in variant) {
        // quant_conv's log-variance channels pushed to +-40, past both clamp ends [-30, 20]
        const bias = model.named().get("quant_conv.bias")!;
        const L = variant.config.latent_channels;
        noGrad(() => bias.copy_(tensor(Float32Array.from({ length: 2 * L }, (_, i) => (i < L ? 0 : i % 2 === 0 ? 40 : -40)))));
      }
      const c = model.config;
      const { size, cropTo } = variant;
      const info = { source: "ae.safetensors", sha256: SHA, imageShape: [c.in_channels, size, size] };
      const decoder = exportAutoencoderToOnnx(model, "decoder", { ...info, cropTo });
      const encoder = exportAutoencoderToOnnx(model, "encoder", info);
      const count = (prefixes: string[]) => [...model.named()].filter(([k]) => prefixes.some((p) => k.startsWith(p))).reduce((s, [, p]) => s + p.numel, 0);
      assert.equal(decoder.parameterCount, count(["decoder.", "post_quant_conv."]));
      assert.equal(encoder.parameterCount, count(["encoder.", "quant_conv."]));
      const latentShape = model.latentShape([c.in_channels, size, size]);
      assert.deepEqual(readFewstepAutoencoderMetadata(decoder.bytes, "decoder"), decoder.metadata);
      assert.deepEqual(decoder.metadata.latentShape, latentShape);
      assert.equal(decoder.metadata.cropTo, cropTo);
      const side = cropTo ?? size;
      assert.deepEqual(decoder.outputs[0].shape, ["batch", c.out_channels, side, side]);

      const decSession = await openSession(decoder.bytes);
      const encSession = await openSession(encoder.bytes);
      const ort = await import("onnxruntime-node");
      for (const n of [1, 3]) {
        const g = new Generator(100 + n);
        // decoder: diffusion latents ~ N(0, 1)
        const latents = tidy(() => Float32Array.from(randn([n, ...latentShape], g).data() as Float32Array));
        const torchImage = tidy(() => {
          const full = Float32Array.from(noGrad(() => model.decodeLatents(tensor(latents, { shape: [n, ...latentShape] }))).data() as Float32Array);
          return cropTo === null ? full : crop(full, n, c.out_channels, size, cropTo);
        });
        const onnxImage = (await decSession.run({ latents: new ort.Tensor("float32", latents, [n, ...latentShape]) })).image;
        assert.deepEqual([...onnxImage.dims], [n, c.out_channels, side, side]);
        const decDiff = maxAbsDiff(onnxImage.data as Float32Array, torchImage);
        // encoder: images in [-1, 1]
        const images = tidy(() => Float32Array.from(rand([n, c.in_channels, size, size], g).mul(2).sub(1).data() as Float32Array));
        const torchPosterior = tidy(() => {
          const p = noGrad(() => model.encode(tensor(images, { shape: [n, c.in_channels, size, size] })));
          const f32 = (x: { data(): unknown }) => Float32Array.from(x.data() as Float32Array);
          return { mean: f32(p.mean), logvar: f32(p.logvar), latents: f32(p.mean.mul(c.scaling_factor)) };
        });
        const out = await encSession.run({ image: new ort.Tensor("float32", images, [n, c.in_channels, size, size]) });
        const encDiff = Math.max(...(["mean", "logvar", "latents"] as const).map((k) => maxAbsDiff(out[k].data as Float32Array, torchPosterior[k])));
        const largest = (x: ArrayLike<number>) => maxAbsDiff(x, new Float32Array(x.length));
        t.diagnostic(`${variant.name}, batch ${n}: decoder max abs diff ${decDiff.toExponential(2)} (|image| up to ${largest(torchImage).toFixed(2)}), encoder ${encDiff.toExponential(2)} (|mean| up to ${largest(torchPosterior.mean).toFixed(2)})`);
        if ("clampLogvar" in variant) assert.deepEqual(new Set(torchPosterior.logvar), new Set([20, -30]), "every log-variance clamped");
        assert.ok(decDiff <= TOLERANCE, `decoder batch ${n}: max abs diff ${decDiff}`);
        assert.ok(encDiff <= TOLERANCE, `encoder batch ${n}: max abs diff ${encDiff}`);
      }
      await decSession.release();
      await encSession.release();
    } finally {
      model.dispose();
    }
  });
}

test("a parameter the graph does not read fails the export, naming it", () => {
  const model = new AutoencoderKL(new ParamStore({ seed: 1 }), variants[0].config);
  try {
    model.store.sub("decoder").param("extra.weight", () => randn([2], new Generator(0)));
    assert.throws(() => exportAutoencoderToOnnx(model, "decoder", { source: "ae", sha256: SHA }), /the decoder graph leaves out parameters decoder\.extra\.weight/);
    // the encoder does not read the decoder's parameters, and is not blamed for them
    assert.ok(exportAutoencoderToOnnx(model, "encoder", { source: "ae", sha256: SHA }).bytes.length > 0);
  } finally {
    model.dispose();
  }
});

test("the denoiser reader refuses a decoder file and the decoder reader a denoiser's role, each in one line", () => {
  const model = new AutoencoderKL(new ParamStore({ seed: 1 }), variants[0].config);
  try {
    const { bytes } = exportAutoencoderToOnnx(model, "decoder", { source: "ae", sha256: SHA });
    assert.throws(() => readFewstepMetadata(bytes, "d.onnx"), /^OnnxMetadataError: d\.onnx: this is an autoencoder's decoder, not a denoiser; give the denoiser's \.onnx/);
    assert.throws(() => readFewstepAutoencoderMetadata(bytes, "encoder", "d.onnx"), /d\.onnx: this is an autoencoder's decoder, not an autoencoder's encoder/);
  } finally {
    model.dispose();
  }
});
