// Line plots as RGB PNG images (FID against w for each N, FID against IS): axes with "nice" ticks
// (1, 2, 2.5, 5 x 10^k), light grid lines, tick labels, axis labels, a title and a legend to the
// right of the plot (so it never hides data), with the bitmap font of bitmap-text.ts and the tab10
// colours of scatter-plot.ts. Lines and markers are clipped to the plotting area; a point with a
// non-finite coordinate is skipped and breaks its line.
import { ConfigError } from "../engine/errors.js";
import { savePng, type PngImage } from "../io/png.js";
import { drawText, fillRect, fitText, GLYPH_H, textWidth } from "./bitmap-text.js";
import { TAB10 } from "./scatter-plot.js";

export interface LineSeries {
  /** Shown in the legend. */
  name: string;
  /** [x, y] pairs, drawn in this order. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Image width in pixels. @default 640 */
  width?: number;
  /** Image height in pixels. @default 400 */
  height?: number;
  /** @default the finite data's extent, padded by 4% of it on each side */
  xRange?: [number, number];
  /** @default as xRange */
  yRange?: [number, number];
  /** Connect consecutive points of a series. @default true */
  lines?: boolean;
  /** Half-width of the square point markers in pixels (0: none). @default 3 */
  marker?: number;
}

/** Where things are, in pixels (for tests and annotations). */
export interface LinePlotLayout {
  width: number;
  height: number;
  /** The plotting area: data is drawn in columns left..left+width-1 and rows top..top+height-1. */
  plot: { left: number; top: number; width: number; height: number };
  /** The legend box, null without series names. */
  legend: { left: number; top: number; width: number; height: number } | null;
  xRange: [number, number];
  yRange: [number, number];
  xTicks: number[];
  yTicks: number[];
}

const PAD = 10;
const TICK = 4; // tick mark length
const GAP = 5; // between a tick mark and its label, and other text gaps
const LEGEND_ROW = GLYPH_H + 6;
const SWATCH = 16;
const BACKGROUND = [255, 255, 255] as const;
const GRID = [232, 232, 232] as const;
const AXIS = [64, 64, 64] as const;
const INK = [20, 20, 20] as const;

/** A step of 1, 2, 2.5 or 5 x 10^k giving about `target` intervals over `span`. */
export function niceStep(span: number, target = 6): number {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
}

/** The multiples of niceStep(hi - lo) inside [lo, hi] (with a tolerance for rounding). */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  const step = niceStep(hi - lo, target);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Tick labels with as many decimals as the step needs (at most 6). */
function formatTicks(ticks: number[]): string[] {
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  return ticks.map((t) => {
    const s = t.toFixed(decimals);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  });
}

/** The axis range: given (checked), or the data's extent padded by 4% on each side. */
function axisRange(values: number[], given: [number, number] | undefined, which: string): [number, number] {
  if (given) {
    if (given.length !== 2 || !given.every(Number.isFinite) || !(given[0] < given[1])) throw new ConfigError(`renderLinePlot: ${which} must be [min, max], finite, with min < max; got [${given.join(", ")}]`);
    return [given[0], given[1]];
  }
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  const pad = hi > lo ? 0.04 * (hi - lo) : 0.1 * (Math.abs(lo) || 1);
  // Padded so that markers at the extremes are drawn whole; the ticks are the nice values inside.
  return [lo - pad, hi + pad];
}

function resolve(opts: LinePlotOptions): { width: number; height: number; lines: boolean; marker: number } {
  const o = { width: opts.width ?? 640, height: opts.height ?? 400, lines: opts.lines ?? true, marker: opts.marker ?? 3 };
  if (!Number.isInteger(o.width) || o.width < 160 || !Number.isInteger(o.height) || o.height < 120) {
    throw new ConfigError(`renderLinePlot: width and height must be integers of at least 160 and 120, got ${o.width} x ${o.height}`);
  }
  if (!Number.isInteger(o.marker) || o.marker < 0 || o.marker > 10) throw new ConfigError(`renderLinePlot: marker must be an integer in [0, 10], got ${o.marker}`);
  return o;
}

