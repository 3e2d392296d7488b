// The body of a worker_thread for worker.test.ts (not a test file itself): loads the engine in
// the worker, provokes a libtorch error and reports what it caught, leaves tensors undisposed for
// the worker's teardown to finalize, and exits when the main thread says so.
import { isMainThread, parentPort } from "node:worker_threads";

/** What the worker sends back. */
export interface WorkerReport {
  caught: { instanceOfTorchError: boolean; name: string; op: string; message: string; torchMessage: string } | null;
  liveAtStart: number;
  liveAtEnd: number;
  randn42: number[];
}

// Imported by a test runner on the main thread it does nothing (and loads no libtorch).
if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const { Generator, TorchError, liveTensors, ones, randn } = await import("../../src/engine/index.js");
  const liveAtStart = liveTensors();
  let caught: WorkerReport["caught"] = null;
  try {
    ones([2, 3]).matmul(ones([2, 3]));
  } catch (error) {
    const e = error as InstanceType<typeof TorchError>;
    caught = { instanceOfTorchError: error instanceof TorchError, name: e.name, op: e.op, message: e.message, torchMessage: e.torchMessage };
  }
  const randn42 = randn([3], new Generator(42)).toNumbers();
  const report: WorkerReport = { caught, liveAtStart, liveAtEnd: liveTensors(), randn42 };
  port.postMessage(report);
  port.once("message", () => port.close());
}
