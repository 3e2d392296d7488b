// A family of random class-conditional Gaussian mixtures, for choosing and checking the distillation
// recipe on data it was not tuned on (docs/RESULTS.md, "The recipe on a family of mixtures").
// One seed gives one spec, the same in every JavaScript engine (portable/random.ts):
//   D ~ U{dims}, C ~ U{classes}, K_c ~ U{components} per class,
//   mu_ckd ~ N(0, 1)             (data of unit scale per coordinate, like normalised images)
//   s_ck   ~ log-U[widths]       (as many narrow modes as wide ones)
//   pi_ck  ~ U[0.2, 1], normalised within the class (no component negligible)
import { NormalRng } from "../portable/random.js";
import type { MixtureSpec } from "./mixture.js";

export interface MixtureFamily {
  /** Dimension range, inclusive. @default [2, 16] */
  dims?: [number, number];
  /** Classes, inclusive. @default [2, 8] */
  classes?: [number, number];
  /** Components per class, inclusive. @default [1, 4] */
  components?: [number, number];
  /** Component standard deviations, drawn log-uniformly. @default [0.05, 0.5] */
  widths?: [number, number];
}

export const DEFAULT_FAMILY: Required<MixtureFamily> = { dims: [2, 16], classes: [2, 8], components: [1, 4], widths: [0.05, 0.5] };

/** The mixture of `family` drawn with `seed` (a non-negative integer below 2^32). */
export function randomMixtureSpec(seed: number, family: MixtureFamily = {}): MixtureSpec {
  const f = { ...DEFAULT_FAMILY, ...family };
  for (const [name, [lo, hi]] of Object.entries(f)) {
    const integer = name !== "widths";
    if (!(lo <= hi) || !(lo > 0) || (integer && !(Number.isInteger(lo) && Number.isInteger(hi)))) {
      throw new RangeError(`mixture family: ${name} must be ${integer ? "positive integers" : "positive numbers"} [lo, hi] with lo <= hi, got [${lo}, ${hi}]`);
    }
  }
  const rng = new NormalRng(seed, 7); // a stream of its own, apart from the samplers' 0 and 1
  const int = ([lo, hi]: [number, number]) => lo + Math.floor(rng.nextUniform() * (hi - lo + 1));
  const dim = int(f.dims);
  const classes = int(f.classes);
  const means: number[][][] = [];
  const stds: number[][] = [];
  const weights: number[][] = [];
  const [wLo, wHi] = f.widths;
  for (let c = 0; c < classes; c++) {
    const k = int(f.components);
    means.push(Array.from({ length: k }, () => Array.from({ length: dim }, () => round(rng.nextNormal()))));
    stds.push(Array.from({ length: k }, () => round(wLo * Math.exp(rng.nextUniform() * Math.log(wHi / wLo)))));
    const raw = Array.from({ length: k }, () => 0.2 + 0.8 * rng.nextUniform());
    const total = raw.reduce((a, b) => a + b, 0);
    weights.push(raw.map((v) => round(v / total)));
  }
  return { means, stds, weights };
}

/** A one-line description: "D = 5, C = 3, K = 2/4/1, s 0.06-0.41". */
export function describeMixture(spec: MixtureSpec): string {
  const all = spec.stds.flat();
  return `D = ${spec.means[0][0].length}, C = ${spec.means.length}, K = ${spec.means.map((m) => m.length).join("/")}, s ${Math.min(...all).toFixed(2)}-${Math.max(...all).toFixed(2)}`;
}

// six significant digits: a spec written as JSON reads back to the same mixture
const round = (v: number) => Number(v.toPrecision(6));
