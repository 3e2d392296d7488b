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

/** The recipe for distilling the exact teacher of `spec` (docs/RESULTS.md has the evidence for each choice). */
export function exactTeacherRecipe(spec: MixtureSpec): DistillRecipe {
  const dim = spec.means[0][0].length;
  const modes = spec.means.reduce((total, cls) => total + cls.length, 0);
  return {
    // 128 x 3 beat 64 x 2 on every family mixture's stage-one error (w = 0: 0.97 against 1.58
    // on family seed 1); 256 wide gained ~15% more at 3x the time, kept for data past the
    // family's range (more than 16 dimensions or 32 modes, e.g. gauss64d)
    hidden: dim > 16 || modes > 32 ? 256 : 128,
    depth: 3,
    // 1024 per batch for a third of the steps was worse than 256 for all of them (same cost)
    batchSize: 256,
    // steps were the strongest lever (18,000 steps gave 0.56 where 6,000 gave 0.82, seed 1);
    // 2e-3 beat 1e-3 at the same steps (0.66 against 0.82) and 4e-3 was no better than 2e-3
    stageOneSteps: 12_000,
    stageOneLr: 2e-3,
    startSteps: 64,
    // the last halvings are the hardest (the 1-step map most of all): twice the steps for N <= 2
    stepsPerHalving: 1000,
    longHalvingsBelow: 2,
    longHalvingFactor: 2,
    // 1e-3, not the 1e-4 of the released image settings: the 1-step error over the exact
    // teacher's DDIM-4 error at w = 0 was 0.48 at 1e-3 against 1.24 at 1e-4 (seed 5), 0.45
    // against 0.75 (seed 1); 3e-4 fell between
    stageTwoLr: 1e-3,
    // a stage below its bar against the exact teacher trains up to two more rounds
    maxRounds: 3,
    // w = 0 was every mixture's worst w after stage one; a fifth of each batch at the ends of
    // the range lowered it by 15-20% (seed 1: 0.97 to 0.82, seed 5: 1.04 to 0.85)
    wEdgeFraction: 0.2,
  };
}

/** Optimizer steps of the halving that trains the N-step student. */
export function stepsForHalving(recipe: DistillRecipe, N: number): number {
  return N <= recipe.longHalvingsBelow ? Math.round(recipe.stepsPerHalving * recipe.longHalvingFactor) : recipe.stepsPerHalving;
}
