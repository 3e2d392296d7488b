// Flags and JSON configs: one parser, one message per bad field, flags override the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { helpText, parseFlags, type CommandSpec } from "../../src/cli/flags.js";

const spec: CommandSpec = {
  name: "demo-spec",
  summary: "s",
  usage: "u",
  flags: [
    { name: "steps", kind: "int", min: 1, default: 10, help: "steps" },
    { name: "ws", kind: "numbers", min: 0, help: "weights" },
    { name: "sampler", kind: "string", choices: ["ddim", "ddpm"], default: "ddim", help: "sampler" },
  ],
};

test("a JSON config sets flags, the command line overrides it, defaults fill the rest", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-flags-"));
  try {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ steps: 50, ws: [0, 2] }));
    assert.deepEqual(parseFlags(["--config", file], spec), { steps: 50, ws: [0, 2], sampler: "ddim" });
    assert.deepEqual(parseFlags(["--config", file, "--steps", "7"], spec), { steps: 7, ws: [0, 2], sampler: "ddim" });
    writeFileSync(file, JSON.stringify({ steps: -1, sampler: "euler", bogus: 1 }));
    assert.throws(() => parseFlags(["--config", file], spec), /--config .*c\.json: field "steps": must be >= 1, got -1; field "sampler": must be one of ddim, ddpm, got 'euler'; unknown field "bogus"/);
    writeFileSync(file, "[1, 2]");
    assert.throws(() => parseFlags(["--config", file], spec), /must hold a JSON object of flags/);
    assert.throws(() => parseFlags(["--config", join(dir, "none.json")], spec), /--config .*none\.json: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--help lists every flag with its default and choices", () => {
  const text = helpText(spec);
  for (const line of [/--steps .*steps \(default: 10\)/, /--sampler .*one of: ddim, ddpm; default: ddim/, /--config FILE/]) assert.match(text, line);
});
