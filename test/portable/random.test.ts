// The portable normal generator: reproducible per (seed, stream), independent across streams,
// and standard normal (moments and tail frequencies against the exact values).
import { test } from "node:test";
import assert from "node:assert/strict";
import { NormalRng } from "../../src/portable/random.js";

test("same seed and stream, same numbers; other seeds or streams, other numbers", () => {
  const a = new NormalRng(42).normals(1000);
  assert.deepEqual(new NormalRng(42).normals(1000), a);
  assert.notDeepEqual(new NormalRng(43).normals(1000), a);
  assert.notDeepEqual(new NormalRng(42, 1).normals(1000), a);
  // filling in pieces continues the same sequence
  const rng = new NormalRng(42);
  const pieces = [...rng.normals(333), ...rng.normals(667)];
  assert.deepEqual(Float32Array.from(pieces), a);
});

test("moments and tails of 200000 draws match N(0, 1)", () => {
  const n = 200_000;
  const x = new NormalRng(3).normals(n);
  let sum = 0;
  let sq = 0;
  let cube = 0;
  let quad = 0;
  let beyond2 = 0;
  for (const v of x) {
    sum += v;
    sq += v * v;
    cube += v ** 3;
    quad += v ** 4;
    if (Math.abs(v) > 2) beyond2++;
  }
  const se = 1 / Math.sqrt(n);
  assert.ok(Math.abs(sum / n) < 5 * se, `mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1) < 5 * Math.sqrt(2) * se, `variance ${sq / n}`);
  assert.ok(Math.abs(cube / n) < 5 * Math.sqrt(15) * se, `third moment ${cube / n}`);
  assert.ok(Math.abs(quad / n - 3) < 5 * Math.sqrt(96) * se, `fourth moment ${quad / n}`);
  const p = 0.04550026389635842; // P(|X| > 2)
  assert.ok(Math.abs(beyond2 / n - p) < 5 * Math.sqrt((p * (1 - p)) / n), `P(|x| > 2) = ${beyond2 / n}`);
});

test("neighbouring seeds give uncorrelated streams", () => {
  const n = 50_000;
  const a = new NormalRng(0).normals(n);
  const b = new NormalRng(1).normals(n);
  let dot = 0;
  for (let i = 0; i < n; i++) dot += a[i] * b[i];
  assert.ok(Math.abs(dot / n) < 5 / Math.sqrt(n), `correlation ${dot / n}`);
});

test("bad seeds are refused", () => {
  assert.throws(() => new NormalRng(-1), /seed must be an integer/);
  assert.throws(() => new NormalRng(1.5), /seed must be an integer/);
});
