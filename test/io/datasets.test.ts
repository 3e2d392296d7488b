// Tests for the image dataset readers (src/io/datasets.ts) against files written by Python's
// struct/gzip/zlib (test/fixtures/datasets/make_fixtures.py): pixels and labels equal the script's
// formula, PNG folders of every PNG format give PIL's pixels (test/fixtures/io/png-kinds), every
// corrupt or mismatched file throws a FormatError naming it, batches scale, pad and resize as
// documented, the shuffle is a seeded permutation, and the system Fashion-MNIST test split has its
// published shape (10000 images, 28x28, 1000 per class) where it is installed.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FormatError } from "../../src/io/errors.js";
import {
  type ImageDataset, fashionMnistPaths, readCifar10, readIdx, readNpyImages, readPngFolder, shuffledOrder, toTensorBatch,
} from "../../src/io/datasets.js";
import { fromTypedArray } from "../../src/io/host-array.js";
import { loadNpy, saveNpy } from "../../src/io/npy.js";

// Compiled to dist/test/io/, three levels below the repository root.
const FIX = fileURLToPath(new URL("../../../test/fixtures/datasets/", import.meta.url));
const f = (name: string): string => join(FIX, name);

// The pixel formula of make_fixtures.py: image i, row r, column c (and CIFAR channel k).
const pixel = (i: number, r: number, c: number): number => (i * 7 + r * 3 + c) % 256;
const cifarPixel = (i: number, k: number, r: number, c: number): number => (i * 7 + k * 11 + r * 3 + c) % 256;

/** Asserts that `fn` throws a FormatError whose message contains every fragment. */
function throwsFormat(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    for (const s of fragments) assert.ok(e.message.includes(s), `message "${e.message}" lacks "${s}"`);
    return true;
  });
}

test("readIdx: gzip images + raw labels give the script's pixels and labels", () => {
  const ds = readIdx(f("idx-images.gz"), f("idx-labels"));
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.numClasses], [5, 1, 4, 3, 10]);
  assert.deepEqual([...ds.labels], [0, 3, 6, 9, 2]);
  for (let i = 0; i < 5; i++) for (let r = 0; r < 4; r++) for (let c = 0; c < 3; c++) assert.equal(ds.images[(i * 4 + r) * 3 + c], pixel(i, r, c));
  // Spot literals: image 4, row 3, col 2 = (28 + 9 + 2) % 256 = 39.
  assert.equal(ds.images[4 * 12 + 3 * 3 + 2], 39);
});

test("readIdx: wrong magic, truncation, count mismatch and bad gzip name the file and the problem", () => {
  throwsFormat(() => readIdx(f("idx-bad-magic"), f("idx-labels")), "idx-bad-magic", "0x00000802", "expected 0x00000803");
  throwsFormat(() => readIdx(f("idx-images.gz"), f("idx-images.gz")), "idx-images.gz", "expected 0x00000801");
  throwsFormat(() => readIdx(f("idx-truncated"), f("idx-labels")), "idx-truncated", "truncated", "76 bytes", "69 present");
  throwsFormat(() => readIdx(f("idx-images.gz"), f("idx-labels-4")), "idx-images.gz", "idx-labels-4", "5 images", "4 labels");
  throwsFormat(() => readIdx(f("idx-bad-gzip.gz"), f("idx-labels")), "idx-bad-gzip.gz", "gzip");
});

test("readCifar10: two records, CHW planes, labels 7 and 2; a bad size names the file", () => {
  const ds = readCifar10([f("cifar-2.bin")]);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [2, 3, 32, 32]);
  assert.deepEqual([...ds.labels], [7, 2]);
  for (const [i, k, r, c] of [[0, 0, 0, 0], [0, 2, 31, 31], [1, 1, 5, 9], [1, 2, 31, 0]]) {
    assert.equal(ds.images[((i * 3 + k) * 32 + r) * 32 + c], cifarPixel(i, k, r, c));
  }
  assert.equal(ds.images[3072 + 1024 + 5 * 32 + 9], 42); // image 1, G plane, row 5, col 9: 7 + 11 + 15 + 9
  throwsFormat(() => readCifar10([f("cifar-2.bin"), f("cifar-bad.bin")]), "cifar-bad.bin", "6151", "3073");
});

test("readPngFolder: sorted class folders give labels; gray 3x2 images as CHW", () => {
  const ds = readPngFolder(f("png"));
  assert.deepEqual(ds.classNames, ["a", "b"]);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.numClasses], [3, 1, 2, 3, 2]);
  assert.deepEqual([...ds.labels], [0, 0, 1]);
  for (let i = 0; i < 3; i++) for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) assert.equal(ds.images[(i * 2 + r) * 3 + c], pixel(i, r, c));
  throwsFormat(() => readPngFolder(f("png-mismatch")), "big.png", "4x2", "3x2");
  throwsFormat(() => readPngFolder(f("png/a")), "no class subfolders");
});

