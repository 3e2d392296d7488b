// Grad mode: inference and optimizer updates run without recording an autograd graph.
import { native } from "./native.js";

/** Runs fn with gradient recording off (PyTorch's torch.no_grad), restoring the mode after. */
export function noGrad<T>(fn: () => T): T {
  const previous = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}
