// The addon keeps its state per addon instance (napi_set_instance_data): worker_threads that load
// the engine each get their own TorchError class and live-tensor count, and the main thread's
// errors stay its own while workers run and after they exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { TorchError, liveTensors, ones, tidy } from "../../src/engine/index.js";
import { readFixture } from "../helpers/assert-close.js";
import type { WorkerReport } from "./engine-worker.js";

const expectedRandn42 = readFixture<{ cases: { generator_42: { randn: number[] } } }>("engine/torch_reference.json").cases.generator_42.randn.slice(0, 3);

interface Running {
  report: Promise<WorkerReport>;
  exited: Promise<number>;
  worker: Worker;
}

function start(): Running {
  const worker = new Worker(new URL("./engine-worker.js", import.meta.url));
  const failed = new Promise<never>((_, reject) => worker.once("error", reject));
  const report = Promise.race([new Promise<WorkerReport>((resolve) => worker.once("message", resolve)), failed]);
  const exited = new Promise<number>((resolve) => worker.once("exit", resolve));
  return { report, exited, worker };
}

function assertMainThreadTorchError(): void {
  tidy(() =>
    assert.throws(
      () => ones([2, 3]).matmul(ones([2, 3])),
      (error: unknown) => error instanceof TorchError && error.op === "matmul" && /cannot be multiplied \(2x3 and 2x3\)/.test(error.message),
    ),
  );
}

test("two workers load the engine and get TorchErrors of their own realm; the main thread keeps its own", async () => {
  const held = ones([5]); // a live tensor on the main thread, which the workers must not count
  const liveBefore = liveTensors();
  const workers = [start(), start()];
  const reports = await Promise.all(workers.map((w) => w.report));
  // Both workers have loaded the addon and handed it their TorchError: the main thread's errors
  // must still be made from the main thread's class.
  assertMainThreadTorchError();
  for (const report of reports) {
    assert.ok(report.caught !== null, "the worker's matmul did not throw");
    assert.equal(report.caught.instanceOfTorchError, true, "instanceof TorchError inside the worker");
    assert.equal(report.caught.name, "TorchError");
    assert.equal(report.caught.op, "matmul");
    assert.match(report.caught.torchMessage, /cannot be multiplied \(2x3 and 2x3\)/, "libtorch's own text");
    assert.equal(report.caught.message, `matmul: ${report.caught.torchMessage}`);
    assert.equal(report.liveAtStart, 0, "a worker counts only its own tensors");
    assert.ok(report.liveAtEnd >= 3, `the worker's undisposed tensors are counted (${report.liveAtEnd})`);
    assert.deepEqual(report.randn42, expectedRandn42.map((v) => Math.fround(v)), "a worker's generator draws torch's stream");
  }
  for (const w of workers) w.worker.postMessage("exit");
  assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0]);
  // The workers' environments are gone (their undisposed tensors finalized at teardown); the
  // main thread's error class and count are untouched.
  assertMainThreadTorchError();
  assert.equal(liveTensors(), liveBefore);
  held.dispose();
});
