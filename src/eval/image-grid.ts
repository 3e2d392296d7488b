// Image grids as PNG: a table of images (rows x columns) with optional row labels on the left,
// column labels on top and a title, drawn with the built-in bitmap font. Pixels in [-1, 1] map to
// 0..255 (u8 = round((x + 1) * 127.5), clamped), the inverse of the dataset readers' scaling.
import { ConfigError, ShapeError } from "../engine/errors.js";
import { savePng, type PngImage } from "../io/png.js";
import { drawText, fillRect, GLYPH_H, textWidth } from "./bitmap-text.js";

export interface ImageGridOptions {
  /** Images per row. */
  columns: number;
  /** Labels of the rows, drawn at their left. */
  rowLabels?: string[];
  /** Labels of the columns, drawn above them. */
  columnLabels?: string[];
  title?: string;
  /** Integer magnification of every image. @default 2 */
  scale?: number;
  /** Pixels between images. @default 2 */
  gap?: number;
}

const BACKGROUND = [255, 255, 255] as const;
const INK = [20, 20, 20] as const;
const MARGIN = 6;

/** One pixel value in [-1, 1] as a byte. */
export function toByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)));
}

/**
 * Renders images [n, C, H, W] (C = 1 or 3, values in [-1, 1]) row by row into an RGB PNG image.
 * A row with fewer than `columns` images (the last) is left blank where images are missing.
 * @throws ShapeError when `shape` is not [n, 1|3, H, W] or `data` has another length
 */
export function renderImageGrid(data: Float32Array | Float64Array, shape: number[], opts: ImageGridOptions): PngImage {
  const [n, C, H, W] = shape;
  if (shape.length !== 4 || (C !== 1 && C !== 3)) throw new ShapeError(`renderImageGrid: images must be [n, 1 or 3, H, W], got [${shape}]`);
  if (data.length !== n * C * H * W) throw new ShapeError(`renderImageGrid: ${data.length} values for shape [${shape}]`);
  if (!Number.isInteger(opts.columns) || opts.columns < 1) throw new ConfigError(`renderImageGrid: columns must be a positive integer, got ${opts.columns}`);
  const scale = opts.scale ?? 2;
  const gap = opts.gap ?? 2;
  const columns = opts.columns;
  const rows = Math.ceil(n / columns);
  const labelWidth = opts.rowLabels?.length ? Math.max(...opts.rowLabels.map((l) => textWidth(l))) + MARGIN : 0;
  const titleHeight = opts.title ? GLYPH_H + MARGIN : 0;
  const headerHeight = opts.columnLabels?.length ? GLYPH_H + MARGIN / 2 : 0;
  const cellW = W * scale;
  const cellH = H * scale;
  const width = MARGIN + labelWidth + columns * cellW + (columns - 1) * gap + MARGIN;
  const gridTop = MARGIN + titleHeight + headerHeight;
  const height = gridTop + rows * cellH + (rows - 1) * gap + MARGIN;
  const img: PngImage = { width, height, channels: 3, data: new Uint8Array(width * height * 3) };
  fillRect(img, 0, 0, width, height, BACKGROUND);
  if (opts.title) drawText(img, opts.title, MARGIN, MARGIN, 1, INK);
  const x0 = MARGIN + labelWidth;
  opts.columnLabels?.forEach((label, c) => {
    if (c < columns) drawText(img, label, x0 + c * (cellW + gap) + Math.max(0, (cellW - textWidth(label)) >> 1), MARGIN + titleHeight, 1, INK);
  });
  opts.rowLabels?.forEach((label, r) => {
    if (r < rows) drawText(img, label, MARGIN, gridTop + r * (cellH + gap) + ((cellH - GLYPH_H) >> 1), 1, INK);
  });
  const plane = H * W;
  for (let k = 0; k < n; k++) {
    const left = x0 + (k % columns) * (cellW + gap);
    const top = gridTop + Math.floor(k / columns) * (cellH + gap);
    for (let y = 0; y < cellH; y++) {
      for (let x = 0; x < cellW; x++) {
        const p = Math.floor(y / scale) * W + Math.floor(x / scale);
        const o = ((top + y) * width + left + x) * 3;
        for (let ch = 0; ch < 3; ch++) img.data[o + ch] = toByte(data[(k * C + (C === 1 ? 0 : ch)) * plane + p]);
      }
    }
  }
  return img;
}

/** renderImageGrid, written to `path` atomically. */
export function saveImageGrid(path: string, data: Float32Array | Float64Array, shape: number[], opts: ImageGridOptions): void {
  savePng(path, renderImageGrid(data, shape, opts));
}
