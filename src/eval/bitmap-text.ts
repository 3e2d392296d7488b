// A 5x7 bitmap font and rectangle fill on RGB PngImages: titles and labels for plots and image
// grids without font files or dependencies.
import type { PngImage } from "../io/png.js";

// 5x7 bitmap font. GLYPH_ROWS holds, for the character at the same index of GLYPH_CHARS, seven
// rows top to bottom, each a base-32 digit whose 5 bits are the pixels left (bit 4) to right.
// Lower case has a 5-row x-height; descenders (g j p q y) are lifted to fit the 7 rows. Any other
// character is drawn as "?".
const GLYPH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;=-_()[]/+?!%*'<>#|";
const GLYPH_ROWS = (
  "ehhvhhh uhhuhhu ehggghe uhhhhhu vgguggv vgguggg ehgnhhf hhhvhhh e44444e 72222ic hikokih ggggggv " +
  "hrllhhh hhpljhh ehhhhhe uhhuggg ehhhlid uhhukih fgge11u v444444 hhhhhhe hhhhha4 hhhllla hha4ahh " +
  "hha4444 v1248gv " +
  "00e1fhf ggmphhu 00egghe 11djhhf 00ehvge 698s888 0fhhf1e ggmphhh 40c444e 20622ic ggikoki c44444e " +
  "00qllhh 00mphhh 00ehhhe 00uhugg 00djf11 00mpggg 00ege1u 88s8896 00hhhjd 00hhha4 00hhlla 00ha4ah " +
  "00hhf1e 00v248v " +
  "ehjlphe 4c4444e eh1248v v2421he 26aiv22 vgu11he 68guhhe v124888 ehhehhe ehhf12c " +
  "0000000 00000cc 0000c48 0cc0cc0 0cc0c48 00v0v00 000v000 000000v 2488842 8422248 7444447 s44444s " +
  "01248g0 044v440 eh12404 4444404 op248j3 04lel40 4480000 248g842 g84248g aavavaa 4444444"
).split(" ");
const GLYPH_W = 5;
export const GLYPH_H = 7;
const ADVANCE = GLYPH_W + 1; // one column of space between glyphs

function glyph(ch: string): string {
  const i = GLYPH_CHARS.indexOf(ch);
  return GLYPH_ROWS[i >= 0 ? i : GLYPH_CHARS.indexOf("?")];
}

/** Width in pixels of `text` in the bitmap font at `scale` (no trailing space column). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * ADVANCE - 1) * scale;
}

// Draws `text` with its top-left corner at (x, y), clipped to the image.
export function drawText(img: PngImage, text: string, x: number, y: number, scale: number, ink: readonly number[]): void {
  for (let k = 0; k < text.length; k++) {
    const rows = glyph(text[k]);
    for (let r = 0; r < GLYPH_H; r++) {
      const bits = parseInt(rows[r], 32);
      for (let c = 0; c < GLYPH_W; c++) {
        if (((bits >> (GLYPH_W - 1 - c)) & 1) === 0) continue;
        fillRect(img, x + (k * ADVANCE + c) * scale, y + r * scale, scale, scale, ink);
      }
    }
  }
}

// Longest prefix of `text` (with "..." when cut) that fits in `maxWidth` at `scale`.
export function fitText(text: string, scale: number, maxWidth: number): string {
  if (textWidth(text, scale) <= maxWidth) return text;
  let n = text.length;
  while (n > 0 && textWidth(text.slice(0, n) + "...", scale) > maxWidth) n--;
  return n > 0 ? text.slice(0, n) + "..." : "";
}

export function fillRect(img: PngImage, x: number, y: number, w: number, h: number, rgb: readonly number[]): void {
  for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
    for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) {
      const o = (yy * img.width + xx) * 3;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
    }
  }
}

