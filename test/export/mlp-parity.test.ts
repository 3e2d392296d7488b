// ONNX export of the MLP denoiser: the exported graph, run in onnxruntime-node, gives the libtorch
// forward's x-hat (max abs diff < 1e-4) on random inputs at both ends of t, for every class and
// the null class, with and without the w input, and one file serves batch 1 and batch 5.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exportModelToOnnx } from "../../src/export/export-onnx.js";
import { decodeModelProto } from "../../src/export/onnx-proto.js";
import { MlpDenoiser } from "../../src/nn/mlp-denoiser.js";
import { ParamStore } from "../../src/nn/param-store.js";
import { maxAbsDiff, onnxXHat, openSession, parityInputs, perturbWeights, torchXHat } from "../helpers/onnx-parity.js";

const TOLERANCE = 1e-4;

for (const variant of [
  { name: "teacher (no w), v prediction", config: { dim: 5, numClasses: 3, hidden: 32, depth: 2, fourierFeatures: 8 } },
  { name: "student (w input), v prediction", config: { dim: 5, numClasses: 3, hidden: 32, depth: 2, fourierFeatures: 8, wInput: true, wMax: 4 } },
  { name: "student (w input), x prediction", config: { dim: 2, numClasses: 2, hidden: 16, depth: 1, fourierFeatures: 4, wInput: true, wMax: 2, prediction: "x" as const } },
]) {
  test(`MLP ${variant.name}: onnxruntime matches libtorch at batch 1 and 5`, async (t) => {
    const model = new MlpDenoiser(new ParamStore({ seed: 3 }), variant.config);
    try {
      perturbWeights(model, 11);
      const exported = exportModelToOnnx(model, { source: "test", weights: "params" });
      assert.deepEqual(exported.inputs.map((i) => i.name), variant.config.wInput ? ["z", "t", "class", "w"] : ["z", "t", "class"]);
      assert.equal(exported.parameterCount, [...model.named().values()].reduce((s, p) => s + p.numel, 0));
      const session = await openSession(exported.bytes);
      for (const n of [1, 5]) {
        const inputs = parityInputs(model, n, n);
        const diff = maxAbsDiff(await onnxXHat(session, model, inputs), torchXHat(model, inputs));
        t.diagnostic(`MLP ${variant.name}, batch ${n}: max abs diff ${diff.toExponential(2)}`);
        assert.ok(diff < TOLERANCE, `batch ${n}: max abs diff ${diff}`);
      }
      await session.release();
    } finally {
      model.dispose();
    }
  });
}

test("MLP export: the ModelProto carries the contract (opset 17, producer, symbolic batch, metadata)", () => {
  const model = new MlpDenoiser(new ParamStore({ seed: 0 }), { dim: 3, numClasses: 2, hidden: 8, depth: 1, wInput: true });
  try {
    const { bytes } = exportModelToOnnx(model, { source: "m.safetensors", weights: "ema", steps: 4, wRange: [0, 4] });
    const proto = decodeModelProto(bytes) as {
      ir_version: number;
      producer_name: string;
      producer_version: string;
      opset_import: { domain?: string; version: number }[];
      metadata_props: { key: string; value: string }[];
      graph: { input: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_param?: string; dim_value?: number }[] } } } }[]; output: { name: string }[] };
    };
    assert.equal(proto.ir_version, 8);
    assert.equal(proto.producer_name, "fewstep");
    assert.match(proto.producer_version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(proto.opset_import.map((o) => [o.domain ?? "", o.version]), [["", 17]]);
    const inputs = proto.graph.input.map((i) => [i.name, i.type.tensor_type.elem_type, i.type.tensor_type.shape.dim.map((d) => d.dim_param ?? d.dim_value)]);
    assert.deepEqual(inputs, [
      ["z", 1, ["batch", 3]],
      ["t", 1, ["batch"]],
      ["class", 7, ["batch"]],
      ["w", 1, ["batch"]],
    ]);
    assert.deepEqual(proto.graph.output.map((o) => o.name), ["x_hat"]);
    const entry = proto.metadata_props.find((p) => p.key === "fewstep");
    assert.ok(entry);
    assert.deepEqual(JSON.parse(entry.value), {
      format: "fewstep-onnx/1",
      kind: "mlp-denoiser",
      exampleShape: [3],
      numClasses: 2,
      wInput: true,
      wMax: 4,
      prediction: "v",
      schedule: { type: "cosine-logsnr", lambdaMin: -20, lambdaMax: 20 },
      steps: 4,
      source: "m.safetensors",
      weights: "ema",
      wRange: [0, 4],
      role: "denoiser",
    });
  } finally {
    model.dispose();
  }
});
