// 2-D scatter plots of samples as RGB images, panels side by side on one shared axis range (e.g.
// teacher | student), so two distributions can be compared by eye; saved through our own PNG
// encoder (src/io/png.ts). Dots are anti-aliased discs alpha-blended onto white, coloured by class
// with matplotlib's tab10 palette; text uses a built-in 5x7 bitmap font (no font files, no deps).

import { ConfigError, ShapeError } from "../engine/errors.js";
import { type PngImage, savePng } from "../io/png.js";
import { drawText, fillRect, fitText, GLYPH_H, textWidth } from "./bitmap-text.js";

/** One panel: a title and a flat list of points `[x0, y0, x1, y1, ...]`. */
export interface ScatterPanel {
  title: string;
  /** `n * 2` numbers, x and y interleaved. Non-finite points are skipped (and counted). */
  points: Float32Array | Float64Array | number[];
  /** Class per point (non-negative integers, `n` of them); colour = `TAB10[label % 10]`. */
  labels?: ArrayLike<number>;
}

/** Axis range shared by all panels: `[xmin, xmax, ymin, ymax]`. */
export type ScatterRange = [number, number, number, number];

/** Options of `renderScatter`; every field is optional. */
export interface ScatterOptions {
  /**
   * Side of each square panel in pixels, 1-px frame included.
   * @default 320
   */
  size?: number;
  /**
   * Axis range; points outside it are not drawn (the footer counts them).
   * @default the bounding box of all panels' finite points, widened by `margin` on each side
   */
  range?: ScatterRange;
  /**
   * Fraction of the data extent added on each side of the default range.
   * @default 0.05
   */
  margin?: number;
  /**
   * Dot radius in pixels; edges are anti-aliased, so 1.5 draws a soft 3x3 dot.
   * @default 1.5
   */
  radius?: number;
  /**
   * Opacity of one dot, in (0, 1]: overlapping dots darken, so dense regions stand out.
   * @default 0.6
   */
  alpha?: number;
  /**
   * Pixel scale of the title font (glyphs are 5x7 at scale 1). If any title is too wide for its
   * panel at this scale, all titles use scale 1, and one still too wide is cut with "...".
   * @default 2
   */
  titleScale?: number;
  /**
   * Draw light grey lines at x = 0 and y = 0 where they fall inside the range.
   * @default true
   */
  zeroLines?: boolean;
  /**
   * Print a footer: point count per panel (and how many fell outside the range), and the range.
   * @default true
   */
  footer?: boolean;
}

/** Where things are in the rendered image, in pixels (for annotating or testing a plot). */
export interface ScatterLayout {
  width: number;
  height: number;
  /** Top-left corner of each panel's frame; the plotting area is the `size - 2` square inside it. */
  panels: Array<{ left: number; top: number }>;
  size: number;
  /** Row of the top of the title text band, and its height (7 * titleScale). */
  titleTop: number;
  titleHeight: number;
}

/** matplotlib's tab10 palette, RGB. */
export const TAB10: ReadonlyArray<readonly [number, number, number]> = [
  [0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c], [0xd6, 0x27, 0x28], [0x94, 0x67, 0xbd],
  [0x8c, 0x56, 0x4b], [0xe3, 0x77, 0xc2], [0x7f, 0x7f, 0x7f], [0xbc, 0xbd, 0x22], [0x17, 0xbe, 0xcf],
];

const DEFAULTS = {
  size: 320, // large enough to see structure of a few thousand points, small enough for a report
  margin: 0.05, // so points on the bounding box are not drawn over the frame
  radius: 1.5,
  alpha: 0.6, // a lone dot stays clearly visible; about 3 overlapping dots saturate
  titleScale: 2,
  zeroLines: true,
  footer: true,
};

const PAD = 10; // outer margin
const GAP = 16; // between panels
const TEXT_GAP = 6; // between a text line and what it labels
const FRAME = [64, 64, 64] as const;
const ZERO_LINE = [225, 225, 225] as const;
const TITLE_INK = [20, 20, 20] as const;
const FOOTER_INK = [90, 90, 90] as const;

// Short numbers for the footer: 3 significant digits, exponent form for very large or small.
function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

function pointCount(panel: ScatterPanel, index: number): number {
  const where = `renderScatter: panel ${index} ("${panel.title}")`;
  if (panel.points.length % 2 !== 0) {
    throw new ShapeError(`${where} has ${panel.points.length} numbers in points; expected an even count (flat x, y pairs)`);
  }
  const n = panel.points.length / 2;
  if (panel.labels !== undefined && panel.labels.length !== n) {
    throw new ShapeError(`${where} has ${n} points but ${panel.labels.length} labels`);
  }
  return n;
}

