// writeFileAtomic and writeFileAtomicAsync against targets that are not regular files: a FIFO, a
// device node, a folder are refused and left as they were; a symlink is written through (the link
// stays a link, its target gets the new bytes); OS errors are one line naming the file; and no
// temporary file is ever left beside the target.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeWriteError, writeFileAtomic, writeFileAtomicAsync } from "../../src/io/atomic.js";
import { FewstepError, WriteError } from "../../src/io/errors.js";

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-atomic-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const noTemp = (dir: string) => assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), []);

// Both writers must refuse the same way.
async function bothRefuse(path: string, message: RegExp): Promise<void> {
  assert.throws(() => writeFileAtomic(path, "x"), (err: Error) => {
    assert.ok(err instanceof WriteError && err instanceof FewstepError, String(err));
    assert.match(err.message, message);
    assert.equal(err.message.split("\n").length, 1);
    assert.doesNotMatch(err.message, /\.tmp-/);
    return true;
  });
  await assert.rejects(writeFileAtomicAsync(path, "x"), (err: Error) => err instanceof WriteError && message.test(err.message));
}

test("a FIFO is refused and stays a FIFO", async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, "pipe");
  const made = spawnSync("mkfifo", [fifo]);
  if (made.status !== 0) return t.skip(`mkfifo failed: ${made.stderr}`);
  await bothRefuse(fifo, /pipe is a FIFO, not a regular file: choose a file path/);
  assert.ok(lstatSync(fifo).isFIFO());
  noTemp(dir);
});

test("a character device is refused and stays a device (a node made here, never /dev)", async (t) => {
  const dir = tempDir(t);
  const dev = join(dir, "null");
  const made = spawnSync("mknod", [dev, "c", "1", "3"]);
  if (made.status !== 0) return t.skip(`mknod needs root: ${made.stderr}`);
  await bothRefuse(dev, /null is a character device, not a regular file/);
  assert.ok(lstatSync(dev).isCharacterDevice());
  noTemp(dir);
});

test("a folder is refused (empty or not) and left as it was", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "empty"));
  mkdirSync(join(dir, "full", "inside"), { recursive: true });
  await bothRefuse(join(dir, "empty"), /empty is a folder, not a regular file/);
  await bothRefuse(join(dir, "full"), /full is a folder, not a regular file/);
  assert.deepEqual(readdirSync(dir).sort(), ["empty", "full"]);
  assert.deepEqual(readdirSync(join(dir, "full")), ["inside"]);
});

test("a symlink is written through: the link stays, its target gets the new content", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "real"));
  const file = join(dir, "real", "data.json");
  writeFileSync(file, "old");
  const link = join(dir, "link.json");
  symlinkSync(join("real", "data.json"), link); // relative, resolved against the link's folder
  writeFileAtomic(link, "new");
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), join("real", "data.json"));
  assert.equal(readFileSync(file, "utf8"), "new");
  await writeFileAtomicAsync(link, "newer");
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(file, "utf8"), "newer");
  // A chain of links, and a link to a file not made yet: followed to the end.
  const chain = join(dir, "chain");
  symlinkSync(link, chain);
  writeFileAtomic(chain, "chained");
  assert.equal(readFileSync(file, "utf8"), "chained");
  const dangling = join(dir, "later");
  symlinkSync(join(dir, "real", "made-later.txt"), dangling);
  writeFileAtomic(dangling, "made");
  assert.ok(lstatSync(dangling).isSymbolicLink());
  assert.equal(readFileSync(join(dir, "real", "made-later.txt"), "utf8"), "made");
  noTemp(dir);
  noTemp(join(dir, "real"));
});

test("a symlink to a FIFO is refused, naming both; the link and the FIFO stay", async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, "pipe");
  if (spawnSync("mkfifo", [fifo]).status !== 0) return t.skip("mkfifo failed");
  const link = join(dir, "out.npy");
  symlinkSync(fifo, link);
  await bothRefuse(link, /out\.npy \(a link to .*pipe\) is a FIFO, not a regular file/);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.ok(lstatSync(fifo).isFIFO());
  noTemp(dir);
});

test("a missing folder: one line naming the folder, the code kept, nothing made", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "missing", "x.npy");
  await bothRefuse(path, /^cannot write .*missing\/x\.npy: folder .*missing does not exist$/);
  assert.throws(() => writeFileAtomic(path, "x"), { code: "ENOENT" });
  assert.deepEqual(readdirSync(dir), []);
  // A file where a folder should be.
  writeFileSync(join(dir, "file"), "");
  await bothRefuse(join(dir, "file", "x.npy"), /cannot write .*file\/x\.npy: a part of .*file is not a folder/);
  assert.deepEqual(readdirSync(dir), ["file"]);
});

test("OS error codes become one line naming the file and the cause, never the temporary path", () => {
  const cases: [string, RegExp][] = [
    ["ENOSPC", /^cannot write out\/x\.npy: disk full$/],
    ["EROFS", /^cannot write out\/x\.npy: read-only or not writable$/],
    ["EACCES", /^cannot write out\/x\.npy: read-only or not writable$/],
    ["EISDIR", /^cannot write out\/x\.npy: is a folder$/],
    ["ENOENT", /^cannot write out\/x\.npy: folder out does not exist$/],
    ["EIO", /^cannot write out\/x\.npy: EIO \(write\)$/],
  ];
  for (const [code, message] of cases) {
    const raw = Object.assign(new Error(`${code}: oops, write 'out/x.npy.tmp-1-abc'`), { code, syscall: "write" });
    const err = describeWriteError(raw, "out/x.npy");
    assert.ok(err instanceof WriteError);
    assert.match(err.message, message);
    assert.equal(err.code, code);
    assert.equal(err.cause, raw);
  }
});

test("a regular file is replaced, and nothing is left beside it", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "a.txt");
  writeFileSync(path, "old");
  writeFileAtomic(path, "new");
  assert.equal(readFileSync(path, "utf8"), "new");
  await writeFileAtomicAsync(path, Uint8Array.of(65));
  assert.equal(readFileSync(path, "utf8"), "A");
  assert.deepEqual(readdirSync(dir), ["a.txt"]);
});
