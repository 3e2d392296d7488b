// Tiny synthetic image sets for the classifier and FID tests: two classes of S x S gray images,
// class 0 with a bright left half, class 1 with a bright top half, plus pseudo-random noise.
import type { ImageDataset } from "../../src/io/datasets.js";

/** `count` images (labels alternate 0, 1); `seed` changes the noise, so two seeds give disjoint sets. */
export function halvesImages(count: number, seed = 0, size = 8): ImageDataset {
  const images = new Uint8Array(count * size * size);
  const labels = new Int32Array(count);
  let state = (seed * 2654435761 + 12345) >>> 0;
  const noise = () => {
    // xorshift32: deterministic, independent of the engine
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % 60;
  };
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const bright = labels[i] === 0 ? c < size / 2 : r < size / 2;
        images[i * size * size + r * size + c] = (bright ? 170 : 20) + noise();
      }
    }
  }
  return { images, labels, count, channels: 1, height: size, width: size, numClasses: 2, source: `halves(${count}, seed ${seed})` };
}
