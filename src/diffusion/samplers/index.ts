export { ddimStep, sampleDdim } from "./ddim.js";
export { sampleDdpm } from "./ddpm.js";
export { renoiseVariance, sampleStochastic } from "./stochastic.js";
export type { SampleOptions, StepCallback } from "./common.js";
