// Flags and JSON configs: one parser, one message per bad field, flags override the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { helpText, parseFlags, type CommandSpec } from "../../src/cli/flags.js";
import { trainTeacherSpec } from "../../src/cli/commands/train-teacher.js";
import { stageOneSpec, stageTwoSpec } from "../../src/cli/commands/distill.js";
import { quickstartSpec } from "../../src/cli/commands/quickstart.js";

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
    // Text from the file stays on one line (found by test/io/fuzz.test.ts): V8's excerpt of bad
    // JSON, an unknown field's name.
    writeFileSync(file, '{"steps":\n x}');
    assert.throws(() => parseFlags(["--config", file], spec), /^FewstepError: --config [^\n]*c\.json: Unexpected token 'x', "\{"steps":\\n x\}" is not valid JSON$/);
    writeFileSync(file, JSON.stringify({ "st\r\neps": 1 }));
    assert.throws(() => parseFlags(["--config", file], spec), /^FewstepError: --config [^\n]*unknown field "st\\r\\neps"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--help lists every flag with its default and choices", () => {
  const text = helpText(spec);
  for (const line of [/--steps .*steps \(default: 10\)/, /--sampler .*one of: ddim, ddpm; default: ddim/, /--config FILE/]) assert.match(text, line);
});

const switches: CommandSpec = {
  name: "switch-spec",
  summary: "s",
  usage: "u",
  flags: [
    { name: "steps", kind: "int", min: 1, default: 10, help: "steps" },
    { name: "resume", kind: "boolean", default: false, help: "continue the run" },
    { name: "baselines", kind: "boolean", default: true, help: "train the baselines" },
  ],
};

test("a boolean flag is a switch: alone it is true, and yes/no/true/false/1/0 after it still work", () => {
  assert.deepEqual(parseFlags([], switches), { steps: 10, resume: false, baselines: true });
  assert.equal(parseFlags(["--resume"], switches).resume, true);
  assert.equal(parseFlags(["--resume", "yes"], switches).resume, true);
  assert.equal(parseFlags(["--resume", "no"], switches).resume, false);
  for (const [word, value] of [["true", true], ["false", false], ["1", true], ["0", false]] as const) {
    assert.equal(parseFlags(["--resume", word], switches).resume, value, word);
    assert.equal(parseFlags([`--resume=${word}`], switches).resume, value, `=${word}`);
  }
  assert.equal(parseFlags(["--baselines", "no"], switches).baselines, false);
});

test("a switch does not take the next flag as its value", () => {
  assert.deepEqual(parseFlags(["--resume", "--steps", "3"], switches), { steps: 3, resume: true, baselines: true });
  assert.deepEqual(parseFlags(["--steps", "3", "--resume"], switches), { steps: 3, resume: true, baselines: true });
  assert.deepEqual(parseFlags(["--resume", "--baselines", "no"], switches), { steps: 10, resume: true, baselines: false });
});

test("a bad value after a switch is one error naming the flag and the accepted values", () => {
  const message = "--resume must be one of yes, no, true, false, 1, 0 (or nothing: --resume alone means yes), got 'maybe'";
  assert.throws(() => parseFlags(["--resume", "maybe"], switches), (e: Error) => e.message === message);
  assert.throws(() => parseFlags(["--resume=maybe"], switches), (e: Error) => e.message === message);
  const dir = mkdtempSync(join(tmpdir(), "fewstep-flags-"));
  try {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ resume: true, baselines: "no" }));
    assert.deepEqual(parseFlags(["--config", file], switches), { steps: 10, resume: true, baselines: false });
    writeFileSync(file, JSON.stringify({ resume: "maybe" }));
    assert.throws(() => parseFlags(["--config", file], switches), /field "resume": must be one of yes, no, true, false, 1, 0 .*got 'maybe'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--help shows a boolean flag as a switch, with how to turn off one that is on by default", () => {
  const text = helpText(switches);
  assert.match(text, /^ {2}--resume +continue the run \(switch; default: off\)$/m);
  assert.match(text, /^ {2}--baselines +train the baselines \(switch; default: on, --baselines no turns it off\)$/m);
  // the commands' own switches: no yes|no placeholder left
  for (const spec of [trainTeacherSpec, stageOneSpec, stageTwoSpec, quickstartSpec]) {
    const help = helpText(spec);
    assert.doesNotMatch(help, /yes\|no/, spec.name);
    assert.match(help, spec === quickstartSpec ? /--baselines +.*\(switch; default: on/ : /--resume +.*\(switch; default: off\)/, spec.name);
  }
});

