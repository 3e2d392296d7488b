// The autoencoder's training objective: latent diffusion's LPIPSWithDiscriminator
// (ldm/modules/losses/contperceptual.py) without LPIPS, whose VGG weights cannot be had offline:
//   z ~ q(z | x) (the reparameterised posterior sample), x-rec = decode(z)
//   rec  = sum over pixels |x - x-rec|  (+ l2Weight * sum (x - x-rec)^2), averaged over the batch
//   kl   = sum over the latent 0.5 (mean^2 + var - 1 - logvar), averaged over the batch
//   loss = rec + klWeight * kl  (+ d_weight * g, g = -mean D(x-rec), once the discriminator starts)
// with d_weight = discWeight * ||grad_last rec|| / (||grad_last g|| + 1e-4), clamped to [0, 1e4]
// (the last layer: the decoder's conv_out weight), and the discriminator's hinge loss
//   0.5 (mean relu(1 - D(x)) + mean relu(1 + D(x-rec))).
// LDM's reductions (sums per example, mean over the batch) are kept so its KL weight 1e-6 keeps
// its meaning. LDM's learned log-variance of the reconstruction term starts at 0 and is not in its
// autoencoder's optimizer (configure_optimizers), so it stays 0 there: rec / exp(0) + 0 = rec.
import { tidy, type Generator, type Tensor } from "../engine/index.js";
import { klToStandardNormal, samplePosterior, type AutoencoderKL } from "../nn/autoencoder.js";

/** The loss of one batch and its two terms (per-example means, for logs). */
export interface AutoencoderLoss {
  loss: Tensor;
  rec: Tensor;
  kl: Tensor;
  /** The decoded posterior sample (in the graph), for a discriminator's term. */
  reconstructions: Tensor;
}

export interface AutoencoderLossOptions {
  /** Weight of the KL term. @default 1e-6 (LDM's kl-f4 / kl-f8 configs) */
  klWeight?: number;
  /** Weight of an added summed squared error. @default 0 */
  l2Weight?: number;
}

/** LDM's loss for images x [n, C, H, W] in [-1, 1]; the posterior sample draws from `generator`. */
export function autoencoderLoss(model: AutoencoderKL, x: Tensor, generator: Generator, o: AutoencoderLossOptions = {}): AutoencoderLoss {
  const klWeight = o.klWeight ?? 1e-6;
  const l2Weight = o.l2Weight ?? 0;
  return tidy(() => {
    const n = x.shape[0];
    const posterior = model.encode(x);
    const rec = model.decode(samplePosterior(posterior, generator));
    const diff = x.sub(rec);
    let recLoss = diff.abs().sum().div(n);
    if (l2Weight > 0) recLoss = recLoss.add(diff.square().sum().div(n).mul(l2Weight));
    const kl = klToStandardNormal(posterior).sum().div(n);
    return { loss: recLoss.add(kl.mul(klWeight)), rec: recLoss, kl, reconstructions: rec };
  });
}

/** The discriminator's hinge loss on logits of real images and of reconstructions. */
export function hingeLoss(logitsReal: Tensor, logitsFake: Tensor): Tensor {
  return tidy(() => logitsReal.rsub(1).relu().mean().add(logitsFake.add(1).relu().mean()).mul(0.5));
}

/**
 * LDM's adaptive weight of the generator term: ||d rec / d last|| / (||d g / d last|| + 1e-4),
 * clamped to [0, 1e4], a plain number (detached). Both gradients come from backward passes that
 * keep the graph; every gradient they leave in `params` is dropped again, so the caller's own
 * backward starts clean.
 */
export function adaptiveWeight(recLoss: Tensor, gLoss: Tensor, lastLayer: Tensor, params: Tensor[]): number {
  const normOf = (loss: Tensor) => {
    for (const p of params) p.zeroGrad();
    loss.backward(undefined, { retainGraph: true });
    const grad = lastLayer.grad;
    const norm = grad ? tidy(() => grad.norm().item()) : 0;
    grad?.dispose();
    return norm;
  };
  const nllNorm = normOf(recLoss);
  const gNorm = normOf(gLoss);
  for (const p of params) p.zeroGrad();
  return Math.min(Math.max(nllNorm / (gNorm + 1e-4), 0), 1e4);
}