// test/fixtures/io/png-kinds (make_png_kinds.py): 5x7 PNGs of every format with PIL's pixels beside them.
const KINDS = fileURLToPath(new URL("../../../test/fixtures/io/png-kinds/", import.meta.url));

/** A class-folder tree under a fresh temp dir: { class: [fixture names] }, files copied as NN-name.png. */
function kindsFolder(t: TestContext, classes: Record<string, string[]>): string {
  const root = mkdtempSync(join(tmpdir(), "fewstep-pngfolder-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [cls, names] of Object.entries(classes)) {
    mkdirSync(join(root, cls));
    names.forEach((name, i) => copyFileSync(join(KINDS, `${name}.png`), join(root, cls, `${String(i).padStart(2, "0")}-${name}.png`)));
  }
  return root;
}

/** PIL's pixels of a fixture (uint8 HWC .npy) as the CHW planes the dataset stores. */
function pilPlanes(name: string): number[] {
  const a = loadNpy(join(KINDS, `${name}.npy`));
  const [h, w, c = 1] = a.shape;
  const out = new Array<number>(c * h * w);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) out[k * h * w + p] = (a.data as Uint8Array)[p * c + k];
  return out;
}

test("readPngFolder: colour files of every PNG format give PIL's convert(\"RGB\"), alpha dropped", (t) => {
  const classes = {
    palette: ["palette", "palette_trns", "palette_4bit"],
    rgb: ["rgb16", "rgb_trns", "rgba", "rgba16", "interlaced_rgb"],
  };
  const ds = readPngFolder(kindsFolder(t, classes));
  assert.deepEqual(ds.classNames, ["palette", "rgb"]);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.numClasses], [8, 3, 7, 5, 2]);
  assert.deepEqual([...ds.labels], [0, 0, 0, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(ds.images), [...classes.palette, ...classes.rgb].flatMap(pilPlanes));
});

test("readPngFolder: grey files of every PNG format give PIL's convert(\"L\") (16-bit: high byte), one channel", (t) => {
  const classes = { a: ["grey_1bit", "grey_trns", "grey16"], b: ["grey_alpha", "grey_alpha16", "interlaced_grey"] };
  const ds = readPngFolder(kindsFolder(t, classes));
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.numClasses], [6, 1, 7, 5, 2]);
  assert.deepEqual([...ds.labels], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(Array.from(ds.images), [...classes.a, ...classes.b].flatMap(pilPlanes));
});

test("readPngFolder: grey beside colour, and a truncated file, name the file", (t) => {
  const mixed = kindsFolder(t, { a: ["rgba"], b: ["grey_alpha"] });
  throwsFormat(() => readPngFolder(mixed), join(mixed, "b", "00-grey_alpha.png"), "1 channel(s)", "with 3");
  const root = kindsFolder(t, { a: ["palette"], b: ["rgb16"] });
  const bad = join(root, "b", "00-rgb16.png");
  const bytes = readFileSync(bad);
  writeFileSync(bad, bytes.subarray(0, bytes.length - 40));
  throwsFormat(() => readPngFolder(root), `${bad}: file is truncated at byte ${bytes.length - 40}`);
});

test("readNpyImages: uint8 [N,H,W], float [N,C,H,W] in [-1,1], int64 labels; mismatch names both files", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-datasets-"));
  try {
    const u8 = Uint8Array.from({ length: 2 * 2 * 3 }, (_, k) => k * 20);
    saveNpy(join(dir, "img.npy"), fromTypedArray("uint8", [2, 2, 3], u8));
    saveNpy(join(dir, "lab.npy"), fromTypedArray("int64", [2], BigInt64Array.from([4n, 1n])));
    const ds = readNpyImages(join(dir, "img.npy"), join(dir, "lab.npy"));
    assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.numClasses], [2, 1, 2, 3, 5]);
    assert.deepEqual([...ds.images], [...u8]);
    assert.deepEqual([...ds.labels], [4, 1]);

    // -1 → 0, 0 → round(127.5) = 128, 1 → 255, -0.5 → round(63.75) = 64.
    saveNpy(join(dir, "f.npy"), fromTypedArray("float32", [1, 1, 2, 2], Float32Array.from([-1, 0, 1, -0.5])));
    saveNpy(join(dir, "l32.npy"), fromTypedArray("int32", [1], Int32Array.from([0])));
    const fl = readNpyImages(join(dir, "f.npy"), join(dir, "l32.npy"));
    assert.deepEqual([...fl.images], [0, 128, 255, 64]);

    saveNpy(join(dir, "lab3.npy"), fromTypedArray("int64", [3], BigInt64Array.from([0n, 1n, 2n])));
    throwsFormat(() => readNpyImages(join(dir, "img.npy"), join(dir, "lab3.npy")), "img.npy", "lab3.npy", "2 images", "3 labels");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A 1-channel 3x4 dataset: image 0 all 0, image 1 all 255, image 2 = 0..11 row-major.
