// From a network's raw output to x-hat (DESIGN.md section 4): networks (src/nn) output x, v or eps
// and take the noise level u; this wrapper owns the schedule's side, once for every network.
//   u     = (lambda(t) - lambda_min) / (lambda_max - lambda_min)   in [0, 1], 1 = clean
//   x-hat = out                                  ("x")
//         = alpha z - sigma v-hat                ("v", v = alpha eps - sigma x)
//         = (z - sigma eps-hat) / alpha          ("eps")
// u is the log-SNR, not t, because the posterior mean moves on a log-SNR scale, and near t = 0 the
// cosine schedule sweeps lambda from 20 to 5 within t < 0.05, which t-features would need very high
// frequencies to resolve.
import { tidy, type Tensor } from "../engine/index.js";
import type { DenoiserModel, Prediction } from "../nn/model.js";
import type { CondDenoiser, Denoiser } from "./denoiser.js";
import { alphaSigmaTensor, logSnrTensor, xFromEps, xFromV, LAMBDA_MAX, LAMBDA_MIN } from "./schedule.js";

/** The networks' noise input u [n] (float32) of times t [n]. */
export function noiseLevel(t: Tensor): Tensor {
  return tidy(() => logSnrTensor(t.to("float32")).sub(LAMBDA_MIN).div(LAMBDA_MAX - LAMBDA_MIN));
}

/** x-hat [n, ...] from a network output `out` of the given prediction at z_t, t. */
export function xHatFromOutput(prediction: Prediction, z: Tensor, out: Tensor, t: Tensor): Tensor {
  if (prediction === "x") return out;
  return tidy(() => {
    const { alpha, sigma } = alphaSigmaTensor(t.to(out.dtype));
    const column = (v: Tensor) => v.reshape([v.shape[0], ...out.shape.slice(1).map(() => 1)]);
    const zs = z.to(out.dtype);
    return prediction === "v" ? xFromV(zs, out, column(alpha), column(sigma)) : xFromEps(zs, out, column(alpha), column(sigma));
  });
}

/** The network as a conditional denoiser (z, t, cond) => x-hat, with the network's null condition. */
export function denoiserOf(model: DenoiserModel): CondDenoiser {
  const denoiser: Denoiser = (z, t, cond) => tidy(() => xHatFromOutput(model.prediction, z, model.forwardRaw(z, noiseLevel(t), cond), t));
  return { denoiser, nullCond: (cond) => model.nullCond(cond) };
}
