// Optimizers (Adam, AdamW, SGD with momentum), global-norm gradient clipping and an EMA of
// parameters. Each step is one fused native call over all parameters; the update formulas are
// PyTorch's (see native/src/optim.cc), so a step matches torch.optim to float rounding.
import { noGrad } from "./autograd.js";
import { zerosLike } from "./creation.js";
import { ConfigError, ShapeError } from "./errors.js";
import { native } from "./native.js";
import { keep, tidy } from "./scope.js";
import { fromHandle, type Tensor } from "./tensor.js";

/** Saved optimizer state: tensors by name plus plain numbers (step count, hyperparameters). */
export interface OptimizerState {
  tensors: Record<string, Tensor>;
  scalars: Record<string, number>;
}

function makeStateLike(params: Tensor[]): Tensor[] {
  return noGrad(() => params.map((p) => keep(zerosLike(p))));
}

function checkPositive(name: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(`${name} must be ${allowZero ? "non-negative" : "positive"}, got ${value}`);
  }
}

/** Shared parts: the parameter list, the learning rate, grad zeroing, state save/load. */
export abstract class Optimizer {
  readonly params: Tensor[];
  /** Learning rate; set it each step for schedules (e.g. linear annealing to 0). */
  lr: number;
  /** Number of step() calls so far. */
  stepCount = 0;
  protected abstract stateLists(): Record<string, Tensor[]>;

  constructor(params: Tensor[], lr: number) {
    if (params.length === 0) throw new ConfigError("optimizer: got no parameters");
    checkPositive("lr", lr, true);
    this.params = params;
    this.lr = lr;
  }

  abstract step(): void;

  /** Drops every parameter's gradient before the next backward. */
  zeroGrad(): void {
    native.zeroGrad(this.params.map((p) => p.handle));
  }

  /** The state tensors (live references: save them, do not dispose them) and step count. */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    for (const [name, list] of Object.entries(this.stateLists())) list.forEach((t, i) => (tensors[`${name}.${i}`] = t));
    return { tensors, scalars: { step: this.stepCount, lr: this.lr } };
  }

  /** Copies a saved state in; shapes must match the parameters. */
  loadStateDict(state: OptimizerState): void {
    noGrad(() => {
      for (const [name, list] of Object.entries(this.stateLists())) {
        list.forEach((t, i) => {
          const saved = state.tensors[`${name}.${i}`];
          if (!saved) throw new ShapeError(`optimizer state: missing tensor ${name}.${i}`);
          const [a, b] = [saved.shape, t.shape];
          if (a.join() !== b.join()) throw new ShapeError(`optimizer state: ${name}.${i} has shape [${a}] but the parameter needs [${b}]`);
          t.copy_(saved);
        });
      }
    });
    this.stepCount = state.scalars.step ?? 0;
    if (state.scalars.lr !== undefined) this.lr = state.scalars.lr;
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const list of Object.values(this.stateLists())) for (const t of list) t.dispose();
  }
}

/** Adam/AdamW options. @default betas [0.9, 0.999], eps 1e-8, weightDecay 0 (Adam) or 0.01 (AdamW), PyTorch's */
export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba 2015); weight decay is added to the gradient (L2). */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  private readonly expAvg: Tensor[];
  private readonly expAvgSq: Tensor[];

  constructor(params: Tensor[], opts: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? defaultWeightDecay;
    for (const b of this.betas) if (!(b >= 0 && b < 1)) throw new ConfigError(`betas must be in [0, 1), got [${this.betas}]`);
    checkPositive("weightDecay", this.weightDecay, true);
    this.expAvg = makeStateLike(params);
    this.expAvgSq = makeStateLike(params);
  }

  protected stateLists(): Record<string, Tensor[]> {
    return { exp_avg: this.expAvg, exp_avg_sq: this.expAvgSq };
  }

  step(): void {
    this.stepCount += 1;
    native.adamStep(
      this.params.map((p) => p.handle),
      this.expAvg.map((t) => t.handle),
      this.expAvgSq.map((t) => t.handle),
      this.lr,
      this.betas[0],
      this.betas[1],
      this.eps,
      this.weightDecay,
      this.decoupled,
      this.stepCount,
    );
  }
}

/** AdamW (Loshchilov & Hutter 2019): weight decay applied to the parameters, not the gradient. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super(params, opts, 0.01);
  }
}

/** SGD options. @default momentum 0, dampening 0, weightDecay 0, nesterov false */
export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** SGD with optional (Nesterov) momentum, as torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers: Tensor[];

  constructor(params: Tensor[], opts: SgdOptions) {
    super(params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new ConfigError("nesterov needs momentum > 0 and dampening 0");
    this.buffers = this.momentum !== 0 ? makeStateLike(params) : [];
  }

  protected stateLists(): Record<string, Tensor[]> {
    return { momentum_buffer: this.buffers };
  }

  step(): void {
    native.sgdStep(
      this.params.map((p) => p.handle),
      this.buffers.map((t) => t.handle),
      this.lr,
      this.momentum,
      this.dampening,
      this.weightDecay,
      this.nesterov,
      this.stepCount === 0,
    );
    this.stepCount += 1;
  }
}

/**
 * Scales all gradients so their global 2-norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * coef = min(maxNorm / (norm + 1e-6), 1)). Returns the norm before clipping as a new 0-d tensor on
 * the parameters' device, in the current scope: the step never waits on the GPU, and the caller
 * reads it with `.item()` when it reports (or lets the scope free it). A 0-d zero when no
 * parameter has a gradient.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  checkPositive("maxNorm", maxNorm);
  return fromHandle(native.clipGradNorm(params.map((p) => p.handle), maxNorm));
}

/** Exponential moving average of parameters: average = decay * average + (1 - decay) * param. */
export class EMA {
  readonly decay: number;
  readonly params: Tensor[];
  /** The averages, one per parameter, same shapes. */
  readonly averages: Tensor[];

  constructor(params: Tensor[], decay: number) {
    if (!(decay >= 0 && decay < 1)) throw new ConfigError(`EMA decay must be in [0, 1), got ${decay}`);
    this.decay = decay;
    this.params = params;
    this.averages = tidy(() => noGrad(() => params.map((p) => p.detach().clone()))).map((t) => keep(t));
  }

  update(): void {
    native.emaUpdate(this.averages.map((t) => t.handle), this.params.map((p) => p.handle), this.decay);
  }

  /** Copies the averages into `targets` (e.g. an evaluation copy of the model). */
  copyTo(targets: Tensor[]): void {
    if (targets.length !== this.averages.length) throw new ShapeError(`EMA.copyTo: ${targets.length} targets for ${this.averages.length} averages`);
    noGrad(() => targets.forEach((t, i) => t.copy_(this.averages[i])));
  }

  dispose(): void {
    for (const t of this.averages) t.dispose();
  }
}
