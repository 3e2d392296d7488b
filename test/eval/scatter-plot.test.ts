// Tests for the scatter-plot renderer (src/eval/scatter-plot.ts): dots land at the pixels the axis
// range puts them (worked out by hand below), in their class colour, on white; titles are dark
// text above their panel; the shared range and its errors; the saved PNG holds the rendered image.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, ShapeError } from "../../src/engine/errors.js";
import { type ScatterPanel, TAB10, renderScatter, saveScatterPng, scatterLayout, scatterRange } from "../../src/eval/scatter-plot.js";
import { textWidth } from "../../src/eval/bitmap-text.js";
import { type PngImage, loadPng } from "../../src/io/png.js";

const WHITE = [255, 255, 255];

function rgbAt(img: PngImage, x: number, y: number): number[] {
  const o = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(o, o + 3));
}

// Every pixel of the plotting area (inside the frame) of panel p: [x, y, rgb].
function* plotPixels(img: PngImage, opts: { size: number }, p: number, panels: number): Generator<[number, number, number[]]> {
  const { left, top } = scatterLayout(panels, opts).panels[p];
  for (let y = top + 1; y < top + opts.size - 1; y++) {
    for (let x = left + 1; x < left + opts.size - 1; x++) yield [x, y, rgbAt(img, x, y)];
  }
}

// size 102 leaves a 100-px plotting area; with range [0, 10] on both axes that is 10 px per unit,
// so data (2.55, 7.45) maps to continuous pixel (1 + 25.5, 1 + (10 - 7.45) * 10) = (26.5, 26.5) from
// the panel's corner: the centre of pixel (26, 26). (7.45, 2.55) is the centre of pixel (75, 75).
const GRID = { size: 102, range: [0, 10, 0, 10] as [number, number, number, number] };
const A = { data: [2.55, 7.45], pixel: [26, 26] };
const B = { data: [7.45, 2.55], pixel: [75, 75] };

function cluster(center: number[], n: number, label: number): { points: number[]; labels: number[] } {
  const points: number[] = [];
  for (let i = 0; i < n; i++) points.push(center[0] + 0.02 * Math.cos(i), center[1] + 0.02 * Math.sin(i)); // within 0.2 px
  return { points, labels: new Array<number>(n).fill(label) };
}

test("two clusters land as coloured dots at their pixels, on white", () => {
  const teacher = cluster(A.data, 20, 1);
  const student = cluster(B.data, 20, 2);
  const panels: ScatterPanel[] = [
    { title: "teacher", ...teacher },
    { title: "student", points: new Float32Array(student.points), labels: Float64Array.from(student.labels) },
  ];
  const opts = { ...GRID, alpha: 1 };
  const img = renderScatter(panels, opts);
  const layout = scatterLayout(2, opts);
  assert.equal(img.channels, 3);
  assert.deepEqual([img.width, img.height], [layout.width, layout.height]);
  assert.ok(layout.panels[1].left >= layout.panels[0].left + 102, "panels side by side, not overlapping");

  for (const [p, spot, other, color] of [[0, A, B, TAB10[1]], [1, B, A, TAB10[2]]] as const) {
    const { left, top } = layout.panels[p];
    assert.deepEqual(rgbAt(img, left + spot.pixel[0], top + spot.pixel[1]), [...color], `panel ${p} dot centre`);
    assert.deepEqual(rgbAt(img, left + other.pixel[0], top + other.pixel[1]), WHITE, `panel ${p} other cluster's place`);
    // Everything else in the plotting area is white: coloured pixels stay within the dot's radius.
    let inked = 0;
    for (const [x, y, rgb] of plotPixels(img, opts, p, 2)) {
      if (rgb.every((v) => v === 255)) continue;
      inked++;
      assert.ok(Math.hypot(x + 0.5 - (left + spot.pixel[0] + 0.5), y + 0.5 - (top + spot.pixel[1] + 0.5)) <= 2.5, `stray pixel (${x}, ${y}) in panel ${p}`);
    }
    assert.ok(inked >= 9, `panel ${p}: a dot of radius 1.5 covers at least 3x3 pixels`);
    // 1-px frame, dark, at all four corners.
    for (const [x, y] of [[left, top], [left + 101, top], [left, top + 101], [left + 101, top + 101]]) {
      assert.ok(rgbAt(img, x, y).every((v) => v < 100), `frame at (${x}, ${y})`);
    }
  }
});

test("each label gets its tab10 colour; without labels dots are tab:blue", () => {
  // Labels 0..11 on a diagonal; 10 and 11 wrap to the first colours.
  const points: number[] = [];
  for (let k = 0; k < 12; k++) points.push(0.35 + 0.8 * k, 0.35 + 0.8 * k); // (0.35 + 0.8k) * 10 + 1 = 4.5 + 8k px
  const labels = Array.from({ length: 12 }, (_, k) => k);
  const opts = { ...GRID, alpha: 1 };
  const img = renderScatter([{ title: "labels", points, labels }, { title: "plain", points }], opts);
  const layout = scatterLayout(2, opts);
  for (let k = 0; k < 12; k++) {
    const xPix = 4 + 8 * k;
    const yPix = 1 + Math.floor((10 - (0.35 + 0.8 * k)) * 10);
    const { left, top } = layout.panels[0];
    assert.deepEqual(rgbAt(img, left + xPix, top + yPix), [...TAB10[k % 10]], `label ${k}`);
    const plain = layout.panels[1];
    assert.deepEqual(rgbAt(img, plain.left + xPix, plain.top + yPix), [...TAB10[0]], `unlabelled ${k}`);
  }
});

