// `fewstep grids` continues a run: its teacher is the one the run's stage-one checkpoint records
// (models/fashion-mnist: models/fashion-mnist/teacher.safetensors), --teacher may only confirm
// it, and a run that records none needs --teacher.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "bin/fewstep.js");
const fewstep = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: root, env: { ...process.env, FEWSTEP_THREADS: "1" } });
const run = "models/fashion-mnist";
const small = ["--ws", "0", "--teacher-steps", "1", "--student-steps", "1", "--seeds", "1"];

test("grids takes the run's recorded teacher and refuses another", () => {
  const out = mkdtempSync(join(tmpdir(), "fewstep-grids-"));
  try {
    const inherited = fewstep("grids", "--run", run, ...small, "--out-dir", out);
    assert.equal(inherited.status, 0, inherited.stderr);
    assert.ok(existsSync(join(out, "compare-w0.png")));
    const confirmed = fewstep("grids", "--run", run, "--teacher", join(root, run, "teacher.safetensors"), ...small, "--out-dir", out);
    assert.equal(confirmed.status, 0, confirmed.stderr); // the same file by another path
    const wrong = fewstep("grids", "--run", run, "--teacher", join(run, "stage-one.safetensors"), ...small, "--out-dir", out);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--teacher models\/fashion-mnist\/stage-one\.safetensors: the run models\/fashion-mnist was distilled from models\/fashion-mnist\/teacher\.safetensors; leave --teacher out/);
    // a folder of students without its stage one: the teacher must be named
    const bare = mkdtempSync(join(tmpdir(), "fewstep-grids-run-"));
    try {
      copyFileSync(join(root, run, "student-N1.safetensors"), join(bare, "student-N1.safetensors"));
      const missing = fewstep("grids", "--run", bare, ...small, "--out-dir", out);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /--teacher is required: .*stage-one\.safetensors is not there/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