/**
 * The axis range `renderScatter` uses: `opts.range` when given (checked), otherwise the bounding box
 * of all panels' finite points widened by `opts.margin` of its extent on each side. A zero extent
 * (one point, or all on a line) is widened to 1 so the points land in the middle; no finite points
 * at all give [-1, 1, -1, 1].
 * @throws ConfigError for a range that is not four finite numbers with min < max
 */
export function scatterRange(panels: ScatterPanel[], opts: Pick<ScatterOptions, "range" | "margin"> = {}): ScatterRange {
  if (opts.range !== undefined) {
    const r = opts.range;
    if (r.length !== 4 || !r.every(Number.isFinite) || !(r[0] < r[1]) || !(r[2] < r[3])) {
      throw new ConfigError(`renderScatter: range must be [xmin, xmax, ymin, ymax], finite, with min < max; got [${r.join(", ")}]`);
    }
    return [r[0], r[1], r[2], r[3]];
  }
  const margin = opts.margin ?? DEFAULTS.margin;
  if (!(margin >= 0 && Number.isFinite(margin))) throw new ConfigError(`renderScatter: margin must be finite and >= 0, got ${margin}`);
  let [xmin, xmax, ymin, ymax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of panels) {
    for (let i = 0; i + 1 < p.points.length; i += 2) {
      const x = p.points[i];
      const y = p.points[i + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
  }
  if (xmin > xmax) return [-1, 1, -1, 1];
  const widen = (lo: number, hi: number): [number, number] => {
    const extent = hi - lo || 1;
    return hi > lo ? [lo - margin * extent, hi + margin * extent] : [lo - extent / 2, hi + extent / 2];
  };
  return [...widen(xmin, xmax), ...widen(ymin, ymax)];
}

function resolve(opts: ScatterOptions): typeof DEFAULTS {
  const o = {
    size: opts.size ?? DEFAULTS.size,
    margin: opts.margin ?? DEFAULTS.margin,
    radius: opts.radius ?? DEFAULTS.radius,
    alpha: opts.alpha ?? DEFAULTS.alpha,
    titleScale: opts.titleScale ?? DEFAULTS.titleScale,
    zeroLines: opts.zeroLines ?? DEFAULTS.zeroLines,
    footer: opts.footer ?? DEFAULTS.footer,
  };
  if (!Number.isInteger(o.size) || o.size < 8) throw new ConfigError(`renderScatter: size must be an integer >= 8, got ${o.size}`);
  if (!(o.radius > 0 && o.radius <= 32)) throw new ConfigError(`renderScatter: radius must be in (0, 32], got ${o.radius}`);
  if (!(o.alpha > 0 && o.alpha <= 1)) throw new ConfigError(`renderScatter: alpha must be in (0, 1], got ${o.alpha}`);
  if (!Number.isInteger(o.titleScale) || o.titleScale < 1) {
    throw new ConfigError(`renderScatter: titleScale must be a positive integer, got ${o.titleScale}`);
  }
  return o;
}

/** Pixel layout of `renderScatter` for `panelCount` panels (same options). */
export function scatterLayout(panelCount: number, opts: ScatterOptions = {}): ScatterLayout {
  const o = resolve(opts);
  const titleTop = PAD;
  const titleHeight = GLYPH_H * o.titleScale;
  const top = titleTop + titleHeight + TEXT_GAP;
  const footerHeight = o.footer ? 2 * (TEXT_GAP + GLYPH_H) : 0; // counts line, range line
  const panels = Array.from({ length: panelCount }, (_, i) => ({ left: PAD + i * (o.size + GAP), top }));
  return {
    width: 2 * PAD + panelCount * o.size + (panelCount - 1) * GAP,
    height: top + o.size + footerHeight + PAD,
    panels,
    size: o.size,
    titleTop,
    titleHeight,
  };
}

// Blends `rgb` over pixel (x, y) with opacity `a`.
function blend(img: PngImage, x: number, y: number, rgb: readonly number[], a: number): void {
  const o = (y * img.width + x) * 3;
  for (let c = 0; c < 3; c++) img.data[o + c] = Math.round(img.data[o + c] + (rgb[c] - img.data[o + c]) * a);
}

/**
 * Renders the panels left to right into one white RGB image: per panel a title, a framed square of
 * `opts.size` px with the points as dots, and (by default) a footer with counts and the range.
 * Axes are shared: x grows to the right, y upwards. Dots are clipped to the plotting area.
 * @throws ShapeError for an odd number of coordinates or a labels/points count mismatch
 * @throws ConfigError for no panels, a bad option or range, or a label that is not a
 *   non-negative integer
 */
export function renderScatter(panels: ScatterPanel[], opts: ScatterOptions = {}): PngImage {
  if (panels.length === 0) throw new ConfigError("renderScatter: expected at least one panel, got none");
  const o = resolve(opts);
  const counts = panels.map(pointCount);
  const [xmin, xmax, ymin, ymax] = scatterRange(panels, opts);
  const layout = scatterLayout(panels.length, opts);
  const img: PngImage = { width: layout.width, height: layout.height, channels: 3, data: new Uint8Array(layout.width * layout.height * 3).fill(255) };
  const inner = o.size - 2; // plotting area inside the 1-px frame
  // One title scale for all panels, so titles side by side look alike: the requested one if every
  // title fits its panel, else 1.
  const scale = panels.every((p) => textWidth(p.title, o.titleScale) <= o.size) ? o.titleScale : 1;
  const sx = inner / (xmax - xmin);
  const sy = inner / (ymax - ymin);

  panels.forEach((panel, p) => {
    const { left, top } = layout.panels[p];
    // Continuous pixel coordinates: xmin maps to the left edge of the first inner column, xmax to the
    // right edge of the last; y is flipped so it grows upwards.
    const toX = (x: number): number => left + 1 + (x - xmin) * sx;
    const toY = (y: number): number => top + 1 + (ymax - y) * sy;
    const [x0, x1, y0, y1] = [left + 1, left + 1 + inner, top + 1, top + 1 + inner]; // clip box, exclusive ends

    if (o.zeroLines) {
      if (xmin < 0 && xmax > 0) fillRect(img, Math.floor(toX(0)), y0, 1, inner, ZERO_LINE);
      if (ymin < 0 && ymax > 0) fillRect(img, x0, Math.floor(toY(0)), inner, 1, ZERO_LINE);
    }

    let outside = 0;
    const reach = Math.ceil(o.radius + 0.5);
    for (let i = 0; i < counts[p]; i++) {
      let color = TAB10[0];
      if (panel.labels !== undefined) {
        const label = panel.labels[i];
        if (!Number.isInteger(label) || label < 0) {
          throw new ConfigError(`renderScatter: panel ${p} ("${panel.title}") label ${i} must be a non-negative integer, got ${label}`);
        }
        color = TAB10[label % TAB10.length];
      }
      const x = panel.points[2 * i];
      const y = panel.points[2 * i + 1];
      if (!(x >= xmin && x <= xmax && y >= ymin && y <= ymax)) {
        outside++; // also NaN and infinities
        continue;
      }
      const cx = toX(x);
      const cy = toY(y);
      // Anti-aliased disc: coverage falls from 1 to 0 over the pixel at distance radius +- 0.5.
      for (let py = Math.max(y0, Math.floor(cy) - reach); py < Math.min(y1, Math.floor(cy) + reach + 1); py++) {
        for (let px = Math.max(x0, Math.floor(cx) - reach); px < Math.min(x1, Math.floor(cx) + reach + 1); px++) {
          const d = Math.hypot(px + 0.5 - cx, py + 0.5 - cy);
          const coverage = Math.min(1, o.radius + 0.5 - d);
          if (coverage > 0) blend(img, px, py, color, o.alpha * coverage);
        }
      }
    }

    // Frame after the dots' clip box so it is never painted over.
    fillRect(img, left, top, o.size, 1, FRAME);
    fillRect(img, left, top + o.size - 1, o.size, 1, FRAME);
    fillRect(img, left, top, 1, o.size, FRAME);
    fillRect(img, left + o.size - 1, top, 1, o.size, FRAME);

    // Title centred over the panel, cut with "..." if it does not fit even at scale 1.
    const title = fitText(panel.title, scale, o.size);
    const ty = layout.titleTop + layout.titleHeight - GLYPH_H * scale; // bottom-aligned in the band
    drawText(img, title, left + Math.floor((o.size - textWidth(title, scale)) / 2), ty, scale, TITLE_INK);

    if (o.footer) {
      const line = `n=${counts[p]}` + (outside > 0 ? `, ${outside} outside range` : "");
      drawText(img, fitText(line, 1, o.size), left, top + o.size + TEXT_GAP, 1, FOOTER_INK);
    }
  });

  if (o.footer) {
    const rangeText = `x: [${formatNumber(xmin)}, ${formatNumber(xmax)}]   y: [${formatNumber(ymin)}, ${formatNumber(ymax)}]`;
    const y = layout.panels[0].top + o.size + 2 * TEXT_GAP + GLYPH_H;
    drawText(img, fitText(rangeText, 1, layout.width - 2 * PAD), PAD, y, 1, FOOTER_INK);
  }
  return img;
}

/** Renders the panels (see `renderScatter`) and writes them as a PNG file, atomically. */
export function saveScatterPng(path: string, panels: ScatterPanel[], opts?: ScatterOptions): void {
  savePng(path, renderScatter(panels, opts));
}
