// The feature network behind FID and the Inception Score, as one interface: fewstep's own
// classifier (nn/classifier.ts, its penultimate layer and softmax) or a user's ONNX model
// (onnx-features.ts, e.g. InceptionV3 for the standard FID). Both take images [n, C, H, W] in
// [-1, 1] and give features [n, d] (FID) and, when the network has them, class probabilities
// [n, K] (IS). outputs() is async because onnxruntime's run() is: call it outside any tidy scope
// (scopes are synchronous) and dispose what it returns.
import { noGrad, type Tensor } from "../engine/index.js";
import type { ImageClassifier } from "../nn/classifier.js";
import { classifierOutputs, EVAL_BATCH_SIZE } from "./image-metrics.js";
import { fileSha256 } from "./reference-stats.js";

/** What a feature network gives for a batch of images. */
export interface FeatureOutputs {
  /** [n, d]: FID's features. */
  features: Tensor;
  /** [n, K] rows summing to 1: IS's p(y|x); null when the network has no class output. */
  probs: Tensor | null;
}

/** Everything the features depend on (file content hash, outputs, preprocessing), as JSON values. */
export type FeatureNetworkKey = { kind: string; sha256: string } & Record<string, unknown>;

export interface FeatureNetwork {
  /** For logs, tables and results.json: "classifier runs/c/classifier.safetensors", "onnx inception.onnx (output pool3)". */
  readonly description: string;
  /** Keys the reference-statistics cache: equal keys mean equal features for equal images. */
  readonly key: FeatureNetworkKey;
  /** Whether outputs() gives probs (so an Inception Score can be computed). */
  readonly hasProbs: boolean;
  /** The image side the network requires (the built-in classifier's size), or null: any size (it resizes). */
  readonly imageSize: number | null;
  /** Why images of shape [C, H, W] cannot be scored (a sentence with the fix), or null when they can. */
  incompatibility(exampleShape: readonly number[]): string | null;
  /** Features (and probs) of images [n, C, H, W] in [-1, 1], computed in batches; the caller disposes them. */
  outputs(images: Tensor): Promise<FeatureOutputs>;
  dispose(): void;
}

/**
 * fewstep's classifier as a FeatureNetwork. `path` is its checkpoint file: the file's SHA-256 keys
 * the reference cache (hashed once, here).
 * @param batchSize images per forward pass @default EVAL_BATCH_SIZE
 */
export function classifierFeatures(classifier: ImageClassifier, path: string, batchSize = EVAL_BATCH_SIZE): FeatureNetwork {
  const shape = classifier.exampleShape;
  return {
    description: `classifier ${path}`,
    key: { kind: "classifier", sha256: fileSha256(path) },
    hasProbs: true,
    imageSize: classifier.config.size,
    incompatibility: (exampleShape) =>
      exampleShape.join() === shape.join() ? null : `the classifier takes [${shape}]: train a classifier at the model's size (--size)`,
    outputs: async (images) => noGrad(() => classifierOutputs(classifier, images, batchSize)),
    dispose: () => classifier.dispose(),
  };
}
