// What a latent model records about its latent space, in one definition: which autoencoder made
// its training latents (path as given, and content hash: io/load-autoencoder.ts autoencoderHash),
// the images that autoencoder takes, how decoded images are cropped back to the data's size, and
// whether the latents were posterior means or samples. A teacher stores it as metadata.latent; a
// distilled student carries it inside its run's data (metadata.distill.data.latent), so every
// checkpoint of a latent run can be decoded and refuses latents of another autoencoder.
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CheckpointError } from "./errors.js";

export interface LatentRecord {
  autoencoder: { path: string; sha256: string };
  /** Images the autoencoder takes and gives back, [C, S, S] (the data padded or resized to S). */
  imageShape: number[];
  /** Side decoded images are center-cropped to (the data's own side, when it was padded), or null. */
  cropTo: number | null;
  /** The training latents: posterior means or posterior samples. */
  posterior: "mean" | "sample";
}

/** Checks a stored record; `where` names the file in the error. */
export function parseLatentRecord(raw: unknown, where: string): LatentRecord {
  const r = raw as Partial<LatentRecord> | null;
  const ok =
    typeof r === "object" &&
    r !== null &&
    typeof r.autoencoder?.path === "string" &&
    typeof r.autoencoder.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(r.autoencoder.sha256) &&
    Array.isArray(r.imageShape) &&
    r.imageShape.length === 3 &&
    r.imageShape.every((k) => Number.isSafeInteger(k) && k > 0) &&
    (r.cropTo === null || (Number.isSafeInteger(r.cropTo) && (r.cropTo as number) > 0 && (r.cropTo as number) <= r.imageShape[1])) &&
    (r.posterior === "mean" || r.posterior === "sample");
  if (!ok) throw new CheckpointError(`${where}: its latent record is malformed: ${JSON.stringify(raw)?.slice(0, 160)}`);
  return r as LatentRecord;
}

/** The latent record of a checkpoint's metadata (teacher: metadata.latent; student: its run's data), or null for a pixel model. */
export function latentRecordOf(metadata: Record<string, unknown>, where: string): LatentRecord | null {
  const own = metadata.latent;
  const inherited = (metadata.distill as { data?: { latent?: unknown } } | undefined)?.data?.latent;
  const raw = own ?? inherited;
  return raw === undefined || raw === null ? null : parseLatentRecord(raw, where);
}

/**
 * Where the recorded autoencoder is: its path as recorded, else a file of the same name beside
 * the checkpoint (a run folder or models/ copied elsewhere).
 * @throws CheckpointError naming both places and the fix
 */
export function locateAutoencoder(record: LatentRecord, checkpointPath: string): string {
  const candidates = [record.autoencoder.path, join(dirname(checkpointPath), basename(record.autoencoder.path))];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new CheckpointError(`${checkpointPath}: its autoencoder ${record.autoencoder.path} is not there, nor beside the checkpoint; pass --autoencoder with that autoencoder (sha256 ${record.autoencoder.sha256.slice(0, 12)}...)`);
  }
  return found;
}

/**
 * The top (and left) offset of the center crop of a decoded [size, size] image to [cropTo, cropTo]:
 * floor((size - cropTo) / 2), so an odd margin leaves the extra row and column at the bottom right.
 */
export function centerCropOffset(size: number, cropTo: number): number {
  return Math.floor((size - cropTo) / 2);
}
