// Numeric comparison helpers for tests.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** Asserts |a - b| <= atol + rtol |b| elementwise, naming the first bad index. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { atol?: number; rtol?: number; what?: string } = {}): void {
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-6;
  assert.equal(actual.length, expected.length, `${opts.what ?? "values"}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      assert.fail(`${opts.what ?? "values"}[${i}]: got ${a}, expected ${b} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Reads a JSON fixture from test/fixtures/ (tests run from dist/test/<dir>/). */
export function readFixture<T>(relative: string): T {
  const url = new URL(`../../../test/fixtures/${relative}`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as T;
}
