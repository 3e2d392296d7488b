// Rebuilding the FID/IS feature network (nn/classifier.ts) from a fewstep checkpoint: the
// architecture from metadata.model = { kind: "classifier", config }, the weights by name.
import type { ClassifierConfig, ImageClassifier } from "../nn/classifier.js";
import { ParamStore } from "../nn/param-store.js";
import { buildModel } from "../nn/registry.js";
import { disposeCheckpoint, loadCheckpoint } from "./checkpoint.js";
import { CheckpointError } from "./errors.js";
import { checkStoredWeights, modelMetadataFromCheckpoint } from "./load-model.js";

/** A loaded classifier and its checkpoint's metadata (training settings, test accuracy). */
export interface LoadedClassifier {
  classifier: ImageClassifier;
  metadata: Record<string, unknown>;
}

/**
 * Loads a classifier written by `fewstep train-classifier` (or trainClassifier).
 * @throws CheckpointError naming `path`: unreadable, not a fewstep checkpoint, not a classifier
 *   (e.g. a denoiser checkpoint), a bad config, missing/unexpected tensor names or shapes
 */
export function loadClassifierCheckpoint(path: string): LoadedClassifier {
  const checkpoint = loadCheckpoint(path);
  try {
    const model = checkpoint.metadata.model as { kind?: unknown; config?: unknown } | undefined;
    if (!model || model.kind !== "classifier" || typeof model.config !== "object" || model.config === null) {
      throw new CheckpointError(
        `${path}: not a classifier checkpoint: metadata.model.kind is ${JSON.stringify(model?.kind)}, expected "classifier" (train one with fewstep train-classifier)`,
      );
    }
    // resolved and built through the model registry, like every other kind
    const meta = modelMetadataFromCheckpoint(path, checkpoint.metadata) as { kind: "classifier"; config: ClassifierConfig };
    checkStoredWeights(path, checkpoint.params);
    const classifier = buildModel(new ParamStore(), meta);
    try {
      classifier.loadWeights(checkpoint.params);
    } catch (err) {
      classifier.dispose();
      throw new CheckpointError(`${path}: ${(err as Error).message}`, { cause: err });
    }
    return { classifier, metadata: checkpoint.metadata };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** loadClassifierCheckpoint without the metadata. */
export function loadClassifier(path: string): ImageClassifier {
  return loadClassifierCheckpoint(path).classifier;
}
