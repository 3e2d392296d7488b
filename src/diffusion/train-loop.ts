// The optimisation loop every trainer shares (teacher training, both distillation stages): one
// scope per step (zero grads, loss, backward, clip, lr for this step, optimizer step, EMA),
// the loss summed on the device and read once per report (a sync), progress with it/s and ETA,
// an event-loop turn per report so Ctrl-C can abort `signal`, and checkpoints every K steps and
// at the end. What a checkpoint holds and how a run resumes is the caller's (`save`, `startStep`).
import { FewstepError, clipGradNorm, keep, noGrad, tidy, zeros, type EMA, type Generator, type Optimizer, type Tensor } from "../engine/index.js";

/** One progress report. */
export interface TrainProgress {
  step: number;
  steps: number;
  /** Mean loss since the last report. */
  loss: number;
  itPerSec: number;
  etaSec: number;
}

export interface TrainLoopOptions {
  /** Names this trainer in errors, e.g. "trainTeacher". */
  name: string;
  params: Tensor[];
  optimizer: Optimizer;
  generator: Generator;
  /** The loss of one batch, computed inside the step's scope. */
  loss: (generator: Generator, step: number) => Tensor;
  /**
   * Called between backward and clipping, inside the step's scope, with the parameters: where a
   * data-parallel run averages the gradients across ranks. @default none
   */
  afterBackward?: (params: Tensor[]) => void;
  /** Total steps; the loop runs from startStep + 1 to steps. */
  steps: number;
  /** Steps already done (from a resumed checkpoint). */
  startStep: number;
  /** Learning rate of the 1-based step. */
  lrAt: (step: number) => number;
  gradClip: number;
  ema?: EMA;
  progressEvery: number;
  onProgress?: ((p: TrainProgress) => void) | null;
  signal?: AbortSignal;
  /** Writes a checkpoint at the given step; none when absent. */
  save?: (step: number) => void;
  /** Called after each step (outside its scope), e.g. for sample grids every K steps. */
  afterStep?: (step: number) => void;
  /** Steps between checkpoints (0: only at the end or on abort). */
  checkpointEvery: number;
  /** Whether startStep came from a checkpoint, which then needs no rewriting at the same step. */
  resumed: boolean;
}

export async function trainLoop(o: TrainLoopOptions): Promise<{ step: number; stopped: boolean; loss: number }> {
  const lossSum = keep(zeros([], { device: o.params[0].device }));
  let step = o.startStep;
  let windowSteps = 0;
  let windowStart = performance.now();
  let lastLoss = NaN;
  let stopped = false;
  let savedAt = o.resumed ? step : -1;
  try {
    while (step < o.steps) {
      if (o.signal?.aborted) {
        stopped = true;
        break;
      }
      step += 1;
      tidy(() => {
        o.optimizer.zeroGrad();
        const loss = o.loss(o.generator, step);
        loss.backward();
        o.afterBackward?.(o.params);
        clipGradNorm(o.params, o.gradClip); // its norm stays on the device: no sync
        o.optimizer.lr = o.lrAt(step);
        o.optimizer.step();
        o.ema?.update();
        // Accumulated on the device; read once per report, so steps never wait on a sync.
        noGrad(() => lossSum.add_(loss.detach()));
      });
      windowSteps += 1;
      if (step % o.progressEvery === 0 || step === o.steps) {
        lastLoss = lossSum.item() / windowSteps;
        lossSum.zero_();
        if (!Number.isFinite(lastLoss)) {
          throw new FewstepError(`${o.name}: the loss became ${lastLoss} by step ${step}; try a lower lr (now ${o.lrAt(step)}) or a smaller gradClip (now ${o.gradClip})`);
        }
        const itPerSec = (windowSteps * 1000) / Math.max(performance.now() - windowStart, 1e-3);
        o.onProgress?.({ step, steps: o.steps, loss: lastLoss, itPerSec, etaSec: (o.steps - step) / itPerSec });
        windowSteps = 0;
        windowStart = performance.now();
        // A turn of the event loop: lets a SIGINT handler abort `signal`, and finalizers run.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      o.afterStep?.(step);
      if (o.save && o.checkpointEvery > 0 && step % o.checkpointEvery === 0) {
        o.save(step);
        savedAt = step;
      }
    }
    if (o.save && savedAt !== step) o.save(step);
  } finally {
    lossSum.dispose();
  }
  return { step, stopped, loss: lastLoss };
}

// ---- progress ---------------------------------------------------------------------------------

function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return "?";
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress callback writing to `stream`: on a TTY one bar redrawn in place (`\r`), finished
 * with a newline at the last step; otherwise one plain line per report (for log files and CI).
 * @param stream @default process.stderr
 * @param label what is training @default "teacher"
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr, label = "teacher"): (p: TrainProgress) => void {
  return (p) => {
    const stats = `step ${p.step}/${p.steps}  loss ${p.loss.toPrecision(4)}  ${p.itPerSec.toFixed(p.itPerSec < 10 ? 1 : 0)} it/s  ETA ${formatDuration(p.etaSec)}`;
    if (stream.isTTY) {
      const width = 24;
      const filled = Math.round((width * p.step) / p.steps);
      stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${stats}\x1b[K${p.step === p.steps ? "\n" : ""}`);
    } else {
      stream.write(`${label} ${stats}\n`);
    }
  };
}
