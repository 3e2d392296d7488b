// Reconstruction metrics and the crop that undoes padding: PSNR against its closed form, and
// centerCrop(toTensorBatch padding) returning the original images for even and odd margins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tensor, tidy } from "../../src/engine/index.js";
import { psnr } from "../../src/eval/reconstruction.js";
import { toTensorBatch } from "../../src/io/datasets.js";
import { centerCrop } from "../../src/latent/latent-space.js";
import { halvesImages } from "../helpers/tiny-images.js";

test("psnr: 10 log10(peak-to-peak^2 / MSE) with peak-to-peak 2 for images in [-1, 1]", () => {
  tidy(() => {
    const x = tensor(new Float32Array([-1, 0, 0.5, 1]), { shape: [1, 1, 2, 2] });
    const y = tensor(new Float32Array([-0.9, 0.1, 0.4, 0.9]), { shape: [1, 1, 2, 2] });
    assert.ok(Math.abs(psnr(x, y) - 10 * Math.log10(4 / 0.01)) < 1e-4);
  });
});

test("centerCrop undoes toTensorBatch's centered padding (even and odd margins)", () => {
  for (const [side, size] of [
    [12, 16],
    [12, 15],
    [28, 32],
  ]) {
    const ds = halvesImages(3, 1, side);
    tidy(() => {
      const original = toTensorBatch(ds, [0, 1, 2]).x;
      const padded = toTensorBatch(ds, [0, 1, 2], { size }).x;
      assert.deepEqual(padded.shape, [3, 1, size, size]);
      assert.equal(centerCrop(padded, side).sub(original).abs().max().item(), 0, `side ${side} in ${size}`);
    });
  }
});
