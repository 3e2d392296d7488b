// Atomic file replacement (DESIGN.md section 6: "a crash never leaves a torn checkpoint"): write a
// temporary file in the target's folder, fsync it, then rename it over the target. rename(2) within
// one file system is atomic, so readers see either the old file or the complete new one.

import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

// Same folder as the target, so the rename never crosses file systems; pid and random bytes keep
// concurrent writers (other processes, or this one twice) off each other's temporary files.
function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

// Makes the rename itself durable: without syncing the folder, a power loss right after the rename
// may bring back the old directory entry. Windows cannot open folders for syncing, and NTFS journals
// renames anyway, so it is skipped there.
function fsyncDirSync(dir: string): void {
  if (process.platform === "win32") return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Asynchronous fsyncDirSync.
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `data` to `path` atomically (synchronously): a temporary `${path}.tmp-<pid>-<random>` in the
 * same folder is written, fsynced and renamed over `path`. On any error the temporary file is removed
 * and the error rethrown, so a failed write leaves `path` as it was and nothing beside it.
 * @param data bytes, or a string written as UTF-8
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx"); // "wx": fail rather than clobber a file that happens to have this name
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // The first error says what went wrong; a failed close during cleanup adds nothing.
      }
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirSync(dirname(path));
}

/**
 * Asynchronous `writeFileAtomic`: same temporary file, fsync, rename and cleanup on error, without
 * blocking the event loop (for checkpoint writes between training steps).
 * @param data bytes, or a string written as UTF-8
 */
export async function writeFileAtomicAsync(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const handle = await open(tmp, "wx");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}
