// fewstep's public API: `import { ... } from "fewstep"`. Guided distillation (Meng et al. 2023) of
// classifier-free guided diffusion models into few-step students that take w as an input, on
// libtorch. Importing this loads the native addon; code that must run without libtorch (a browser,
// ONNX Runtime) imports the portable layer instead (`fewstep/portable`).
//
// @example
// import { GaussianMixture, loadMixture, runStageOne, runStageTwo, sampleGuided, denoiserOf, loadModel } from "fewstep";
// const exact = loadMixture("ring2d");
// const data = new GaussianMixture(exact.spec, { dtype: "float32" });
// await runStageOne({ teacher: { kind: "exact", model: exact, name: "ring2d" }, dataset: data, outDir: "run", range: { wMin: 0, wMax: 4 }, steps: 2000 });
// await runStageTwo({ from: "run/stage-one.safetensors", dataset: data, outDir: "run", range: { wMin: 0, wMax: 4 }, startSteps: 64, targetSteps: 4, stepsPerHalving: 500 });
// const student = loadModel("run/student-N4.safetensors");
// const x = sampleGuided(denoiserOf(student), z, { sampler: "ddim", steps: 4, w: 2, guidance: "input", cond: { labels } });

// The tensor engine: Tensor, creation, ops, autograd, optimizers, scopes, generators, devices.
export * from "./engine/index.js";

// Networks and their parts: parameters by name, conditions, the model registry.
export { ParamStore } from "./nn/param-store.js";
export { Linear, Conv2d, GroupNorm } from "./nn/layers.js";
export { catCond, type Cond } from "./nn/condition.js";
export { CondEmbedding, W_PATH_PREFIX, type NullText } from "./nn/cond-embedding.js";
export { MlpDenoiser, MLP_DENOISER_DEFAULTS, resolveMlpDenoiserConfig, type MlpDenoiserConfig } from "./nn/mlp-denoiser.js";
export { UNet, UNET_DEFAULTS, resolveUNetConfig, type UNetConfig } from "./nn/unet.js";
export { ImageClassifier, CLASSIFIER_DEFAULTS, resolveClassifierConfig, type ClassifierConfig } from "./nn/classifier.js";
export type { Model, DenoiserModel, ModelKindEntry, Prediction } from "./nn/model.js";
export { MODEL_REGISTRY, MODEL_KINDS, buildModel, buildDenoiser, describeModel, resolveModelMetadata, type ModelKind, type ModelMetadata } from "./nn/registry.js";

// Files: checkpoints, safetensors, .npy, PNG, image data sets, loading models.
export { saveCheckpoint, loadCheckpoint, disposeCheckpoint, type Checkpoint } from "./io/checkpoint.js";
export { saveSafetensors, loadSafetensors } from "./io/safetensors.js";
export { saveNpy, loadNpy } from "./io/npy.js";
export { toHost, fromHost } from "./io/tensor-bridge.js";
export { openImageDataset, readIdx, readCifar10, readPngFolder, readNpyImages, type ImageDataset } from "./io/datasets.js";
export { loadModel, loadMlpDenoiser, type LoadModelOptions } from "./io/load-model.js";
export { loadClassifier } from "./io/load-classifier.js";

// Diffusion: schedule, parameterization, guidance, samplers, the exact teacher, teacher training.
export { LAMBDA_MAX, LAMBDA_MIN, alphaSigma, logSnr, timeGrid, logSnrTensor, alphaSigmaTensor, weightedXLoss, type LossWeighting } from "./diffusion/schedule.js";
export type { Denoiser, CondDenoiser } from "./diffusion/denoiser.js";
export { denoiserOf, noiseLevel, xHatFromOutput } from "./diffusion/parameterization.js";
export { guided, dropCond } from "./diffusion/guidance.js";
export { ddimStep, sampleDdim, sampleDdpm, sampleStochastic, renoiseVariance, type SampleOptions, type StepCallback } from "./diffusion/samplers/index.js";
export { sampleGuided, SAMPLERS, type SamplerName, type GuidedSampleOptions } from "./diffusion/sample.js";
export { GaussianMixture, loadMixture } from "./diffusion/mixture.js";
export { randomMixtureSpec, describeMixture, DEFAULT_FAMILY, type MixtureFamily } from "./diffusion/mixture-family.js";
export type { ConditionedDataset, LabeledDataset } from "./diffusion/dataset.js";
export { ImageTensorDataset } from "./diffusion/image-dataset.js";
export { trainTeacher, TEACHER_DEFAULTS, type TrainTeacherOptions, type TrainTeacherResult } from "./diffusion/train-teacher.js";
export { teacherLoss } from "./diffusion/teacher-loss.js";
export { dataGenerator, saveTrainState, resumeTrainState, type TrainState } from "./diffusion/train-state.js";
export { progressPrinter, type TrainProgress } from "./diffusion/train-loop.js";

// Guided distillation: stage one (w as an input), stage two (progressive halving), their metadata.
export { stageOneLoss, sampleW } from "./distill/stage-one.js";
export { stageTwoLoss, stageTwoTarget } from "./distill/stage-two.js";
export {
  runStageOne,
  runStageTwo,
  stageOnePath,
  stageTwoPath,
  type StageOneOptions,
  type StageTwoOptions,
  type StageOneTeacher,
  type QualityBar,
  type QualityVerdict,
} from "./distill/pipeline.js";
export { exactTeacherRecipe, stepsForHalving, type DistillRecipe } from "./distill/recipe.js";
export { distillMetadata, checkDistilledFor, type DistillMetadata, type WRange } from "./distill/metadata.js";

// Evaluation: exact-teacher error tables, FID / IS, the quick start.
export { ddimErrorTable, referenceSamples, noiseFloor, errorTableMarkdown } from "./eval/ddim-error.js";
export { exactTeacherBar, barTable, barWeights, describeCell, type BarCell } from "./eval/distill-bar.js";
export { gaussianStats, frechetDistance, inceptionScore, type GaussianStats } from "./eval/fid.js";
export { evaluateModel, type EvalModel, type EvaluateOptions, type EvalCell } from "./eval/image-metrics.js";
export { classifierFeatures, type FeatureNetwork } from "./eval/feature-network.js";
export { runQuickstart, type QuickstartOptions } from "./eval/quickstart.js";

// Deployment: ONNX export.
export { exportCheckpointToOnnx, exportModelToOnnx, type CheckpointOnnxExport, type OnnxExport } from "./export/export-onnx.js";
export { exportAutoencoderToOnnx, type AutoencoderOnnxExport } from "./export/export-autoencoder.js";
