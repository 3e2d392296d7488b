// The two benchmark networks on fewstep, defined exactly as in peer_torch.py and peer-tfjs.ts:
// (a) a small U-Net-like conv net (3 levels, 32-64-128 channels, GroupNorm(8) + SiLU),
// (b) a 4-layer MLP of width 256. A training step = zero grads, forward, MSE, backward, AdamW.
import { AdamW, interpolateNearest, tidy, type Tensor } from "../../src/engine/index.js";
import { Conv2d, GroupNorm, Linear, ParamStore } from "../../src/nn/index.js";

/** h = conv(silu(GN(x))); h = conv(silu(GN(h))); x + h */
class ResBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  constructor(store: ParamStore, channels: number) {
    this.norm1 = new GroupNorm(store.sub("norm1"), 8, channels);
    this.conv1 = new Conv2d(store.sub("conv1"), channels, channels, 3, { padding: 1 });
    this.norm2 = new GroupNorm(store.sub("norm2"), 8, channels);
    this.conv2 = new Conv2d(store.sub("conv2"), channels, channels, 3, { padding: 1 });
  }
  forward(x: Tensor): Tensor {
    const h = this.conv1.forward(this.norm1.forward(x).silu());
    return x.add(this.conv2.forward(this.norm2.forward(h).silu()));
  }
}

export class SmallUNet {
  readonly store: ParamStore;
  private readonly convIn: Conv2d;
  private readonly block1: ResBlock;
  private readonly down1: Conv2d;
  private readonly block2: ResBlock;
  private readonly down2: Conv2d;
  private readonly mid: ResBlock;
  private readonly up2: Conv2d;
  private readonly block2Up: ResBlock;
  private readonly up1: Conv2d;
  private readonly block1Up: ResBlock;
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(seed = 0, channels: [number, number, number] = [32, 64, 128], inChannels = 3) {
    const s = (this.store = new ParamStore({ seed }));
    const [c1, c2, c3] = channels;
    this.convIn = new Conv2d(s.sub("conv_in"), inChannels, c1, 3, { padding: 1 });
    this.block1 = new ResBlock(s.sub("block1"), c1);
    this.down1 = new Conv2d(s.sub("down1"), c1, c2, 3, { stride: 2, padding: 1 });
    this.block2 = new ResBlock(s.sub("block2"), c2);
    this.down2 = new Conv2d(s.sub("down2"), c2, c3, 3, { stride: 2, padding: 1 });
    this.mid = new ResBlock(s.sub("mid"), c3);
    this.up2 = new Conv2d(s.sub("up2"), c3, c2, 3, { padding: 1 });
    this.block2Up = new ResBlock(s.sub("block2_up"), c2);
    this.up1 = new Conv2d(s.sub("up1"), c2, c1, 3, { padding: 1 });
    this.block1Up = new ResBlock(s.sub("block1_up"), c1);
    this.normOut = new GroupNorm(s.sub("norm_out"), 8, c1);
    this.convOut = new Conv2d(s.sub("conv_out"), c1, inChannels, 3, { padding: 1 });
  }

  forward(x: Tensor): Tensor {
    const skip1 = this.block1.forward(this.convIn.forward(x));
    const skip2 = this.block2.forward(this.down1.forward(skip1));
    let h = this.mid.forward(this.down2.forward(skip2));
    h = this.block2Up.forward(this.up2.forward(interpolateNearest(h, { scaleFactor: 2 })).add(skip2));
    h = this.block1Up.forward(this.up1.forward(interpolateNearest(h, { scaleFactor: 2 })).add(skip1));
    return this.convOut.forward(this.normOut.forward(h).silu());
  }
}

export class Mlp {
  readonly store: ParamStore;
  private readonly layers: Linear[];
  constructor(seed = 0, dims = [64, 256, 256, 256, 64]) {
    this.store = new ParamStore({ seed });
    this.layers = dims.slice(1).map((d, i) => new Linear(this.store.sub(i), dims[i], d));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i < this.layers.length - 1) h = h.silu();
    });
    return h;
  }
}

/** One training step in its own scope; returns the loss value. */
export function trainStep(model: { forward(x: Tensor): Tensor }, optimizer: AdamW, x: Tensor, y: Tensor): number {
  return tidy(() => {
    optimizer.zeroGrad();
    const loss = model.forward(x).sub(y).square().mean();
    loss.backward();
    optimizer.step();
    return loss.item();
  });
}
