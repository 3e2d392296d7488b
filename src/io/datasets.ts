// Image dataset readers: IDX (MNIST, Fashion-MNIST; LeCun et al.'s format, gzip or raw), CIFAR-10
// binary batches (Krizhevsky 2009), PNG folders with one subfolder per class, and .npy arrays.
// Every reader returns uint8 NCHW pixels plus int32 labels; `toTensorBatch` scales a batch to
// [-1, 1] (x = u8/127.5 - 1) and pads or resizes it to the net's size. A truncated, corrupt or
// mismatched file throws a FormatError that names the file and what was expected.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Generator, randperm, tensor, type Tensor } from "../engine/index.js";
import { FewstepError, FormatError } from "./errors.js";
import { toTypedArray } from "./host-array.js";
import { loadNpy } from "./npy.js";
import { loadPng } from "./png.js";

/** Images and labels in host memory, the common result of every reader. */
export interface ImageDataset {
  /** `count * channels * height * width` bytes, NCHW (channel planes, rows top to bottom). */
  images: Uint8Array;
  /** One class index per image, in 0..numClasses-1. */
  labels: Int32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  /** Number of classes: 10 for IDX and CIFAR-10, the folder count for PNG folders, max label + 1 for .npy. */
  numClasses: number;
  /** Where the data came from (file or folder paths), for messages. */
  source: string;
  /** Class names by index; set by `readPngFolder` (the subfolder names). */
  classNames?: string[];
}

/** Options of `toTensorBatch`. */
export interface TensorBatchOptions {
  /**
   * Side S of the square output. An image no larger than S×S is padded, centered, with the
   * background value -1 (black after scaling, like MNIST's own border); a larger one is resized to
   * S×S by nearest neighbour (PyTorch's "nearest": source index floor(dst * in / out)).
   * @default the dataset's own height × width (no padding, no resizing)
   */
  size?: number;
}

// IDX stores counts big-endian after a 4-byte magic: two zero bytes, a type code (0x08 = u8) and
// the number of dimensions. MNIST images are 0x00000803, labels 0x00000801.
const IDX_IMAGES_MAGIC = 0x00000803;
const IDX_LABELS_MAGIC = 0x00000801;
const CIFAR_RECORD = 1 + 3 * 32 * 32;
const FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist";

/** Fashion-MNIST's class names by label (Xiao et al. 2017). */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