const typed: CommandSpec = {
  name: "typed-spec",
  summary: "s",
  usage: "u",
  flags: [
    { name: "steps", kind: "int", min: 1, default: 10, help: "steps" },
    { name: "lr", kind: "number", help: "learning rate" },
    { name: "ws", kind: "numbers", help: "weights" },
    { name: "resume", kind: "boolean", default: false, help: "continue" },
    { name: "out-dir", kind: "path", help: "folder" },
  ],
};

test("a --config field must have its flag's JSON type: one error per field, naming it and the type", () => {
  const dir = mkdtempSync(join(tmpdir(), "fewstep-flags-"));
  try {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ steps: [2], lr: "0.1", ws: [1, "2"], resume: 1, "out-dir": 3 }));
    assert.throws(
      () => parseFlags(["--config", file], typed),
      (e: Error) =>
        [
          'field "steps": must be an integer (a JSON number), got the list [2]',
          'field "lr": must be a number (a JSON number), got the string "0.1"',
          'field "ws": must be a list of numbers or a comma-separated string, got the list [1,"2"]',
          'field "resume": must be true or false (or one of yes, no, true, false, 1, 0 as a string), got 1',
          'field "out-dir": must be a string, got 3',
        ].every((m) => e.message.includes(m)),
    );
    writeFileSync(file, JSON.stringify({ steps: "2" }));
    assert.throws(() => parseFlags(["--config", file], typed), /field "steps": must be an integer \(a JSON number\), got the string "2"/);
    writeFileSync(file, JSON.stringify({ steps: 2.5 }));
    assert.throws(() => parseFlags(["--config", file], typed), /field "steps": must be an integer in decimal digits, got '2.5'/);
    // the right types, including the two spellings of a list and of a switch, and a small lr
    writeFileSync(file, JSON.stringify({ steps: 2, lr: 1e-7, ws: "0,1.5", resume: "yes", "out-dir": "runs/x" }));
    assert.deepEqual(parseFlags(["--config", file], typed), { steps: 2, lr: 1e-7, ws: [0, 1.5], resume: true, "out-dir": "runs/x" });
    writeFileSync(file, JSON.stringify({ ws: [0, 4], resume: false }));
    assert.deepEqual(parseFlags(["--config", file], typed), { steps: 10, ws: [0, 4], resume: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a flag given twice on the command line is an error naming it; one flag still overrides the config", () => {
  assert.throws(() => parseFlags(["--steps", "2", "--steps", "3"], typed), (e: Error) => e.message === "typed-spec: --steps is given more than once; give it once");
  assert.throws(() => parseFlags(["--resume", "--resume=no"], typed), /--resume is given more than once/);
  assert.throws(() => parseFlags(["--config", "a.json", "--config=b.json"], typed), /--config is given more than once/);
  const dir = mkdtempSync(join(tmpdir(), "fewstep-flags-"));
  try {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ steps: 5 }));
    assert.equal(parseFlags(["--config", file, "--steps", "3"], typed).steps, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("numbers are decimal only: no hex, octal, binary, exponent ints, Infinity, NaN or empty", () => {
  for (const raw of ["0x10", "0o7", "0b1", "1e3", "", " ", "Infinity", "NaN", "1.0", "1_000", "9007199254740993"]) {
    assert.throws(() => parseFlags(["--steps", raw], typed), new RegExp(`--steps must be an integer in decimal digits, got '${raw}'`), JSON.stringify(raw));
  }
  for (const raw of ["0x10", "0b1", "Infinity", "-Infinity", "NaN", "", "1e", ".", "1e999", "+-1"]) {
    assert.throws(() => parseFlags([`--lr=${raw}`], typed), /--lr must be a decimal number \(1e-4 is fine\)/, JSON.stringify(raw));
  }
  assert.throws(() => parseFlags(["--ws", "1,0x2"], typed), /--ws must be a decimal number .*got '0x2'/);
  assert.equal(parseFlags(["--steps", "042"], typed).steps, 42);
  assert.equal(parseFlags(["--steps", "+7"], typed).steps, 7);
  for (const [raw, value] of [["1e-4", 1e-4], ["0.5", 0.5], [".5", 0.5], ["3.", 3], ["-2", -2], ["2E+1", 20]] as const) assert.equal(parseFlags(["--lr", raw], typed).lr, value, raw);
  assert.deepEqual(parseFlags(["--ws", "0,1e-2,4"], typed).ws, [0, 0.01, 4]);
});
