// Training to a measured bar (distill/pipeline.ts QualityBar): a stage whose check fails trains
// another round from its last weights (recorded as distill.round), stops at the first round that
// passes or at maxRounds, and on resume a finished round is scored again and the rounds go on.
// Also: sampleW's edge fraction puts that share of w exactly at the range's ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Generator } from "../../src/engine/index.js";
import { GaussianMixture, loadMixture } from "../../src/diffusion/mixture.js";
import { runStageOne, runStageTwo, stageOnePath, stageTwoPath, type QualityBar } from "../../src/distill/pipeline.js";
import { sampleW } from "../../src/distill/stage-one.js";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";

const exact = loadMixture("ring2d");
const data = new GaussianMixture(exact.spec, { dtype: "float32" });
const teacher = { kind: "exact" as const, model: exact, name: "ring2d" };
const range = { wMin: 0, wMax: 4 };
const small = { hidden: 16, depth: 1 };

function meta(path: string): { round: number; step: number; weights: number[] } {
  const c = loadCheckpoint(path);
  try {
    const distill = c.metadata.distill as { round?: number };
    return { round: distill.round ?? 0, step: c.metadata.step as number, weights: [...c.params.values()][0].toNumbers() };
  } finally {
    disposeCheckpoint(c);
  }
}

/** A bar that fails until `passFrom` rounds have been judged for a stage; records every call. */
function scriptedBar(passFrom: number, maxRounds: number): QualityBar & { calls: string[] } {
  const judged = new Map<string, number>();
  const calls: string[] = [];
  return {
    calls,
    maxRounds,
    check(path, steps) {
      const key = String(steps);
      const count = (judged.get(key) ?? 0) + 1;
      judged.set(key, count);
      calls.push(`${key}:${meta(path).round}`);
      return { met: count >= passFrom, summary: `check ${count}` };
    },
  };
}

test("a stage below its bar trains more rounds, each from the last weights, up to maxRounds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-rounds-"));
  try {
    const bar = scriptedBar(2, 3);
    await runStageOne({ teacher, dataset: data, outDir: dir, range, steps: 30, student: small, onProgress: null, quality: bar });
    assert.deepEqual(bar.calls, ["null:0", "null:1"]); // failed once, passed on the second round
    assert.equal(meta(stageOnePath(dir)).round, 1);
    const never = scriptedBar(Infinity, 2);
    await runStageTwo({ from: stageOnePath(dir), dataset: data, outDir: dir, range, startSteps: 4, targetSteps: 2, stepsPerHalving: 20, onProgress: null, quality: never });
    assert.deepEqual(never.calls, ["2:0", "2:1"]); // two rounds, then it stops below the bar
    assert.equal(meta(stageTwoPath(dir, 2)).round, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("resume: a finished round is judged again, the next round starts from its weights", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-rounds-"));
  try {
    await runStageOne({ teacher, dataset: data, outDir: dir, range, steps: 30, student: small, onProgress: null });
    const first = meta(stageOnePath(dir));
    assert.equal(first.round, 0);
    const bar = scriptedBar(2, 3);
    await runStageOne({ teacher, dataset: data, outDir: dir, range, steps: 30, student: small, onProgress: null, quality: bar, resume: true });
    assert.deepEqual(bar.calls, ["null:0", "null:1"]);
    const second = meta(stageOnePath(dir));
    assert.equal(second.round, 1);
    assert.equal(second.step, 30);
    assert.notDeepEqual(second.weights, first.weights);
    // the same run again with a bar round 1 meets: it is judged, and nothing more is trained
    const again = scriptedBar(1, 3);
    await runStageOne({ teacher, dataset: data, outDir: dir, range, steps: 30, student: small, onProgress: null, quality: again, resume: true });
    assert.deepEqual(again.calls, ["null:1"]); // met at once: nothing trained
    assert.deepEqual(meta(stageOnePath(dir)).weights, second.weights);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sampleW: the edge fraction lands exactly on wMin and wMax, half each; the rest stays uniform inside", () => {
  const n = 20_000;
  const w = sampleW(n, { wMin: 1, wMax: 3 }, new Generator(5), 0.2).toNumbers();
  const atMin = w.filter((v) => v === 1).length / n;
  const atMax = w.filter((v) => v === 3).length / n;
  // binomial sd of a share 0.1 at n = 20,000 is 0.002: 5 sd either side
  assert.ok(Math.abs(atMin - 0.1) < 0.011 && Math.abs(atMax - 0.1) < 0.011, `ends ${atMin}, ${atMax}`);
  const inside = w.filter((v) => v > 1 && v < 3);
  assert.equal(inside.length + Math.round((atMin + atMax) * n), n);
  const mean = inside.reduce((a, b) => a + b, 0) / inside.length;
  assert.ok(Math.abs(mean - 2) < 0.02, `inner mean ${mean}`);
  assert.deepEqual(sampleW(4, { wMin: 2, wMax: 2 }, new Generator(1), 0.5).toNumbers(), [2, 2, 2, 2]);
});
