// The ONNX Runtime adapter on the Gaussian fixtures of test/fixtures/onnx (made by torch.onnx.export
// with the contract's metadata): the model's output equals the closed form restated here, and
// sampling through onnxruntime-node equals sampling the closed form through the same portable sampler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { openFewstepOnnx, readFewstepMetadata, readOnnxMetadataProps, samplePortable } from "../../src/portable/index.js";
import { assertClose } from "../helpers/assert-close.js";
import { gaussianVecDenoiser } from "../helpers/gaussian-fixture.js";

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/onnx/${name}`, import.meta.url));

const closedForm = gaussianVecDenoiser;

test("metadata: the contract's fields are read from metadata_props", () => {
  const meta = readFewstepMetadata(fixture("fashion-toy-N4.onnx"), "toy");
  assert.deepEqual(meta.exampleShape, [1, 28, 28]);
  assert.equal(meta.numClasses, 10);
  assert.equal(meta.classNames?.[9], "Ankle boot");
  assert.equal(meta.wInput, true);
  assert.equal(meta.wMax, 4);
  assert.equal(meta.steps, 4);
  assert.equal(readFewstepMetadata(fixture("gauss-vec.onnx")).wInput, false);
});

test("metadata: a model without it, or with a broken contract, is refused by name", () => {
  // a ModelProto with only ir_version (field 1) and producer_name (field 2)
  const bare = new Uint8Array([0x08, 0x08, 0x12, 0x03, 0x61, 0x62, 0x63]);
  assert.equal(readOnnxMetadataProps(bare).size, 0);
  assert.throws(() => readFewstepMetadata(bare, "bare.onnx"), /bare.onnx: no "fewstep" metadata; export the model with `fewstep export`/);
  const entry = (key: string, value: string) => {
    const field = (n: number, bytes: Uint8Array) => [(n << 3) | 2, bytes.length, ...bytes];
    const e = [...field(1, new TextEncoder().encode(key)), ...field(2, new TextEncoder().encode(value))];
    return new Uint8Array([(14 << 3) | 2, e.length, ...e]);
  };
  assert.throws(() => readFewstepMetadata(entry("fewstep", '{"format":"other/2"}'), "m.onnx"), /m.onnx: fewstep metadata format is "other\/2"/);
  assert.throws(() => readFewstepMetadata(entry("fewstep", "{"), "m.onnx"), /not JSON/);
  assert.throws(() => readFewstepMetadata(new Uint8Array([0x0a, 0x7f]), "junk"), /junk: not an ONNX model/);
});

test("onnxruntime-node: x-hat of the fixtures equals the closed form", async () => {
  for (const [name, wInput] of [
    ["gauss-vec-w.onnx", true],
    ["gauss-vec.onnx", false],
  ] as const) {
    const model = await openFewstepOnnx(ort, fixture(name), { source: name });
    const z = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.7) * 2);
    const t = new Float32Array([0.05, 0.3, 0.75, 1]);
    const cond = { labels: new Int32Array([0, 1, 1, 0]), ...(wInput ? { w: new Float32Array([0, 1, 2.5, 4]) } : {}) };
    // atol 5e-5: at t = 1 the graph's float32 tan(a t + b), next to pi/2, loses alpha_1 ~ 4.5e-5
    assertClose(await model.denoise(z, t, cond), await closedForm(z, t, cond), { atol: 5e-5, rtol: 1e-5, what: name });
    await model.release();
  }
});

for (const sampler of ["ddim", "stochastic"] as const) {
  for (const name of ["gauss-vec-w.onnx", "gauss-vec.onnx"]) {
    test(`onnxruntime-node: ${sampler} through ${name} equals the closed form through the same sampler`, async () => {
      const model = await openFewstepOnnx(ort, fixture(name), { source: name });
      const request = { sampler, steps: 4, w: 2, labels: [0, 1, 0, 1, 1], seed: 11 };
      const viaOrt = await model.sample(request);
      const expected = await samplePortable(closedForm, { exampleShape: [3], numClasses: 2, wInput: model.metadata.wInput }, request);
      assertClose(viaOrt, expected, { atol: 1e-5, rtol: 1e-5, what: `${sampler} ${name}` });
      // the seed decides everything: the same request gives the same sample
      assert.deepEqual(await model.sample(request), viaOrt);
      await model.release();
    });
  }
}

test("a student refuses a w above its wMax and a step count it was not distilled for", async () => {
  const model = await openFewstepOnnx(ort, fixture("fashion-toy-N4.onnx"), { source: "student-N4.onnx" });
  await assert.rejects(model.sample({ sampler: "ddim", steps: 4, w: 4.5, labels: [0] }), /w 4.5: student-N4.onnx was distilled for w in \[0, 4\]/);
  await assert.rejects(model.sample({ sampler: "ddim", steps: 2, w: 1, labels: [0] }), /steps 2: student-N4.onnx was distilled for 4 steps/);
  const x = await model.sample({ sampler: "ddim", steps: 4, w: 1, labels: [3, 7], seed: 0, clip: [-1, 1] });
  assert.equal(x.length, 2 * 28 * 28);
  assert.ok(x.every((v) => v >= -1 && v <= 1));
  await model.release();
});

test("an exported single-w student (wRange [2, 2]) refuses any other w, though its features' wMax is 4", async () => {
  const { MlpDenoiser } = await import("../../src/nn/mlp-denoiser.js");
  const { ParamStore } = await import("../../src/nn/param-store.js");
  const { exportModelToOnnx } = await import("../../src/export/export-onnx.js");
  const student = new MlpDenoiser(new ParamStore({ seed: 3 }), { dim: 3, numClasses: 2, hidden: 16, depth: 1, wInput: true });
  try {
    const { bytes, metadata } = exportModelToOnnx(student, { source: "single-w.safetensors", weights: "params", steps: 4, wRange: [2, 2] });
    assert.equal(metadata.wMax, 4);
    const model = await openFewstepOnnx(ort, bytes, { source: "single-w.onnx" });
    assert.deepEqual(model.metadata.wRange, [2, 2]);
    await assert.rejects(model.sample({ sampler: "ddim", steps: 4, w: 1, labels: [0] }), /w 1: single-w\.onnx was distilled for w in \[2, 2\]/);
    assert.equal((await model.sample({ sampler: "ddim", steps: 4, w: 2, labels: [0, 1] })).length, 6);
    await model.release();
  } finally {
    student.dispose();
  }
});