const small: ImageDataset = {
  images: Uint8Array.from([...new Array(12).fill(0), ...new Array(12).fill(255), ...Array.from({ length: 12 }, (_, k) => k)]),
  labels: Int32Array.from([3, 1, 4]), count: 3, channels: 1, height: 3, width: 4, numClasses: 5, source: "small",
};

test("toTensorBatch: 0 → -1, 255 → 1, int64 labels in index order", () => {
  const { x, labels } = toTensorBatch(small, [1, 0]);
  assert.deepEqual(x.shape, [2, 1, 3, 4]);
  assert.equal(x.dtype, "float32");
  const v = x.data() as Float32Array;
  assert.ok(v.subarray(0, 12).every((a) => a === 1));
  assert.ok(v.subarray(12).every((a) => a === -1));
  assert.equal(labels.dtype, "int64");
  assert.deepEqual([...(labels.data() as BigInt64Array)], [1n, 3n]);
  x.dispose();
  labels.dispose();
});

test("toTensorBatch: 3x4 padded to 6 is centered on background -1", () => {
  const { x, labels } = toTensorBatch(small, [1], { size: 6 });
  assert.deepEqual(x.shape, [1, 1, 6, 6]);
  const v = x.data() as Float32Array;
  // Margins: top floor(3/2) = 1, left floor(2/2) = 1; rows 1..3, columns 1..4 hold the image.
  for (let r = 0; r < 6; r++) {
    for (let c = 0; c < 6; c++) assert.equal(v[r * 6 + c], r >= 1 && r <= 3 && c >= 1 && c <= 4 ? 1 : -1, `(${r}, ${c})`);
  }
  x.dispose();
  labels.dispose();
});

test("toTensorBatch: 3x4 resized to 2 picks nearest pixels floor(dst * in / out)", () => {
  const { x, labels } = toTensorBatch(small, [2], { size: 2 });
  assert.deepEqual(x.shape, [1, 1, 2, 2]);
  // Rows floor(0*3/2) = 0, floor(1*3/2) = 1; columns 0, 2: pixels 0, 2, 4, 6.
  assert.deepEqual([...(x.data() as Float32Array)], [0, 2, 4, 6].map((u) => Math.fround(u / 127.5 - 1)));
  x.dispose();
  labels.dispose();
});

test("shuffledOrder: a permutation, the same for the same seed", () => {
  const a = shuffledOrder(50, 7);
  assert.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 50 }, (_, k) => k));
  assert.deepEqual(shuffledOrder(50, 7), a);
  assert.notDeepEqual(shuffledOrder(50, 8), a);
});

test("Fashion-MNIST test split: 10000 images 28x28, 1000 per class", (t) => {
  if (!existsSync("/usr/share/datasets/fashion-mnist")) {
    t.skip("/usr/share/datasets/fashion-mnist is not installed");
    return;
  }
  const { images, labels } = fashionMnistPaths("test");
  const ds = readIdx(images, labels);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [10000, 1, 28, 28]);
  const perClass = new Array(10).fill(0);
  for (const l of ds.labels) perClass[l]++;
  assert.deepEqual(perClass, new Array(10).fill(1000));
});

test("fashionMnistPaths: a missing folder names it and the install command", () => {
  assert.throws(() => fashionMnistPaths("train", "/nonexistent/fmnist"), /\/nonexistent\/fmnist.*apt-get install dataset-fashion-mnist/);
});

test("readIdx: images of zero rows or columns are refused naming the file (found by test/io/fuzz.test.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-idx-zero-"));
  try {
    // 5 images of 0 x 3: a valid header and an empty payload, which parsed as 5 empty images
    const header = new DataView(new ArrayBuffer(16));
    [0x00000803, 5, 0, 3].forEach((v, k) => header.setUint32(4 * k, v, false));
    const path = join(dir, "zero-rows");
    writeFileSync(path, new Uint8Array(header.buffer));
    throwsFormat(() => readIdx(path, f("idx-labels")), "zero-rows", "IDX images of 0x3 pixels");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
