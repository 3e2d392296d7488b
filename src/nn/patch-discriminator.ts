// The PatchGAN discriminator latent diffusion's autoencoders train against (taming-transformers'
// NLayerDiscriminator, Isola et al. 2017): 4x4 convolutions, stride 2 in the first `layers`
// ones, LeakyReLU(0.2), BatchNorm after every conv but the first and the last, one logit per
// overlapping patch. Names follow its nn.Sequential (`main.0`, `main.2`, `main.3`, ...).
// BatchNorm always normalises with the batch's own statistics: the discriminator is only ever
// used while training (taming never switches it to eval mode), so no running statistics exist.
// Initialisation is taming's weights_init: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02),
// bias 0.
import { conv2d, randn, zeros, type Tensor } from "../engine/index.js";
import type { ParamStore } from "./param-store.js";

export interface PatchDiscriminatorConfig {
  /** Image channels. */
  channels: number;
  /** Width of the first conv (taming's ndf). @default 64 */
  width: number;
  /** Stride-2 convs (taming's n_layers). @default 3 */
  layers: number;
}

const KERNEL = 4;
const PADDING = 1;
const SLOPE = 0.2;
const BN_EPS = 1e-5;

interface Layer {
  weight: Tensor;
  bias: Tensor | null;
  stride: number;
  norm: { weight: Tensor; bias: Tensor } | null;
  activation: boolean;
}

export class PatchDiscriminator {
  readonly store: ParamStore;
  readonly config: PatchDiscriminatorConfig;
  private readonly layers: Layer[] = [];

  constructor(store: ParamStore, config: PatchDiscriminatorConfig) {
    this.store = store;
    this.config = config;
    const main = store.sub("main");
    const { channels, width, layers } = config;
    let index = 0;
    const conv = (cin: number, cout: number, stride: number, withBias: boolean, norm: boolean, activation: boolean) => {
      const at = main.sub(index);
      const weight = at.param("weight", (g) => randn([cout, cin, KERNEL, KERNEL], g).mul(0.02));
      const bias = withBias ? at.param("bias", () => zeros([cout])) : null;
      index += 1;
      let n: Layer["norm"] = null;
      if (norm) {
        const bn = main.sub(index);
        n = { weight: bn.param("weight", (g) => randn([cout], g).mul(0.02).add(1)), bias: bn.param("bias", () => zeros([cout])) };
        index += 1;
      }
      if (activation) index += 1; // the LeakyReLU's slot in the Sequential
      this.layers.push({ weight, bias, stride, norm: n, activation });
    };
    conv(channels, width, 2, true, false, true);
    let mult = 1;
    for (let n = 1; n < layers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      conv(width * prev, width * mult, 2, false, true, true);
    }
    const prev = mult;
    mult = Math.min(2 ** layers, 8);
    conv(width * prev, width * mult, 1, false, true, true);
    conv(width * mult, 1, 1, true, false, false);
  }

  parameters(): Tensor[] {
    return this.store.parameters();
  }

  named(): Map<string, Tensor> {
    return this.store.named();
  }

  /** Patch logits [n, 1, h', w'] of images [n, C, H, W]. */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) {
      h = conv2d(h, layer.weight, layer.bias, { stride: layer.stride, padding: PADDING });
      if (layer.norm) {
        const mean = h.mean([0, 2, 3], true);
        const variance = h.sub(mean).square().mean([0, 2, 3], true);
        h = h.sub(mean).mul(variance.add(BN_EPS).rsqrt()).mul(layer.norm.weight.reshape([1, -1, 1, 1])).add(layer.norm.bias.reshape([1, -1, 1, 1]));
      }
      if (layer.activation) h = h.maximum(h.mul(SLOPE));
    }
    return h;
  }

  dispose(): void {
    this.store.dispose();
  }
}
