// Linear algebra with torch.linalg's names (camelCase): for metrics that need matrix functions
// (FID's matrix square root) rather than layers.
import { ShapeError } from "./errors.js";
import { native } from "./native.js";
import { fromHandle, type Tensor } from "./tensor.js";

/**
 * Eigendecomposition of a symmetric (Hermitian) matrix, or a batch [..., n, n] of them, as
 * torch.linalg.eigh: `values` [..., n] in ascending order and `vectors` [..., n, n] whose columns
 * are the orthonormal eigenvectors, so x = vectors diag(values) vectors^T. Only the lower
 * triangle of x is read, so an x that is symmetric only up to rounding is taken as symmetric.
 * Use float64 where the small eigenvalues matter (float32 resolves them to ~1e-7 of the largest).
 */
export function linalgEigh(x: Tensor): { values: Tensor; vectors: Tensor } {
  const shape = x.shape;
  if (shape.length < 2 || shape[shape.length - 1] !== shape[shape.length - 2]) {
    throw new ShapeError(`linalgEigh: expected a square matrix [..., n, n], got [${shape.join(", ")}]`);
  }
  const [values, vectors] = native.linalgEigh(x.handle);
  return { values: fromHandle(values), vectors: fromHandle(vectors) };
}
