// Atomic file replacement (DESIGN.md section 6: "a crash never leaves a torn checkpoint"): write a
// temporary file in the target's folder, fsync it, then rename it over the target. rename(2) within
// one file system is atomic, so readers see either the old file or the complete new one.

import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, lstatSync, openSync, readlinkSync, renameSync, rmSync, type Stats, writeFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { WriteError } from "./errors.js";

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

// What a non-regular file is, for the refusal.
function kindOf(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return "a folder";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isSocket()) return "a socket";
  return "not a file";
}

/**
 * The one-line message for an OS error while writing `path` (never the temporary file's name,
 * which means nothing to the user): "cannot write PATH: CAUSE". `target` is where `path` leads (a
 * symlink's target), for naming its folder.
 */
export function describeWriteError(err: unknown, path: string, target = path): WriteError {
  if (err instanceof WriteError) return err;
  const { code, syscall } = err as NodeJS.ErrnoException;
  let cause: string;
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      cause = "disk full";
      break;
    case "EROFS":
    case "EACCES":
    case "EPERM":
      cause = "read-only or not writable";
      break;
    case "EISDIR":
      cause = "is a folder";
      break;
    case "ENOENT":
      cause = `folder ${dirname(target)} does not exist`;
      break;
    case "ENOTDIR":
      cause = `a part of ${dirname(target)} is not a folder`;
      break;
    case "ELOOP":
      cause = "too many levels of symbolic links";
      break;
    default:
      cause = code ? `${code}${syscall ? ` (${syscall})` : ""}` : String((err as Error).message ?? err).split("\n")[0];
  }
  return new WriteError(`cannot write ${path}: ${cause}`, code, { cause: err });
}

/**
 * Where a write to `path` really goes. A missing path is written as is; a regular file is
 * replaced. A symlink is followed to its target, which is written atomically instead: writing
 * through keeps the link, which is what the user meant by naming it (a rename over the link
 * would replace the link with a file). Anything else (device, FIFO, socket, folder) is refused:
 * a rename over /dev/null would replace the device with a file.
 */
function resolveTarget(path: string): string {
  let target = resolve(path);
  for (let hops = 0; ; hops++) {
    let stats: Stats;
    try {
      stats = lstatSync(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return target; // a new file (its folder is checked by the write)
      throw describeWriteError(err, path, target);
    }
    if (stats.isSymbolicLink()) {
      // One link at a time (not realpath), so a link to a file not yet made is followed too.
      if (hops >= 40) throw describeWriteError(Object.assign(new Error("ELOOP"), { code: "ELOOP" }), path);
      target = resolve(dirname(target), readlinkSync(target));
      continue;
    }
    const kind = kindOf(stats);
    if (kind !== undefined) {
      const link = target === resolve(path) ? "" : ` (a link to ${target})`;
      throw new WriteError(`${path}${link} is ${kind}, not a regular file: choose a file path`);
    }
    return target;
  }
}

/**
 * An output written in pieces and published atomically: `write` appends to a temporary file
 * beside the target, `commit` fsyncs it and renames it over the target, `abort` removes it. Until
 * `commit` the target is untouched, so a run that fails half way (a diverged sample, a full disk)
 * leaves the old file, or none, and nothing beside it.
 */
export interface AtomicWriter {
  /** Appends bytes (or a UTF-8 string) to the temporary file. @throws WriteError naming the target */
  write(data: Uint8Array | string): void;
  /** Publishes the file: fsync, rename over the target, fsync the folder. @throws WriteError */
  commit(): void;
  /** Removes the temporary file; safe to call after a failed write or twice. Never throws. */
  abort(): void;
}

/**
 * Opens `path` for an atomic write in pieces (AtomicWriter). The same target rules as
 * writeFileAtomic: a symlink is written through, a non-regular target refused.
 * @throws WriteError naming `path`
 */
export function openAtomicWriter(path: string): AtomicWriter {
  const target = resolveTarget(path);
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  let done = false;
  const abort = () => {
    if (done) return;
    done = true;
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // The first error says what went wrong; a failed close during cleanup adds nothing.
      }
      fd = undefined;
    }
    try {
      rmSync(tmp, { force: true });
    } catch {
      // As above: the write's own error is the one to report.
    }
  };
  const failed = (err: unknown): WriteError => {
    abort();
    return describeWriteError(err, path, target);
  };
  try {
    fd = openSync(tmp, "wx"); // "wx": fail rather than clobber a file that happens to have this name
  } catch (err) {
    throw failed(err);
  }
  return {
    write(data) {
      if (done || fd === undefined) throw new WriteError(`cannot write ${path}: the output was already committed or aborted`);
      try {
        writeFileSync(fd, data);
      } catch (err) {
        throw failed(err);
      }
    },
    commit() {
      if (done || fd === undefined) throw new WriteError(`cannot write ${path}: the output was already committed or aborted`);
      try {
        fsyncSync(fd);
        closeSync(fd);
        fd = undefined;
        renameSync(tmp, target);
      } catch (err) {
        throw failed(err);
      }
      done = true;
      try {
        fsyncDirSync(dirname(target));
      } catch (err) {
        throw describeWriteError(err, path, target);
      }
    },
    abort,
  };
}

/**
 * Writes `data` to `path` atomically (synchronously): a temporary `${path}.tmp-<pid>-<random>` in the
 * same folder is written, fsynced and renamed over `path`. On any error the temporary file is removed
 * and a one-line WriteError thrown, so a failed write leaves `path` as it was and nothing beside it.
 * A symlink is written through (its target is replaced, the link kept); a target that is not a
 * regular file (device, FIFO, socket, folder) is refused with a WriteError.
 * @param data bytes, or a string written as UTF-8
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const writer = openAtomicWriter(path);
  writer.write(data);
  writer.commit();
}

/**
 * Asynchronous `writeFileAtomic`: same target checks, temporary file, fsync, rename and cleanup on
 * error, without blocking the event loop (for checkpoint writes between training steps).
 * @param data bytes, or a string written as UTF-8
 */
export async function writeFileAtomicAsync(path: string, data: Uint8Array | string): Promise<void> {
  const target = resolveTarget(path); // a few lstat calls: cheap enough to share the sync check
  const tmp = tempPathFor(target);
  try {
    const handle = await open(tmp, "wx");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined); // the write's own error is the one to report
    throw describeWriteError(err, path, target);
  }
  try {
    await fsyncDir(dirname(target));
  } catch (err) {
    throw describeWriteError(err, path, target);
  }
}
