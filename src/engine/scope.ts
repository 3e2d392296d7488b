// Deterministic memory (DESIGN.md section 3): Node runs N-API finalizers only between event-loop
// turns, so a synchronous training loop would keep every temporary alive. Every tensor created
// inside a scope is disposed when the scope ends, except what the scope returns or keep()s.
// Scopes are synchronous on purpose: one scope per training step, `await` outside it.
import { FewstepError } from "./errors.js";
import { native } from "./native.js";

/** What a scope tracks: anything with an owner slot and a dispose(). Tensor implements it. */
export interface Tracked {
  owner: Scope | null;
  dispose(): void;
  /** Called when the tensor leaves every scope: it then reports its memory to V8's GC. */
  untracked(): void;
}

const stack: Scope[] = [];

/** A set of tensors disposed together. Usable with TS `using`: `using scope = new Scope();`. */
export class Scope implements Disposable {
  private readonly members = new Set<Tracked>();
  private closed = false;

  constructor() {
    stack.push(this);
  }

  /** @internal Called for each tensor created while this scope is the innermost one. */
  adopt(t: Tracked): void {
    t.owner = this;
    this.members.add(t);
  }

  /** @internal Takes t out of this scope without disposing it. */
  release(t: Tracked): void {
    this.members.delete(t);
    t.owner = null;
  }

  /** Disposes every tensor still owned by this scope and closes it. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    const index = stack.lastIndexOf(this);
    if (index >= 0) stack.splice(index, 1);
    for (const t of this.members) {
      t.owner = null;
      t.dispose();
    }
    this.members.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** @internal The scope new tensors join, if any. */
export function currentScope(): Scope | undefined {
  return stack[stack.length - 1];
}

/** Anything tidy() can return: tensors in arrays and plain objects are found and survive. */
export type TensorContainer = unknown;

function collect(value: unknown, into: Set<Tracked>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 8) return;
  if ("owner" in value && "dispose" in value && typeof (value as Tracked).dispose === "function") {
    into.add(value as Tracked);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, into, depth + 1);
  }
}

/**
 * Runs fn in a new scope: tensors it creates are disposed when it returns, except the tensors in
 * its result (found in arrays and plain objects), which move to the enclosing scope.
 * fn must be synchronous: a scope cannot span an `await`.
 *
 * @example
 * const loss = tidy(() => model(x).sub(y).square().mean()); // intermediates freed
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scope.dispose();
    throw error;
  }
  if (result instanceof Promise) {
    scope.dispose();
    throw new FewstepError("tidy() got an async function: scopes cannot span `await`; await outside tidy() and keep the scope synchronous");
  }
  const survivors = new Set<Tracked>();
  collect(result, survivors);
  for (const t of survivors) if (t.owner === scope) scope.release(t);
  scope.dispose();
  const parent = currentScope();
  for (const t of survivors) {
    if (t.owner !== null) continue;
    if (parent) parent.adopt(t);
    else t.untracked();
  }
  return result;
}

/** Takes t out of whatever scope owns it, so only an explicit dispose() frees it. */
export function keep<T extends Tracked>(t: T): T {
  if (t.owner) {
    t.owner.release(t);
    t.untracked();
  }
  return t;
}

/** Number of live native tensors (not disposed, not finalized). Tests assert it stays flat. */
export function liveTensors(): number {
  return native.liveCount();
}
