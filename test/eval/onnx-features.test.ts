// A user's ONNX network as FID/IS feature network (src/eval/onnx-features.ts), against PyTorch:
// test/fixtures/eval/make_onnx_features.py exported two tiny CNNs and saved their float64 features
// of fixed image sets after the documented preprocessing (grey -> 3 channels, F.interpolate
// bilinear, range, mean/std), the NumPy FID between two sets and the IS of one. Here the same
// images go through fewstep's preprocessing and onnxruntime (float32); features must agree to
// 1e-4, FID to 1e-6 relative. Also: the reference cache key follows every option, and each kind of
// unusable network or option is refused with a message that names the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ShapeError, liveTensors, tidy, type Tensor } from "../../src/engine/index.js";
import { frechetDistance, gaussianStats, inceptionScore } from "../../src/eval/fid.js";
import { bilinearWeights, loadOnnxFeatures, type OnnxFeatureOptions } from "../../src/eval/onnx-features.js";
import { referenceStats } from "../../src/eval/reference-stats.js";
import { loadNpy } from "../../src/io/npy.js";
import { fromHost } from "../../src/io/tensor-bridge.js";
import { toTypedArray } from "../../src/io/host-array.js";

const fixtures = fileURLToPath(new URL("../../../test/fixtures/eval/onnx-features/", import.meta.url));
const reference = JSON.parse(readFileSync(join(fixtures, "reference.json"), "utf8")) as {
  cases: Record<string, { model: string; images: string; flags: { range: string; size?: string; mean?: number[]; std?: number[] } }>;
  fid: { a: string; b: string; value: number };
  fidDynamic: { a: string; b: string; value: number };
  inceptionScore: { case: string; splits: number; mean: number; std: number };
};
const dir = mkdtempSync(join(tmpdir(), "fewstep-onnx-features-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** A fixture's uint8 images as fewstep holds them: u8 / 127.5 - 1, float32 [n, C, H, W]. */
function images(name: string): Tensor {
  return tidy(() => fromHost(loadNpy(join(fixtures, `${name}.npy`))).to("float32").div(127.5).sub(1));
}

/** A fixture's float64 array as numbers, row-major. */
function npyNumbers(name: string): number[] {
  const h = loadNpy(join(fixtures, `${name}.npy`));
  return Array.from(toTypedArray(h as typeof h & { dtype: "float64" }));
}

/** The case's flags as loadOnnxFeatures options (what the CLI turns them into). */
function caseOptions(name: string, extra: OnnxFeatureOptions = {}): OnnxFeatureOptions {
  const f = reference.cases[name].flags;
  const range = f.range.split(",").map(Number) as [number, number];
  const size = f.size?.split(",").map(Number) as [number, number] | undefined;
  return { range, size, mean: f.mean, std: f.std, ...extra };
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

test("features of every case agree with PyTorch's to 1e-4 (grey -> 3 channels, bilinear up and down, range, mean/std, [n,d,1,1] flattened, batches)", async () => {
  const before = liveTensors();
  for (const [name, c] of Object.entries(reference.cases)) {
    const isStatic = c.model === "static.onnx";
    // batches of 7: 24 images make 4 runs, the last one short
    const network = await loadOnnxFeatures(join(fixtures, c.model), caseOptions(name, { batchSize: 7, logitsOutput: isStatic ? "logits" : undefined }));
    const x = images(c.images);
    const out = await network.outputs(x);
    const expected = npyNumbers(name);
    assert.deepEqual(out.features.shape, [x.shape[0], expected.length / x.shape[0]], name);
    const diff = maxAbsDiff(out.features.toNumbers(), expected);
    console.log(`# ${name}: features [${out.features.shape}], max |fewstep - torch| = ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-4, `${name}: features differ by ${diff}`);
    if (isStatic) {
      // softmax of the torch logits, computed here in float64
      const logits = npyNumbers(`${name}-logits`);
      const k = out.probs!.shape[1];
      const probs = logits.map((_, i) => {
        const row = logits.slice(i - (i % k), i - (i % k) + k);
        const m = Math.max(...row);
        return Math.exp(logits[i] - m) / row.reduce((s, v) => s + Math.exp(v - m), 0);
      });
      const pdiff = maxAbsDiff(out.probs!.toNumbers(), probs);
      assert.ok(pdiff <= 1e-5, `${name}: probabilities differ by ${pdiff}`);
    } else {
      assert.equal(out.probs, null);
    }
    for (const t of [x, out.features, out.probs]) t?.dispose();
    network.dispose();
  }
  assert.equal(liveTensors(), before);
});

test("FID of the ONNX features equals the NumPy FID of PyTorch's features to 1e-6 relative; IS from the logits output", async () => {
  const scored = async (name: string, extra: OnnxFeatureOptions = {}) => {
    const c = reference.cases[name];
    const network = await loadOnnxFeatures(join(fixtures, c.model), caseOptions(name, extra));
    const x = images(c.images);
    const out = await network.outputs(x);
    x.dispose();
    network.dispose();
    return out;
  };
  for (const r of [reference.fid, reference.fidDynamic]) {
    const a = await scored(r.a);
    const b = await scored(r.b);
    const fid = tidy(() => frechetDistance(gaussianStats(a.features), gaussianStats(b.features)));
    const rel = Math.abs(fid - r.value) / Math.abs(r.value);
    console.log(`# FID ${r.a} vs ${r.b}: fewstep ${fid}, NumPy ${r.value}, relative difference ${rel.toExponential(2)}`);
    assert.ok(rel <= 1e-6, `FID ${fid} against ${r.value}: relative ${rel}`);
    for (const t of [a.features, b.features]) t.dispose();
  }
  const is = reference.inceptionScore;
  const out = await scored(is.case, { logitsOutput: "logits" });
  const score = inceptionScore(out.probs!, is.splits);
  console.log(`# IS of ${is.case}: fewstep ${score.mean} +- ${score.std}, NumPy ${is.mean} +- ${is.std}`);
  assert.ok(Math.abs(score.mean - is.mean) <= 1e-6 * is.mean && Math.abs(score.std - is.std) <= 1e-5 * is.mean, JSON.stringify(score));
  out.features.dispose();
  out.probs!.dispose();
});

test("bilinear weights: PyTorch's align_corners=false indices, rows summing to 1", () => {
  // 4 -> 2 (downsampling, no antialias): src = (i + 0.5) * 2 - 0.5 = 0.5, 2.5
  assert.deepEqual(Array.from(bilinearWeights(2, 4)), [0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
  // 2 -> 4: src = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (the edge repeated)
  assert.deepEqual(Array.from(bilinearWeights(4, 2)), [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
  const m = bilinearWeights(20, 16);
  for (let i = 0; i < 20; i++) assert.ok(Math.abs(m.slice(i * 16, i * 16 + 16).reduce((s, v) => s + v, 0) - 1) < 1e-6);
});

test("reference statistics: the cache key holds the ONNX file's SHA-256 and every preprocessing option", async () => {
  const cacheDir = join(dir, "cache");
  const staticPath = join(fixtures, "static.onnx");
  const referenceNpy = join(fixtures, "grey-a.npy");
  const stats = async (path: string, opts: OnnxFeatureOptions, size = 16) => {
    const network = await loadOnnxFeatures(path, opts);
    const r = await referenceStats({ features: network, size, reference: referenceNpy, n: 24, cacheDir });
    r.stats.mean.dispose();
    r.stats.cov.dispose();
    network.dispose();
    return r;
  };
  const base = await stats(staticPath, { range: [0, 1] });
  assert.equal(base.fromCache, false);
  assert.equal(base.count, 24);
  assert.equal(base.key.network.sha256, createHash("sha256").update(readFileSync(staticPath)).digest("hex"));
  assert.equal(base.key.network.kind, "onnx");
  // the same network and options, another batch size: read back
  const again = await stats(staticPath, { range: [0, 1], batchSize: 5 });
  assert.equal(again.fromCache, true);
  assert.equal(again.cachePath, base.cachePath);
  // each option changes the key (and the file)
  const variants: [string, string, OnnxFeatureOptions, number?][] = [
    ["range", staticPath, { range: [-1, 1] }],
    ["mean/std", staticPath, { range: [0, 1], mean: [0.5], std: [0.25] }],
    ["std", staticPath, { range: [0, 1], mean: [0.5], std: [0.5] }],
    ["logits output", staticPath, { range: [0, 1], logitsOutput: "logits" }],
    ["features output", staticPath, { range: [0, 1], featuresOutput: "logits" }],
    ["another file", join(fixtures, "dynamic.onnx"), { range: [0, 1] }],
    ["size", join(fixtures, "dynamic.onnx"), { range: [0, 1], size: [12, 10] }],
    ["image size", staticPath, { range: [0, 1] }, 12],
  ];
  const paths = new Set([base.cachePath]);
  for (const [what, path, opts, size] of variants) {
    const r = await stats(path, opts, size);
    assert.equal(r.fromCache, false, what);
    assert.ok(!paths.has(r.cachePath), `${what}: same cache file as another request`);
    paths.add(r.cachePath);
  }
});

test("errors name the problem and the fix", async () => {
  const f = (name: string) => join(fixtures, name);
  const rejects = async (promise: Promise<unknown>, message: RegExp) => {
    await assert.rejects(promise, (e: Error) => {
      assert.match(e.message, message);
      return true;
    });
  };
  await rejects(loadOnnxFeatures(f("static.onnx"), { featuresOutput: "pool3" }), /static\.onnx has no output 'pool3' \(features output\); its outputs are: pooled, logits/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { logitsOutput: "probs" }), /no output 'probs' \(logits output\); its outputs are: pooled, logits/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { logitsOutput: "logits", probsOutput: "logits" }), /a logits output or a probabilities output, not both/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { size: [16, 16] }), /takes 20x20 images \(input 'image'\), not the 16x16 asked for: drop the size option or give 20,20/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { range: [1, 0] }), /range must be lo,hi with lo < hi/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { mean: [0.5] }), /give mean and std together/);
  await rejects(loadOnnxFeatures(f("static.onnx"), { mean: [0.5], std: [0] }), /std must be positive numbers/);
  await rejects(loadOnnxFeatures(f("vector.onnx")), /vector\.onnx: input 'image' has shape \[batch, 8\] \(rank 2\), not an image batch \[n, C, H, W\] \(NCHW\): export the network with an image input/);
  await rejects(loadOnnxFeatures(f("two-inputs.onnx")), /has 2 inputs \(image, label\); fewstep feeds one image batch \[n, C, H, W\]: export the network with a single image input/);
  await rejects(loadOnnxFeatures(f("nhwc.onnx")), /input 'image' has shape \[batch, 16, 16, 3\], channels last \(NHWC\); fewstep feeds NCHW/);
  await rejects(loadOnnxFeatures(f("grey-a.npy")), /grey-a\.npy: onnxruntime cannot load it as an ONNX model/);
  await rejects(loadOnnxFeatures(f("missing.onnx")), /missing\.onnx does not exist/);

  // channels: 3 into a 1-channel network cannot be resolved; 1 into 3 is (repeated)
  const dynamic = await loadOnnxFeatures(f("dynamic.onnx"));
  assert.match(dynamic.incompatibility([3, 28, 28])!, /dynamic\.onnx takes 1-channel images \(input 'image'\) but the images have 3; only 1 channel is converted \(repeated to 3\)/);
  const rgb = images("rgb-a");
  await assert.rejects(dynamic.outputs(rgb), (e: Error) => e instanceof ShapeError && /takes 1-channel images/.test(e.message));
  dynamic.dispose();
  const withMean = await loadOnnxFeatures(f("static.onnx"), { mean: [0.5, 0.5], std: [1, 1] });
  assert.match(withMean.incompatibility([1, 16, 16])!, /mean\/std have 2 values but .*static\.onnx gets 3-channel images: give 1 value or 3/);
  withMean.dispose();

  // outputs fewstep cannot use: a spatial map, non-finite values
  const grey = images("grey-a");
  const map = await loadOnnxFeatures(f("log.onnx"), { featuresOutput: "map", range: [1, 2] });
  await rejects(map.outputs(grey), /output 'map' \(features\) has shape \[24,1,16,16\] for a batch of 24; fewstep takes \[n, d\] or \[n, d, 1, 1\]: pick a pooled output/);
  map.dispose();
  const log = await loadOnnxFeatures(f("log.onnx"), { range: [0, 1] }); // black pixels: log 0 = -inf
  await rejects(log.outputs(grey), /output 'features' \(features\) has \d+ NaN or infinite value\(s\) of 24; check the pixel range and mean\/std/);
  log.dispose();
  const fine = await loadOnnxFeatures(f("log.onnx"), { range: [1, 2] });
  const out = await fine.outputs(grey);
  assert.deepEqual(out.features.shape, [24, 1]);
  out.features.dispose();
  fine.dispose();
  rgb.dispose();
  grey.dispose();
});