/** The layout renderLinePlot uses for these series and options. */
export function linePlotLayout(series: LineSeries[], opts: LinePlotOptions = {}): LinePlotLayout {
  const o = resolve(opts);
  const xRange = axisRange(series.flatMap((s) => s.points.map((p) => p[0])), opts.xRange, "xRange");
  const yRange = axisRange(series.flatMap((s) => s.points.map((p) => p[1])), opts.yRange, "yRange");
  const xTicks = niceTicks(xRange[0], xRange[1]);
  const yTicks = niceTicks(yRange[0], yRange[1], 5);
  const yLabelWidth = Math.max(0, ...formatTicks(yTicks).map((l) => textWidth(l)));
  const top = PAD + (opts.title ? 2 * GLYPH_H + GAP + 2 : 0) + (opts.yLabel ? GLYPH_H + GAP : 0);
  const bottom = TICK + GAP + GLYPH_H + (opts.xLabel ? GAP + 2 + GLYPH_H : 0) + PAD;
  // Legend at the right, at most a third of the width (names are cut to fit).
  const named = series.length > 0;
  const maxName = Math.max(0, ...series.map((s) => textWidth(s.name)));
  const legendWidth = named ? Math.min(Math.floor(o.width / 3), 2 * GAP + SWATCH + GAP + maxName) : 0;
  const legendLeft = o.width - PAD - legendWidth;
  const left = PAD + yLabelWidth + GAP + TICK + 1;
  const right = named ? legendLeft - 2 * GAP : o.width - PAD - Math.ceil(textWidth(formatTicks(xTicks).at(-1) ?? "") / 2);
  const plot = { left, top, width: right - left, height: o.height - bottom - top };
  if (plot.width < 20 || plot.height < 20) throw new ConfigError(`renderLinePlot: ${o.width} x ${o.height} leaves no room for the plot; make it larger or the names shorter`);
  const legend = named ? { left: legendLeft, top, width: legendWidth, height: GAP + series.length * LEGEND_ROW } : null;
  return { width: o.width, height: o.height, plot, legend, xRange, yRange, xTicks, yTicks };
}

/** Liang-Barsky: the part of segment a-b inside [x0, x1] x [y0, y1], or null. */
function clipSegment(a: [number, number], b: [number, number], x0: number, x1: number, y0: number, y1: number): [[number, number], [number, number]] | null {
  let [t0, t1] = [0, 1];
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  for (const [p, q] of [[-dx, a[0] - x0], [dx, x1 - a[0]], [-dy, a[1] - y0], [dy, y1 - a[1]]]) {
    if (p === 0) {
      if (q < 0) return null;
      continue;
    }
    const r = q / p;
    if (p < 0) t0 = Math.max(t0, r);
    else t1 = Math.min(t1, r);
    if (t0 > t1) return null;
  }
  return [[a[0] + t0 * dx, a[1] + t0 * dy], [a[0] + t1 * dx, a[1] + t1 * dy]];
}

/** A 2-px line from a to b (pixel coordinates, already clipped), by stepping at most 0.5 px. */
function drawLine(img: PngImage, a: [number, number], b: [number, number], rgb: readonly number[], clip: (x: number, y: number) => boolean): void {
  const steps = Math.max(1, Math.ceil(2 * Math.hypot(b[0] - a[0], b[1] - a[1])));
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(a[0] + ((b[0] - a[0]) * i) / steps - 0.5);
    const y = Math.round(a[1] + ((b[1] - a[1]) * i) / steps - 0.5);
    for (const [px, py] of [[x, y], [x + 1, y], [x, y + 1], [x + 1, y + 1]]) if (clip(px, py)) fillRect(img, px, py, 1, 1, rgb);
  }
}

/**
 * Renders the series (colour i: tab10[i % 10]) on shared axes into a white RGB image.
 * @throws ConfigError for a bad size, range or marker, or no room for the plot
 */
