// The README's main command: the engine demo must really learn (two spirals are not linearly separable).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runDemo } from "../../src/cli/demo.js";
import { main } from "../../src/cli/index.js";
import { liveTensors } from "../../src/engine/index.js";

test("demo: loss falls tenfold and accuracy passes 95%, leaving no live tensors", () => {
  const before = liveTensors();
  const { firstLoss, lastLoss, accuracy } = runDemo({ steps: 800, log: () => {} });
  assert.ok(lastLoss < firstLoss / 10, `loss ${firstLoss} -> ${lastLoss}`);
  assert.ok(accuracy > 0.95, `accuracy ${accuracy}`);
  assert.equal(liveTensors(), before);
});

test("CLI: unknown commands and flags fail with one clear line and exit code 1", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(String(line));
  try {
    assert.equal(await main(["nope"]), 1);
    assert.equal(await main(["demo", "--stepz", "3"]), 1);
    assert.equal(await main(["demo", "--steps", "-2"]), 1);
  } finally {
    console.error = original;
  }
  assert.match(errors[0], /unknown command 'nope'/);
  assert.match(errors[1], /unknown flag --stepz; known: --steps, --seed/);
  assert.match(errors[2], /--steps must be an integer >= 1, got '-2'/);
});
