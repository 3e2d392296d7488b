// The autoencoder's training objective: latent diffusion's LPIPSWithDiscriminator generator loss
// (taming/modules/losses, ldm/modules/losses/contperceptual.py) without what cannot be had
// offline (LPIPS needs VGG weights; the PatchGAN discriminator is not built yet):
//   z ~ q(z | x) (the reparameterised posterior sample), x-rec = decode(z)
//   rec  = sum over pixels |x - x-rec|  (+ l2Weight * sum (x - x-rec)^2), averaged over the batch
//   kl   = sum over the latent 0.5 (mean^2 + var - 1 - logvar), averaged over the batch
//   loss = rec + klWeight * kl
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
    return { loss: recLoss.add(kl.mul(klWeight)), rec: recLoss, kl };
  });
}