test("dots are alpha-blended: one is light, overlapping ones are darker", () => {
  const opts = { ...GRID, alpha: 0.5 };
  const img = renderScatter([{ title: "one", points: A.data }, { title: "three", points: [...A.data, ...A.data, ...A.data] }], opts);
  const layout = scatterLayout(2, opts);
  const at = (p: number): number[] => rgbAt(img, layout.panels[p].left + A.pixel[0], layout.panels[p].top + A.pixel[1]);
  assert.deepEqual(at(0), TAB10[0].map((c) => Math.round(255 + (c - 255) * 0.5)));
  for (let c = 0; c < 3; c++) {
    assert.ok(at(1)[c] < at(0)[c] && at(1)[c] >= TAB10[0][c], "three layers: between one layer and the full colour");
  }
});

test("titles are dark text centred above their panel", () => {
  const opts = { ...GRID, size: 200, titleScale: 2 };
  const titles = ["teacher", "student w=2"];
  const img = renderScatter(titles.map((title) => ({ title, points: [] })), opts);
  const layout = scatterLayout(2, opts);
  assert.equal(layout.titleHeight, 14);
  titles.forEach((title, p) => {
    const width = textWidth(title, 2);
    const x0 = layout.panels[p].left + Math.floor((200 - width) / 2);
    let dark = 0;
    for (let y = 0; y < layout.panels[p].top; y++) {
      for (let x = layout.panels[p].left; x < layout.panels[p].left + 200; x++) {
        const rgb = rgbAt(img, x, y);
        if (rgb.every((v) => v === 255)) continue;
        assert.ok(rgb.every((v) => v < 60), `title pixel (${x}, ${y}) is dark`);
        assert.ok(x >= x0 && x < x0 + width && y >= layout.titleTop && y < layout.titleTop + 14, `title pixel (${x}, ${y}) inside the text box`);
        dark++;
      }
    }
    assert.ok(dark > 10 * title.replace(/ /g, "").length, `"${title}" has ink for each glyph (${dark} pixels)`);
  });
  assert.equal(textWidth("ab", 1), 11); // 5 + 1 space + 5
  assert.equal(textWidth("ab", 2), 22);
  assert.equal(textWidth(""), 0);
});

test("too-long titles fall back to scale 1 for all panels, then are cut to fit", () => {
  const opts = { size: 60 };
  // "abcdefghij" fits 60 px at scale 1 (59 px) but not at 2; 40 x's fit at neither.
  const img = renderScatter([{ title: "abcdefghij", points: [] }, { title: "x".repeat(40), points: [] }], opts);
  const layout = scatterLayout(2, opts);
  const inked = [0, 0];
  for (let y = 0; y < layout.panels[0].top; y++) {
    for (let x = 0; x < img.width; x++) {
      if (rgbAt(img, x, y).every((v) => v === 255)) continue;
      assert.ok(y >= layout.titleTop + 7 && y < layout.titleTop + 14, `scale 1: 7 rows at the bottom of the 14-px band, got (${x}, ${y})`);
      const p = layout.panels.findIndex(({ left }) => x >= left && x < left + 60);
      assert.ok(p >= 0, `title ink at (${x}, ${y}) is above a panel`);
      inked[p]++;
    }
  }
  assert.ok(inked[0] > 0 && inked[1] > 0, `both titles drawn (${inked})`);
});

test("default range: union bounding box of all panels with a 5% margin", () => {
  const panels: ScatterPanel[] = [
    { title: "a", points: [0, 0, 10, 2] },
    { title: "b", points: [4, -2, 6, 8, NaN, 100, Infinity, 3] }, // non-finite points are ignored
  ];
  assert.deepEqual(scatterRange(panels), [-0.5, 10.5, -2.5, 8.5]);
  assert.deepEqual(scatterRange(panels, { margin: 0 }), [0, 10, -2, 8]);
  assert.deepEqual(scatterRange([{ title: "one", points: [3, -1] }]), [2.5, 3.5, -1.5, -0.5], "zero extent widened to 1");
  assert.deepEqual(scatterRange([{ title: "line", points: [1, 5, 3, 5] }]), [0.9, 3.1, 4.5, 5.5]);
  assert.deepEqual(scatterRange([{ title: "none", points: [] }]), [-1, 1, -1, 1]);
  assert.deepEqual(scatterRange(panels, { range: [-3, 3, 0, 1] }), [-3, 3, 0, 1]);

  // Rendered: with size 112 (110-px area) the range [-0.5, 10.5] is 10 px per unit, so (0, 0) maps to
  // the pixel corner (6, 106) and (10, 10) to (106, 6), each colouring the four pixels around it.
  const opts = { size: 112, alpha: 1, zeroLines: false };
  const img = renderScatter([{ title: "corners", points: [0, 0, 10, 10] }], opts);
  const { left, top } = scatterLayout(1, opts).panels[0];
  for (const [cx, cy] of [[6, 106], [106, 6]]) {
    for (const [dx, dy] of [[-1, -1], [0, -1], [-1, 0], [0, 0]]) {
      assert.deepEqual(rgbAt(img, left + cx + dx, top + cy + dy), [...TAB10[0]], `around (${cx}, ${cy})`);
    }
    assert.deepEqual(rgbAt(img, left + cx + 2, top + cy + 2), WHITE);
  }
});