/** The file's bytes, gunzipped when it starts with the gzip magic 0x1f 0x8b (so .gz is optional). */
function readMaybeGzip(path: string): Uint8Array {
  const raw = readFileSync(path);
  if (raw.byteLength >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      const out = gunzipSync(raw);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (e) {
      throw new FormatError(`${path}: corrupt gzip stream (${(e as Error).message})`, { cause: e });
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Parses one u8 IDX file: checks the magic and that the payload has exactly prod(dims) bytes. */
function parseIdx(path: string, magic: number): { dims: number[]; data: Uint8Array } {
  const bytes = readMaybeGzip(path);
  const ndim = magic & 0xff;
  const header = 4 + 4 * ndim;
  if (bytes.byteLength < 4) throw new FormatError(`${path}: truncated IDX file (${bytes.byteLength} bytes, no magic number)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    const what = magic === IDX_IMAGES_MAGIC ? "u8 images, 3 dims" : "u8 labels, 1 dim";
    throw new FormatError(`${path}: wrong IDX magic number ${hex(found)}, expected ${hex(magic)} (${what})`);
  }
  if (bytes.byteLength < header) {
    throw new FormatError(`${path}: truncated IDX header: ${header} bytes expected, ${bytes.byteLength} present`);
  }
  const dims = Array.from({ length: ndim }, (_, k) => view.getUint32(4 + 4 * k, false));
  const expected = header + dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== expected) {
    const problem = bytes.byteLength < expected ? "truncated IDX file" : "IDX file longer than its header says";
    throw new FormatError(`${path}: ${problem}: dims [${dims.join(", ")}] need ${expected} bytes, ${bytes.byteLength} present`);
  }
  return { dims, data: bytes.subarray(header) };
}

/** Fails when image and label counts differ, naming both files and both counts. */
function checkCounts(imagesPath: string, images: number, labelsPath: string, labels: number): void {
  if (images !== labels) {
    throw new FormatError(`image/label count mismatch: ${imagesPath} has ${images} images but ${labelsPath} has ${labels} labels`);
  }
}

/** Fails when a label lies outside 0..numClasses-1 (a corrupt file, or a format we misread). */
function checkLabels(labels: Int32Array, numClasses: number, path: string): void {
  const bad = labels.findIndex((l) => l < 0 || l >= numClasses);
  if (bad >= 0) throw new FormatError(`${path}: label ${labels[bad]} of record ${bad} is outside 0..${numClasses - 1}`);
}

/**
 * Reads an IDX image/label pair (MNIST, Fashion-MNIST), each gzipped or raw.
 * @throws FormatError naming the file: wrong magic (expected and found), truncated (bytes expected
 *   vs present), corrupt gzip, label outside 0..9; naming both files when the counts differ
 */
export function readIdx(imagesPath: string, labelsPath: string): ImageDataset {
  const img = parseIdx(imagesPath, IDX_IMAGES_MAGIC);
  const lab = parseIdx(labelsPath, IDX_LABELS_MAGIC);
  const [count, height, width] = img.dims;
  if (height === 0 || width === 0) throw new FormatError(`${imagesPath}: IDX images of ${height}x${width} pixels: each image must have at least one row and column`);
  checkCounts(imagesPath, count, labelsPath, lab.dims[0]);
  const labels = Int32Array.from(lab.data);
  checkLabels(labels, 10, labelsPath);
  // One channel: IDX rows are already the NCHW layout with C = 1, so no copy is needed.
  return { images: img.data, labels, count, channels: 1, height, width, numClasses: 10, source: `${imagesPath} + ${labelsPath}` };
}

/**
 * Reads CIFAR-10 binary batches (data_batch_1.bin ...): records of 1 label byte + 3072 pixel bytes
 * (R, G and B planes of 32×32, already CHW), concatenated in the order given.
 * @throws FormatError naming the file when its size is not a multiple of 3073 or a label exceeds 9
 */
export function readCifar10(batchPaths: string[]): ImageDataset {
  if (batchPaths.length === 0) throw new FewstepError("readCifar10: no batch files given");
  const files = batchPaths.map((path) => {
    const bytes = readMaybeGzip(path);
    if (bytes.byteLength === 0 || bytes.byteLength % CIFAR_RECORD !== 0) {
      throw new FormatError(
        `${path}: size ${bytes.byteLength} bytes is not a positive multiple of the CIFAR-10 record size ${CIFAR_RECORD} (1 label + 3x32x32 pixels); truncated or not a CIFAR-10 batch`,
      );
    }
    return { path, bytes };
  });
  const count = files.reduce((n, f) => n + f.bytes.byteLength / CIFAR_RECORD, 0);
  const images = new Uint8Array(count * (CIFAR_RECORD - 1));
  const labels = new Int32Array(count);
  let i = 0;
  for (const { path, bytes } of files) {
    const first = i;
    for (let off = 0; off < bytes.byteLength; off += CIFAR_RECORD, i++) {
      labels[i] = bytes[off];
      images.set(bytes.subarray(off + 1, off + CIFAR_RECORD), i * (CIFAR_RECORD - 1));
    }
    checkLabels(labels.subarray(first, i), 10, path);
  }
  return { images, labels, count, channels: 3, height: 32, width: 32, numClasses: 10, source: batchPaths.join(" + ") };
}

/**
 * Reads a folder with one subfolder per class (sorted names give the class indices) of *.png files
 * (sorted by name), of any PNG format (io/png.ts): grey files (colour types 0 and 4) give 1
 * channel, colour and palette files 3, in 8-bit values (16-bit keeps the high byte). Alpha is
 * dropped, colours left as stored, as PIL's convert("L") / convert("RGB") that torchvision's
 * loader calls: a net trained on RGB has no use for it, and the images must share one channel count.
 * @throws FormatError naming the offending file when its size or channel count differs from the
 *   first image; naming the folder when it has no class subfolders or a class has no PNG
 */
export function readPngFolder(root: string): ImageDataset {
  const classNames = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  if (classNames.length === 0) throw new FormatError(`${root}: no class subfolders (expected one subfolder of .png files per class)`);
  const planes: Uint8Array[] = [];
  const labels: number[] = [];
  let shape: { channels: number; height: number; width: number; first: string } | undefined;
  classNames.forEach((name, cls) => {
    const dir = join(root, name);
    const files = readdirSync(dir).filter((f) => f.toLowerCase().endsWith(".png")).sort();
    if (files.length === 0) throw new FormatError(`${dir}: class folder "${name}" holds no .png files`);
    for (const f of files) {
      const path = join(dir, f);
      const png = loadPng(path, { alpha: "drop" });
      const { channels } = png;
      shape ??= { channels, height: png.height, width: png.width, first: path };
      if (channels !== shape.channels || png.height !== shape.height || png.width !== shape.width) {
        throw new FormatError(
          `${path}: image is ${png.width}x${png.height} with ${channels} channel(s), but ${shape.first} is ` +
            `${shape.width}x${shape.height} with ${shape.channels}; all images of a folder dataset must match`,
        );
      }
      // PNG interleaves channels (HWC); the dataset stores planes (CHW).
      const hw = png.height * png.width;
      const chw = new Uint8Array(channels * hw);
      for (let p = 0; p < hw; p++) for (let c = 0; c < channels; c++) chw[c * hw + p] = png.data[p * channels + c];
      planes.push(chw);
      labels.push(cls);
    }
  });
  const s = shape!;
  const size = s.channels * s.height * s.width;
  const images = new Uint8Array(planes.length * size);
  planes.forEach((p, i) => images.set(p, i * size));
  return {
    images, labels: Int32Array.from(labels), count: planes.length, channels: s.channels, height: s.height, width: s.width,
    numClasses: classNames.length, source: root, classNames,
  };
}

/**
 * Reads images and labels from .npy files: images uint8 [N,H,W] or [N,C,H,W], or float32/float64
 * in [-1, 1] (stored as round((x + 1) * 127.5)); labels int64 or int32 [N], non-negative.
 * @throws FormatError naming the file for a wrong dtype, rank or value range; naming both files
 *   when the counts differ
 */
export function readNpyImages(imagesPath: string, labelsPath: string): ImageDataset {
  const { images, count, channels, height, width } = readNpyImagePixels(imagesPath);
  const lab = loadNpy(labelsPath);
  if (lab.shape.length !== 1 || (lab.dtype !== "int64" && lab.dtype !== "int32")) {
    throw new FormatError(`${labelsPath}: labels must be int64 or int32 of shape [N], got ${lab.dtype} [${lab.shape.join(", ")}]`);
  }
  checkCounts(imagesPath, count, labelsPath, lab.shape[0]);
  const raw = lab.dtype === "int64" ? toTypedArray(lab as typeof lab & { dtype: "int64" }) : toTypedArray(lab as typeof lab & { dtype: "int32" });
  const labels = new Int32Array(count);
  let max = -1;
  for (let k = 0; k < count; k++) {
    const l = Number(raw[k]);
    if (l < 0 || l > 0x7fffffff) throw new FormatError(`${labelsPath}: label ${l} of record ${k} is not a class index`);
    labels[k] = l;
    max = Math.max(max, l);
  }
  return { images, labels, count, channels, height, width, numClasses: max + 1, source: `${imagesPath} + ${labelsPath}` };
}

/**
 * Reads a .npy of images alone, without labels (every label 0, one class): a reference set for
 * FID such as samples written by `fewstep sample`. Same dtypes and shapes as readNpyImages.
 * @throws FormatError naming the file for a wrong dtype, rank or value range
 */
export function readNpyImageArray(imagesPath: string): ImageDataset {
  const { images, count, channels, height, width } = readNpyImagePixels(imagesPath);
  return { images, labels: new Int32Array(count), count, channels, height, width, numClasses: 1, source: imagesPath };
}

/** The pixels of a .npy image array as u8 NCHW: uint8 as is, float in [-1, 1] as round((x + 1) * 127.5). */
function readNpyImagePixels(imagesPath: string): { images: Uint8Array; count: number; channels: number; height: number; width: number } {
  const img = loadNpy(imagesPath);
  if (img.shape.length !== 3 && img.shape.length !== 4) {
    throw new FormatError(`${imagesPath}: images must have shape [N,H,W] or [N,C,H,W], got [${img.shape.join(", ")}]`);
  }
  const [count, channels, height, width] = img.shape.length === 3 ? [img.shape[0], 1, img.shape[1], img.shape[2]] : img.shape;
  let images: Uint8Array;
  if (img.dtype === "uint8") {
    images = img.data;
  } else if (img.dtype === "float32" || img.dtype === "float64") {
    const x = toTypedArray(img as typeof img & { dtype: "float32" | "float64" });
    images = new Uint8Array(x.length);
    for (let k = 0; k < x.length; k++) {
      // A [0, 1] or [0, 255] array would otherwise be silently clipped into a wrong image.
      if (!(x[k] >= -1 - 1e-6 && x[k] <= 1 + 1e-6)) {
        throw new FormatError(`${imagesPath}: float image value ${x[k]} at flat index ${k} is outside [-1, 1]`);
      }
      images[k] = Math.min(255, Math.max(0, Math.round((x[k] + 1) * 127.5)));
    }
  } else {
    throw new FormatError(`${imagesPath}: images must be uint8, float32 or float64, got ${img.dtype}`);
  }
  return { images, count, channels, height, width };
}

/**
 * Builds a batch from the images at `indices`: float32 [B,C,S,S] in [-1, 1] (x = u8/127.5 - 1,
 * so 0 → -1 and 255 → 1) and int64 labels [B].
 * @throws RangeError for an index outside 0..count-1 or a size below 1
 */
export function toTensorBatch(ds: ImageDataset, indices: number[], opts: TensorBatchOptions = {}): { x: Tensor; labels: Tensor } {
  const { channels: C, height: H, width: W } = ds;
  const S = opts.size;
  if (S !== undefined && (!Number.isInteger(S) || S < 1)) throw new RangeError(`toTensorBatch: size must be a positive integer, got ${S}`);
  const [outH, outW] = S === undefined ? [H, W] : [S, S];
  const pad = S === undefined || (H <= S && W <= S);
  // Centered padding; an odd margin puts the extra row/column after the image.
  const top = pad ? Math.floor((outH - H) / 2) : 0;
  const left = pad ? Math.floor((outW - W) / 2) : 0;
  const plane = outH * outW;
  const x = new Float32Array(indices.length * C * plane).fill(-1);
  const labels = new BigInt64Array(indices.length);
  indices.forEach((idx, b) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= ds.count) {
      throw new RangeError(`toTensorBatch: index ${idx} is outside 0..${ds.count - 1} of ${ds.source}`);
    }
    labels[b] = BigInt(ds.labels[idx]);
    for (let c = 0; c < C; c++) {
      const src = (idx * C + c) * H * W;
      const dst = (b * C + c) * plane;
      for (let r = 0; r < outH; r++) {
        for (let q = 0; q < outW; q++) {
          let sr: number, sc: number;
          if (pad) {
            sr = r - top;
            sc = q - left;
            if (sr < 0 || sr >= H || sc < 0 || sc >= W) continue;
          } else {
            sr = Math.floor((r * H) / outH);
            sc = Math.floor((q * W) / outW);
          }
          x[dst + r * outW + q] = ds.images[src + sr * W + sc] / 127.5 - 1;
        }
      }
    }
  });
  return { x: tensor(x, { shape: [indices.length, C, outH, outW] }), labels: tensor(labels, { shape: [indices.length] }) };
}

/** A seeded permutation of 0..count-1 from the engine's randperm (libtorch's mt19937), so the same
 *  seed gives the same order here and in `torch.randperm(count, generator=g.manual_seed(seed))`. */
export function shuffledOrder(count: number, seed: number): number[] {
  const perm = randperm(count, new Generator(seed));
  try {
    return Array.from(perm.data() as BigInt64Array, Number);
  } finally {
    perm.dispose();
  }
}

/**
 * The image and label paths of a Fashion-MNIST split in the system dataset folder.
 * @param root @default "/usr/share/datasets/fashion-mnist"
 * @throws FewstepError naming the folder and the install command when a file is missing
 */
export function fashionMnistPaths(split: "train" | "test", root = FASHION_MNIST_ROOT): { images: string; labels: string } {
  // The test split keeps its original "t10k" file names.
  const prefix = split === "train" ? "train" : "t10k";
  const images = join(root, `${prefix}-images-idx3-ubyte.gz`);
  const labels = join(root, `${prefix}-labels-idx1-ubyte.gz`);
  for (const p of [images, labels]) {
    if (!existsSync(p)) {
      throw new FewstepError(`Fashion-MNIST ${split} split not found in ${root} (missing ${p}); install it with: apt-get install dataset-fashion-mnist`);
    }
  }
  return { images, labels };
}

/** The forms `openImageDataset` accepts, for help texts. */
export const IMAGE_DATA_FORMS = "fashion-mnist[:train|test], idx:IMAGES,LABELS, cifar10:BATCH[,BATCH...], png:DIR, npy:IMAGES,LABELS";

/**
 * Opens an image data set from a spec string: `fashion-mnist` (Debian's dataset-fashion-mnist,
 * train split; `fashion-mnist:test` for the test split), `idx:images,labels` (MNIST-style files,
 * gzip or raw), `cifar10:data_batch_1.bin,...`, `png:folder` (one subfolder per class) or
 * `npy:images.npy,labels.npy`.
 * @throws FewstepError naming the accepted forms for an unknown spec; FormatError for a bad file
 */
export function openImageDataset(spec: string): ImageDataset {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  const parts = rest.split(",").filter((p) => p !== "");
  const need = (count: number, what: string) => {
    if (parts.length !== count) throw new FewstepError(`data '${spec}': ${kind} needs ${what}, e.g. ${kind}:${what.replace(/ /g, "")}`);
  };
  switch (kind) {
    case "fashion-mnist": {
      const split = rest === "" ? "train" : rest;
      if (split !== "train" && split !== "test") throw new FewstepError(`data '${spec}': the split must be train or test`);
      const { images, labels } = fashionMnistPaths(split);
      return { ...readIdx(images, labels), classNames: [...FASHION_MNIST_CLASSES] };
    }
    case "idx":
      need(2, "images,labels");
      return readIdx(parts[0], parts[1]);
    case "cifar10":
      if (parts.length === 0) throw new FewstepError(`data '${spec}': cifar10 needs one or more batch files, e.g. cifar10:data_batch_1.bin,data_batch_2.bin`);
      return readCifar10(parts);
    case "png":
      if (rest === "") throw new FewstepError(`data '${spec}': png needs a folder, e.g. png:my-images (one subfolder per class)`);
      return readPngFolder(rest);
    case "npy":
      need(2, "images,labels");
      return readNpyImages(parts[0], parts[1]);
    default:
      throw new FewstepError(`unknown data '${spec}'; use one of: ${IMAGE_DATA_FORMS}`);
  }
}
