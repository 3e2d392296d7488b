// bench/stochastic-limit: the paper's stochastic sampler on the exact teacher against its own limit.
// For each mixture and w, the sliced W1 (128 projections, n pairs) of:
//   - the noise floor of each limit: two independent draws of DDIM-1024, and of stochastic-1024;
//   - DDIM-1024 against the stochastic-1024 limit (the two limits differ with guidance);
//   - stochastic-N against the stochastic-1024 limit, for each N.
// Scored samples use seed --seed, the stochastic limit seed + 1, the floors' second draw seed + 2
// (each with its own noise and labels; src/eval/ddim-error.ts).
//   node dist/bench/stochastic-limit/run.js [--mixtures ring2d,gauss64d] [--ws 0,1,2,4] [--steps 4,16,64,256] [--n 2000] [--seed 0]
// Prints one Markdown table per mixture.
import { loadMixture } from "../../src/diffusion/mixture.js";
import { SLICED_PROJECTIONS, ddimErrorTable, noiseFloor, referenceSamples } from "../../src/eval/ddim-error.js";
import { benchArgs } from "../bench-args.js";

const args = benchArgs("bench/stochastic-limit", ["mixtures", "ws", "steps", "n", "seed"]);
const list = (name: string, fallback: string) => (args.text(name) ?? fallback).split(",");
const mixtures = list("mixtures", "ring2d,gauss64d");
const ws = list("ws", "0,1,2,4").map(Number);
const steps = list("steps", "4,16,64,256").map(Number);
const n = args.int("n", 2000, 10);
const seed = args.int("seed", 0, 0);

for (const name of mixtures) {
  const t0 = performance.now();
  const exact = loadMixture(name);
  const ddimReferences = referenceSamples(exact, ws, { n, seed });
  const limit = referenceSamples(exact, ws, { n, seed, referenceSampler: "stochastic" });
  const floorDdim = noiseFloor(exact, ws, { n, seed, references: ddimReferences });
  const floorStochastic = noiseFloor(exact, ws, { n, seed, referenceSampler: "stochastic", references: limit });
  const common = { ws, n, seed, guidance: "teacher" as const, references: ddimReferences, referenceSampler: "stochastic" as const, limitReferences: limit };
  const ddim = ddimErrorTable(exact, exact, { ...common, steps: [1024], sampler: "ddim" });
  const stochastic = ddimErrorTable(exact, exact, { ...common, steps, sampler: "stochastic" });
  const fmt = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(4));
  const row = (label: string, value: (w: number) => number | undefined) => `| ${label} | ${ws.map((w) => fmt(value(w))).join(" | ")} |`;
  console.log(`\n${name}, n = ${n}, seed ${seed}: sliced W1 (${SLICED_PROJECTIONS} projections)\n`);
  console.log(
    [
      `| | ${ws.map((w) => `w = ${w}`).join(" | ")} |`,
      `| --- | ${ws.map(() => "---").join(" | ")} |`,
      row("noise floor, DDIM-1024 limit", (w) => floorDdim.get(w)),
      row("noise floor, stochastic-1024 limit", (w) => floorStochastic.get(w)),
      row("DDIM-1024 vs stochastic-1024", (w) => ddim.find((c) => c.w === w)?.slicedW1),
      ...steps.map((s) => row(`stochastic-${s} vs stochastic-1024`, (w) => stochastic.find((c) => c.w === w && c.steps === s)?.slicedW1)),
    ].join("\n"),
  );
  console.error(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const t of [...ddimReferences.values(), ...limit.values()]) t.dispose();
  exact.dispose();
}
