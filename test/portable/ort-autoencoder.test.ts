// The portable decoder and encoder openers on onnxruntime-node: batched runs (batch size 2 for 5
// examples) give libtorch's decodeLatents and encode; a decoder is refused for a denoiser it does
// not fit (another autoencoder, other latents) and a file of the other part is refused by role.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { Generator, noGrad, rand, randn, tensor, tidy } from "../../src/engine/index.js";
import { exportAutoencoderToOnnx } from "../../src/export/export-autoencoder.js";
import { AutoencoderKL } from "../../src/nn/autoencoder.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { decoderMismatch, openFewstepDecoder, openFewstepEncoder, type FewstepOnnxMetadata } from "../../src/portable/index.js";
import { maxAbsDiff, perturbWeights } from "../helpers/onnx-parity.js";

const SHA = "12".repeat(32);
const config = { in_channels: 3, block_out_channels: [8, 16], latent_channels: 2, norm_num_groups: 4, sample_size: 8, scaling_factor: 0.8 };
const session = { intraOpNumThreads: 1 };
const f32 = (x: { data(): unknown }) => Float32Array.from(x.data() as Float32Array);

test("decode and encode in batches of 2 equal libtorch's decodeLatents and encode for 5 examples", async () => {
  const ae = new AutoencoderKL(new ParamStore({ seed: 2 }), config);
  try {
    perturbWeights(ae, 5, 0.3, (name) => /norm/.test(name));
    const info = { source: "ae.safetensors", sha256: SHA };
    const decoder = await openFewstepDecoder(ort, exportAutoencoderToOnnx(ae, "decoder", info).bytes, { sessionOptions: session });
    const encoder = await openFewstepEncoder(ort, exportAutoencoderToOnnx(ae, "encoder", info).bytes, { sessionOptions: session });
    const g = new Generator(8);
    const latents = tidy(() => f32(randn([5, 2, 4, 4], g)));
    const images = tidy(() => f32(rand([5, 3, 8, 8], g).mul(2).sub(1)));
    const decoded = await decoder.decode(latents, { batchSize: 2 });
    assert.deepEqual(decoder.imageShape, [3, 8, 8]);
    assert.ok(maxAbsDiff(decoded, tidy(() => f32(noGrad(() => ae.decodeLatents(tensor(latents, { shape: [5, 2, 4, 4] })))))) <= 1e-4);
    const encoded = await encoder.encode(images, { batchSize: 2 });
    const p = noGrad(() => ae.encode(tensor(images, { shape: [5, 3, 8, 8] })));
    try {
      assert.ok(maxAbsDiff(encoded.mean, f32(p.mean)) <= 1e-4);
      assert.ok(maxAbsDiff(encoded.logvar, f32(p.logvar)) <= 1e-4);
      assert.ok(maxAbsDiff(encoded.latents, tidy(() => f32(p.mean.mul(0.8)))) <= 1e-4);
    } finally {
      p.mean.dispose();
      p.logvar.dispose();
    }
    await assert.rejects(decoder.decode(latents.subarray(0, 7)), /latents has 7 numbers, not a whole number \(>= 1\) of examples of \[2,4,4\]/);
    await decoder.release();
    await encoder.release();
  } finally {
    ae.dispose();
  }
});

test("a decoder must fit its latent denoiser; the other part's file is refused by role", async () => {
  const ae = new AutoencoderKL(new ParamStore({ seed: 2 }), config);
  try {
    const decoderExport = exportAutoencoderToOnnx(ae, "decoder", { source: "ae", sha256: SHA, cropTo: 6 });
    const encoderBytes = exportAutoencoderToOnnx(ae, "encoder", { source: "ae", sha256: SHA }).bytes;
    const student = (latent: FewstepOnnxMetadata["latent"], exampleShape = [2, 4, 4]): FewstepOnnxMetadata => ({
      format: "fewstep-onnx/1",
      kind: "unet",
      exampleShape,
      numClasses: 3,
      wInput: true,
      wMax: 4,
      prediction: "v",
      schedule: { type: "cosine-logsnr", lambdaMin: -20, lambdaMax: 20 },
      steps: 2,
      source: "s",
      latent,
    });
    const fits = { decoder: "d.onnx", autoencoderSha256: SHA, imageShape: [3, 8, 8], cropTo: 6 };
    const names = { model: "s.onnx", decoder: "d.onnx" };
    const m = decoderExport.metadata;
    assert.equal(decoderMismatch(student(fits), m, names), null);
    assert.match(decoderMismatch(student({ ...fits, autoencoderSha256: "34".repeat(32) }), m, names)!, /d\.onnx is the decoder of autoencoder 121212121212\.\.\., but s\.onnx was trained on the latents of 343434343434\.\.\./);
    assert.match(decoderMismatch(student({ ...fits, cropTo: null }), m, names)!, /cropped to 6, but s\.onnx samples \[2,4,4\] of images \[3,8,8\] cropped to null/);
    assert.match(decoderMismatch(student(fits, [2, 8, 8]), m, names)!, /decodes latents \[2,4,4\]/);
    assert.match(decoderMismatch(student(undefined), m, names)!, /s\.onnx is not a latent model/);
    await assert.rejects(openFewstepDecoder(ort, decoderExport.bytes, { source: "d.onnx", forModel: { metadata: student({ ...fits, autoencoderSha256: "34".repeat(32) }), source: "s.onnx" } }), /is the decoder of autoencoder/);
    await assert.rejects(openFewstepDecoder(ort, encoderBytes, { source: "e.onnx" }), /e\.onnx: this is an autoencoder's encoder, not an autoencoder's decoder/);
  } finally {
    ae.dispose();
  }
});
