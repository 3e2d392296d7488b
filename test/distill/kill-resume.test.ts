// A stage killed with SIGKILL (no chance to save) resumes from its last checkpoint with
// `--resume yes`, and ends with exactly the weights of an uninterrupted run (CPU, same seed).
// One round (--rounds 1): resuming across rounds is test/distill/rounds.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { disposeCheckpoint, loadCheckpoint } from "../../src/io/checkpoint.js";

const bin = fileURLToPath(new URL("../../../bin/fewstep.js", import.meta.url));
const args = (dir: string) => ["distill", "stage-one", "--mixture", "ring2d", "--steps", "3000", "--hidden", "16", "--depth", "1", "--batch-size", "16", "--checkpoint-every", "50", "--rounds", "1", "--out-dir", dir];
const env = { ...process.env, FEWSTEP_THREADS: "1" };

test("kill -9 during stage one, then --resume yes: the same final weights as an uninterrupted run", async () => {
  const [a, b] = [mkdtempSync(join(tmpdir(), "fewstep-kill-a-")), mkdtempSync(join(tmpdir(), "fewstep-kill-b-"))];
  try {
    assert.equal(spawnSync(process.execPath, [bin, ...args(a)], { env, encoding: "utf8" }).status, 0);

    const child = spawn(process.execPath, [bin, ...args(b)], { env, stdio: "ignore" });
    const file = join(b, "stage-one.safetensors");
    // wait for the first checkpoint, then kill without warning
    const started = Date.now();
    while (!existsSync(file) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const partial = loadCheckpoint(file);
    const killedAt = partial.metadata.step as number;
    disposeCheckpoint(partial);
    assert.ok(killedAt < 3000, `the run finished before it was killed (step ${killedAt})`);

    const resumed = spawnSync(process.execPath, [bin, ...args(b), "--resume", "yes"], { env, encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    const [ca, cb] = [loadCheckpoint(join(a, "stage-one.safetensors")), loadCheckpoint(file)];
    assert.equal(cb.metadata.step, 3000);
    for (const [name, value] of ca.params) assert.deepEqual(cb.params.get(name)!.toNumbers(), value.toNumbers(), `parameter ${name} (killed at step ${killedAt})`);
    disposeCheckpoint(ca);
    disposeCheckpoint(cb);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
