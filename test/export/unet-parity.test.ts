// ONNX export of the U-Net: onnxruntime-node gives the libtorch forward's x-hat (max abs diff
// < 1e-4) for small U-Nets with and without the w input (weights perturbed so the zero-initialised
// convs and w path take part), at batch 1 and 5 from one file, and for the shipped Fashion-MNIST
// 4-step student exported from its checkpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportCheckpointToOnnx, exportModelToOnnx } from "../../src/export/export-onnx.js";
import { loadModel } from "../../src/io/load-model.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { UNet } from "../../src/nn/unet.js";
import { maxAbsDiff, onnxXHat, openSession, parityInputs, perturbWeights, torchXHat } from "../helpers/onnx-parity.js";

const TOLERANCE = 1e-4;
const root = fileURLToPath(new URL("../../../", import.meta.url));

// Two levels with attention at the lower one, a skip conv where channels change, and odd-sized
// levels are covered by the shipped model (28 -> 14 -> 7).
const small = { channels: 1, size: 8, numClasses: 3, baseChannels: 8, channelMults: [1, 2], numResBlocks: 1, attentionResolutions: [4], fourierFeatures: 8 };

for (const variant of [
  { name: "teacher (no w), v prediction", config: small },
  { name: "student (w input), v prediction", config: { ...small, wInput: true } },
  { name: "student (w input), x prediction, 3 channels, 2 blocks", config: { ...small, channels: 3, numResBlocks: 2, attentionResolutions: [8, 4], prediction: "x" as const, wInput: true, wMax: 2 } },
]) {
  test(`U-Net ${variant.name}: onnxruntime matches libtorch at batch 1 and 5`, async (t) => {
    const model = new UNet(new ParamStore({ seed: 5 }), variant.config);
    try {
      perturbWeights(model, 13);
      const exported = exportModelToOnnx(model, { source: "test", weights: "params" });
      assert.equal(exported.parameterCount, [...model.named().values()].reduce((s, p) => s + p.numel, 0));
      const session = await openSession(exported.bytes);
      for (const n of [1, 5]) {
        const inputs = parityInputs(model, n, n + 10);
        const diff = maxAbsDiff(await onnxXHat(session, model, inputs), torchXHat(model, inputs));
        t.diagnostic(`U-Net ${variant.name}, batch ${n}: max abs diff ${diff.toExponential(2)}`);
        assert.ok(diff < TOLERANCE, `batch ${n}: max abs diff ${diff}`);
      }
      await session.release();
    } finally {
      model.dispose();
    }
  });
}

test("shipped Fashion-MNIST student-N4: the exported file matches loadModel's forward (batch 3)", async (t) => {
  const path = join(root, "models", "fashion-mnist", "student-N4.safetensors");
  const exported = exportCheckpointToOnnx(path);
  assert.equal(exported.metadata.steps, 4);
  assert.equal(exported.metadata.wInput, true);
  // distillation keeps no EMA (the released settings); the shipped file records weightsFrom.weights "params"
  assert.equal(exported.metadata.weights, "params");
  assert.deepEqual(exported.metadata.wRange, [0, 4]);
  assert.deepEqual(exported.metadata.exampleShape, [1, 28, 28]);
  const model = loadModel(path);
  try {
    const session = await openSession(exported.bytes);
    const inputs = parityInputs(model, 3, 7);
    const diff = maxAbsDiff(await onnxXHat(session, model, inputs), torchXHat(model, inputs));
    t.diagnostic(`shipped student-N4, batch 3: max abs diff ${diff.toExponential(2)}`);
    assert.ok(diff < TOLERANCE, `max abs diff ${diff}`);
    await session.release();
  } finally {
    model.dispose();
  }
});