test("an explicit range is shared by all panels; points outside it are not drawn", () => {
  const opts = { ...GRID, alpha: 1 };
  // Panel 0: A inside, plus points beyond every edge. Panel 1: A only. Same pixels in both.
  const img = renderScatter([
    { title: "outside", points: [...A.data, -1, 5, 11, 5, 5, -1, 5, 11, NaN, 5] },
    { title: "inside", points: A.data },
  ], opts);
  const pixels = [0, 1].map((p) => Array.from(plotPixels(img, opts, p, 2), ([, , rgb]) => rgb.join(",")));
  assert.deepEqual(pixels[0], pixels[1]);
  // A point on the range's edge is drawn, clipped to the plotting area (the frame stays dark).
  const edge = renderScatter([{ title: "edge", points: [10, 5] }], opts);
  const { left, top } = scatterLayout(1, opts).panels[0];
  assert.deepEqual(rgbAt(edge, left + 100, top + 51), [...TAB10[0]]);
  assert.ok(rgbAt(edge, left + 101, top + 51).every((v) => v < 100), "frame not painted over");
});

test("zero lines are light grey where 0 lies inside the range", () => {
  const opts = { size: 102, range: [-5, 5, -5, 5] as [number, number, number, number] };
  const img = renderScatter([{ title: "zero", points: [] }], opts);
  const { left, top } = scatterLayout(1, opts).panels[0];
  const grey = rgbAt(img, left + 51, top + 20); // x = 0 is the pixel edge 1 + 50 = 51
  assert.ok(grey.every((v) => v > 200 && v < 255), `light grey, got ${grey}`);
  assert.deepEqual(rgbAt(img, left + 20, top + 51), grey);
  assert.deepEqual(rgbAt(img, left + 20, top + 20), WHITE);
  const off = renderScatter([{ title: "zero", points: [] }], { ...opts, zeroLines: false });
  assert.deepEqual(rgbAt(off, left + 51, top + 20), WHITE);
});

test("bad panels and options fail loudly, naming the panel or option", () => {
  const ok: ScatterPanel = { title: "ok", points: [0, 0] };
  assert.throws(() => renderScatter([ok, { title: "odd", points: [1, 2, 3] }]), (err: unknown) =>
    err instanceof ShapeError && /panel 1 \("odd"\) has 3 numbers in points; expected an even count/.test(err.message));
  assert.throws(() => renderScatter([{ title: "lab", points: [1, 2, 3, 4], labels: [0] }]), (err: unknown) =>
    err instanceof ShapeError && /panel 0 \("lab"\) has 2 points but 1 labels/.test(err.message));
  assert.throws(() => renderScatter([{ title: "neg", points: [1, 2], labels: [-1] }]), (err: unknown) =>
    err instanceof ConfigError && /label 0 must be a non-negative integer, got -1/.test(err.message));
  assert.throws(() => renderScatter([]), ConfigError);
  for (const range of [[0, 0, 0, 1], [0, 1, 2, 1], [0, NaN, 0, 1]] as [number, number, number, number][]) {
    assert.throws(() => renderScatter([ok], { range }), (err: unknown) => err instanceof ConfigError && /range must be \[xmin, xmax, ymin, ymax\]/.test(err.message));
  }
  assert.throws(() => renderScatter([ok], { size: 4 }), /size must be an integer >= 8, got 4/);
  assert.throws(() => renderScatter([ok], { alpha: 0 }), /alpha must be in \(0, 1\], got 0/);
  assert.throws(() => renderScatter([ok], { radius: -1 }), /radius must be in/);
  assert.throws(() => renderScatter([ok], { titleScale: 1.5 }), /titleScale must be a positive integer/);
  assert.throws(() => renderScatter([ok], { margin: -0.1 }), /margin must be finite and >= 0/);
});

test("saveScatterPng writes the rendered image as a PNG", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-scatter-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const panels: ScatterPanel[] = [{ title: "teacher", ...cluster(A.data, 5, 3) }, { title: "student", ...cluster(B.data, 5, 4) }];
  const path = join(dir, "samples.png");
  saveScatterPng(path, panels, GRID);
  assert.deepEqual(loadPng(path), renderScatter(panels, GRID));
});