export function renderLinePlot(series: LineSeries[], opts: LinePlotOptions = {}): { image: PngImage; layout: LinePlotLayout } {
  const o = resolve(opts);
  const layout = linePlotLayout(series, opts);
  const { plot, xRange, yRange } = layout;
  const image: PngImage = { width: o.width, height: o.height, channels: 3, data: new Uint8Array(o.width * o.height * 3) };
  fillRect(image, 0, 0, o.width, o.height, BACKGROUND);
  // Data to pixel centres: xRange spans the plot's first to last column, yRange its last to first row.
  const toX = (x: number) => plot.left + 0.5 + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (plot.width - 1);
  const toY = (y: number) => plot.top + 0.5 + ((yRange[1] - y) / (yRange[1] - yRange[0])) * (plot.height - 1);
  const inPlot = (x: number, y: number) => x >= plot.left && x < plot.left + plot.width && y >= plot.top && y < plot.top + plot.height;
  const [x0, x1, y0, y1] = [plot.left, plot.left + plot.width, plot.top, plot.top + plot.height];

  // Grid lines and ticks with labels.
  const xLabels = formatTicks(layout.xTicks);
  layout.xTicks.forEach((t, i) => {
    const px = Math.floor(toX(t));
    fillRect(image, px, y0, 1, plot.height, GRID);
    fillRect(image, px, y1 + 1, 1, TICK, AXIS);
    drawText(image, xLabels[i], px - Math.floor(textWidth(xLabels[i]) / 2), y1 + 1 + TICK + GAP, 1, INK);
  });
  const yLabels = formatTicks(layout.yTicks);
  layout.yTicks.forEach((t, i) => {
    const py = Math.floor(toY(t));
    fillRect(image, x0, py, plot.width, 1, GRID);
    fillRect(image, x0 - 1 - TICK, py, TICK, 1, AXIS);
    drawText(image, yLabels[i], x0 - 1 - TICK - GAP - textWidth(yLabels[i]) + 2, py - (GLYPH_H >> 1), 1, INK);
  });
  // Frame just outside the plotting area.
  fillRect(image, x0 - 1, y0 - 1, plot.width + 2, 1, AXIS);
  fillRect(image, x0 - 1, y1, plot.width + 2, 1, AXIS);
  fillRect(image, x0 - 1, y0 - 1, 1, plot.height + 2, AXIS);
  fillRect(image, x1, y0 - 1, 1, plot.height + 2, AXIS);

  // Title (scale 2 when it fits), y label above the axis, x label centred below the tick labels.
  if (opts.title) {
    const scale = textWidth(opts.title, 2) <= o.width - 2 * PAD ? 2 : 1;
    const title = fitText(opts.title, scale, o.width - 2 * PAD);
    drawText(image, title, Math.floor((o.width - textWidth(title, scale)) / 2), PAD, scale, INK);
  }
  if (opts.yLabel) drawText(image, fitText(opts.yLabel, 1, o.width - 2 * PAD), PAD, y0 - GAP - GLYPH_H - 1, 1, INK);
  if (opts.xLabel) {
    const label = fitText(opts.xLabel, 1, plot.width);
    drawText(image, label, x0 + Math.floor((plot.width - textWidth(label)) / 2), y1 + 1 + TICK + GAP + GLYPH_H + GAP + 2, 1, INK);
  }

  // Series: lines first, markers over them.
  series.forEach((s, k) => {
    const rgb = TAB10[k % TAB10.length];
    const pixels = s.points.map(([x, y]) => (Number.isFinite(x) && Number.isFinite(y) ? ([toX(x), toY(y)] as [number, number]) : null));
    if (o.lines) {
      for (let i = 1; i < pixels.length; i++) {
        const [a, b] = [pixels[i - 1], pixels[i]];
        const part = a && b ? clipSegment(a, b, x0, x1, y0, y1) : null;
        if (part) drawLine(image, part[0], part[1], rgb, inPlot);
      }
    }
    if (o.marker > 0) {
      for (const p of pixels) {
        if (!p) continue;
        const [cx, cy] = [Math.floor(p[0]), Math.floor(p[1])];
        for (let py = cy - o.marker; py <= cy + o.marker; py++) for (let px = cx - o.marker; px <= cx + o.marker; px++) if (inPlot(px, py)) fillRect(image, px, py, 1, 1, rgb);
      }
    }
  });

  // Legend: a framed box of swatch + name rows.
  const legend = layout.legend;
  if (legend) {
    fillRect(image, legend.left, legend.top, legend.width, 1, AXIS);
    fillRect(image, legend.left, legend.top + legend.height - 1, legend.width, 1, AXIS);
    fillRect(image, legend.left, legend.top, 1, legend.height, AXIS);
    fillRect(image, legend.left + legend.width - 1, legend.top, 1, legend.height, AXIS);
    series.forEach((s, k) => {
      const rgb = TAB10[k % TAB10.length];
      const rowTop = legend.top + GAP + k * LEGEND_ROW;
      const mid = rowTop + (GLYPH_H >> 1);
      fillRect(image, legend.left + GAP, mid, SWATCH, 2, rgb);
      if (o.marker > 0) fillRect(image, legend.left + GAP + SWATCH / 2 - 2, mid - 2, 5, 5, rgb);
      const textLeft = legend.left + GAP + SWATCH + GAP;
      drawText(image, fitText(s.name, 1, legend.left + legend.width - GAP - textLeft), textLeft, rowTop, 1, INK);
    });
  }
  return { image, layout };
}

/** renderLinePlot, written as a PNG file (atomically). */
export function saveLinePlot(path: string, series: LineSeries[], opts?: LinePlotOptions): void {
  savePng(path, renderLinePlot(series, opts).image);
}
