// Image grids (eval/image-grid.ts): pixel values map [-1, 1] -> 0..255 as the inverse of the
// readers' u8 / 127.5 - 1, images land at their row and column, and bad shapes are named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ShapeError } from "../../src/engine/errors.js";
import { renderImageGrid, toByte } from "../../src/eval/image-grid.js";

test("toByte inverts the readers' scaling u8 / 127.5 - 1 for every byte, and clamps", () => {
  for (let u = 0; u <= 255; u++) assert.equal(toByte(u / 127.5 - 1), u);
  assert.equal(toByte(-3), 0);
  assert.equal(toByte(7), 255);
});

test("renderImageGrid: 3 gray 2x2 images in 2 columns at scale 1, gap 1; the missing 4th cell stays background", () => {
  // image k is filled with values[k]: bytes 0, 64, 128
  const values = [-1, -0.5, 0];
  const data = new Float32Array(3 * 4);
  values.forEach((v, k) => data.fill(v, k * 4, k * 4 + 4));
  const img = renderImageGrid(data, [3, 1, 2, 2], { columns: 2, scale: 1, gap: 1 });
  const margin = 6;
  assert.equal(img.width, margin + 2 * 2 + 1 + margin);
  assert.equal(img.height, margin + 2 * 2 + 1 + margin);
  const at = (x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
  assert.deepEqual(at(margin, margin), [0, 0, 0]); // image 0, top-left
  assert.deepEqual(at(margin + 3, margin + 1), [64, 64, 64]); // image 1, right column
  assert.deepEqual(at(margin + 1, margin + 3), [128, 128, 128]); // image 2, second row
  assert.deepEqual(at(margin + 3, margin + 3), [255, 255, 255]); // no 4th image
  assert.deepEqual(at(margin + 2, margin), [255, 255, 255]); // the gap
});

test("renderImageGrid: RGB channels stay separate; scale 2 repeats each pixel; bad shapes are ShapeErrors", () => {
  const data = new Float32Array(4);
  assert.throws(() => renderImageGrid(data, [1, 4, 1, 1], { columns: 1 }), ShapeError);
  assert.throws(() => renderImageGrid(data, [2, 1, 1, 1], { columns: 1 }), /4 values for shape \[2,1,1,1\]/);
  const rgb = renderImageGrid(new Float32Array([1, -1, 0]), [1, 3, 1, 1], { columns: 1, scale: 2 });
  const o = (6 * rgb.width + 6) * 3;
  assert.deepEqual(Array.from(rgb.data.subarray(o, o + 3)), [255, 0, 128]);
  const o2 = (7 * rgb.width + 7) * 3;
  assert.deepEqual(Array.from(rgb.data.subarray(o2, o2 + 3)), [255, 0, 128]);
});
