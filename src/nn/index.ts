export { ParamStore } from "./param-store.js";
export { Linear, Conv2d, GroupNorm, uniform } from "./layers.js";
export { UNet, UNET_DEFAULTS, type UNetConfig } from "./unet.js";
export { ImageClassifier, CLASSIFIER_DEFAULTS, resolveClassifierConfig, type ClassifierConfig } from "./classifier.js";
export { AutoencoderKL, AUTOENCODER_DEFAULTS, resolveAutoencoderConfig, type AutoencoderKLConfig } from "./autoencoder.js";
