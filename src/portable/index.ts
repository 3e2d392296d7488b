// The portable layer: schedule, samplers, noise and the ONNX Runtime adapter in plain TypeScript.
// Rule: nothing here imports src/engine, native/ or a Node built-in, so it bundles for the browser
// (web/) and runs where libtorch does not (`fewstep sample --runtime onnx`).
export { LAMBDA_MAX, LAMBDA_MIN, alphaSigma, logSnr, timeGrid } from "./schedule.js";
export { NormalRng, type NoiseSource } from "./random.js";
export { gridIntervals, type PortableCond, type PortableDenoiser, type PortableSampleOptions, type PortableStepCallback } from "./denoiser.js";
export { ddimStep, sampleDdim } from "./ddim.js";
export { renoiseVariance, sampleStochastic } from "./stochastic.js";
export { guided, nullClass, withW } from "./guidance.js";
export { PORTABLE_SAMPLERS, exampleSize, samplePortable, type PortableModelInfo, type PortableSampleRequest, type PortableSamplerName } from "./sample.js";
export {
  FEWSTEP_ONNX_FORMAT,
  OnnxMetadataError,
  decodedImageShape,
  readFewstepAutoencoderMetadata,
  readFewstepMetadata,
  readOnnxMetadataProps,
  validateAutoencoderMetadata,
  validateFewstepMetadata,
  type FewstepAutoencoderOnnxMetadata,
  type FewstepOnnxMetadata,
  type LatentOnnxInfo,
} from "./onnx-metadata.js";
export { FewstepOnnxModel, openFewstepOnnx, type OrtModuleLike, type OrtSessionLike, type OrtTensorConstructor, type OrtTensorLike } from "./ort-session.js";
export { FewstepOnnxDecoder, FewstepOnnxEncoder, decoderMismatch, openFewstepDecoder, openFewstepEncoder } from "./ort-autoencoder.js";
