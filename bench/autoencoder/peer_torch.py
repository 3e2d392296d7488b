#!/usr/bin/env python3
"""PyTorch peer of bench/autoencoder: one training step of fewstep's trainAutoencoder in PyTorch.

The network is not written here: it is test/fixtures/nn/make_autoencoder_fixture.py's module tree
(diffusers' AutoencoderKL re-written in plain PyTorch under diffusers' names, the reference
fewstep's src/nn/autoencoder.ts is tested against), imported, so the bench and the test fixture
cannot drift apart. run.ts writes the weights by name; this script loads them (strict: every name
and shape must match) and reports its names and shapes, which run.ts compares with fewstep's.

What it times (CPU, one JSON line on stdout; progress on stderr):

  train    one step of src/latent/train-autoencoder.ts through src/diffusion/train-loop.ts:
           zero grads (set to None); a batch of B images drawn with replacement from the data
           run.ts wrote; posterior N(mean, exp(logvar)) with logvar clamped to [-30, 20];
           z = mean + exp(logvar / 2) eps; x-rec = decode(z); loss = sum|x - x-rec| / B
           + 1e-6 * sum KL / B (src/latent/autoencoder-loss.ts); the rec and KL terms added to
           running sums under no_grad (the trainer's progress sums); backward; global grad-norm
           clip 1; AdamW (lr 5e-4, PyTorch's and fewstep's default decay 0.01); EMA 0.999; the loss
           added to the loop's running sum. A step is timed from zero_grad to that sum.

  --check DIR: instead of timing, loads DIR/weights.safetensors and DIR/inputs.safetensors
  (x, eps and fewstep's outputs on them: posterior mean and logvar, decoded sample, rec, KL,
  loss, and every parameter's gradient under `grad.<name>`), recomputes each in PyTorch and
  reports the largest differences.

  Every mode also reports the multiply-accumulates of one forward of one image (encode + decode),
  counted by forward hooks on every Conv2d and Linear (output elements x in-channels / groups x
  kernel area, or x in-features) and on the mid-block attention's two batched products
  (2 x tokens^2 x dim): run.ts counts the same from the config and must get the same number.

  /usr/bin/python3 bench/autoencoder/peer_torch.py --weights FILE --data FILE [--threads 1]
      [--warmup 3] [--steps 10] [--batch 32] [--check DIR]
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _import(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# The network: diffusers' AutoencoderKL as the fixture writes it (imported, not copied).
ref = _import("make_autoencoder_fixture", os.path.join(REPO, "test", "fixtures", "nn", "make_autoencoder_fixture.py"))
# bench/unet's peer for its safetensors reader and the BLAS probes (the same machine info).
unet_peer = _import("unet_peer_torch", os.path.join(REPO, "bench", "unet", "peer_torch.py"))

# The benchmarked config: AUTOENCODER_DEFAULTS of src/nn/autoencoder.ts on 1x32x32 images (run.ts
# checks that the weights it writes fit this module exactly).
CONFIG = dict(in_channels=1, out_channels=1, block_out_channels=[32, 64, 64], layers_per_block=1,
              latent_channels=4, norm_num_groups=8)
IMAGE = (1, 32, 32)
LR = 5e-4
WEIGHT_DECAY = 0.01  # AdamW's default on both sides; trainAutoencoder does not set it
GRAD_CLIP = 1.0
EMA_DECAY = 0.999
KL_WEIGHT = 1e-6


def build() -> nn.Module:
    return ref.AutoencoderKL(**CONFIG)


def load(model: nn.Module, path: str) -> None:
    model.load_state_dict(unet_peer.load_safetensors(path), strict=True)  # raises on any missing, extra or misshapen name


# ---------------------------------------------------------------- the loss (src/latent/autoencoder-loss.ts)

def autoencoder_loss(model: nn.Module, x: torch.Tensor, eps: torch.Tensor):
    n = x.shape[0]
    mean, logvar = model.encode(x)  # logvar clamped to [-30, 20]
    rec = model.decode(mean.add(logvar.mul(0.5).exp().mul(eps)))
    rec_loss = x.sub(rec).abs().sum().div(n)
    kl = mean.square().add(logvar.exp()).sub(1).sub(logvar).sum([1, 2, 3]).mul(0.5).sum().div(n)
    return rec_loss.add(kl.mul(KL_WEIGHT)), rec_loss, kl, mean, logvar, rec


# ---------------------------------------------------------------- the training step

class Trainer:
    def __init__(self, weights: str, data: torch.Tensor, batch: int) -> None:
        self.model = build().train()  # no dropout in this net (p = 0), so train and eval agree
        load(self.model, weights)
        self.params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=LR, weight_decay=WEIGHT_DECAY)
        with torch.no_grad():
            self.ema = [p.detach().clone() for p in self.params]
        self.data = data
        self.batch = batch
        self.sums = {"rec": torch.zeros(()), "kl": torch.zeros(()), "loss": torch.zeros(())}

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        index = torch.randint(0, self.data.shape[0], (self.batch,))
        x = self.data.index_select(0, index)
        eps = torch.randn(self.batch, CONFIG["latent_channels"], IMAGE[1] // 4, IMAGE[2] // 4)
        loss, rec, kl, *_ = autoencoder_loss(self.model, x, eps)
        with torch.no_grad():
            self.sums["rec"].add_(rec.detach())
            self.sums["kl"].add_(kl.detach())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, GRAD_CLIP)
        for group in self.opt.param_groups:
            group["lr"] = LR
        self.opt.step()
        with torch.no_grad():
            torch._foreach_mul_(self.ema, EMA_DECAY)
            torch._foreach_add_(self.ema, self.params, alpha=1 - EMA_DECAY)
            self.sums["loss"].add_(loss.detach())


# ---------------------------------------------------------------- identity check

def run_check(d: str) -> dict:
    model = build()
    load(model, os.path.join(d, "weights.safetensors"))
    inp = unet_peer.load_safetensors(os.path.join(d, "inputs.safetensors"))
    x, eps = inp["x"], inp["eps"]
    loss, rec, kl, mean, logvar, decoded = autoencoder_loss(model, x, eps)
    loss.backward()
    ours = {"mean": mean, "logvar": logvar, "decoded": decoded, "rec": rec.reshape(1), "kl": kl.reshape(1),
            "loss": loss.reshape(1)}
    diffs = {}
    for k, v in ours.items():
        ref_value = inp[f"out_{k}"]
        diffs[k] = {"max_abs_diff": float((v.detach() - ref_value).abs().max()),
                    "max_abs_ref": float(ref_value.abs().max())}
    # Gradients: the largest difference over every parameter, relative to that parameter's largest
    # gradient (the tensors' scales differ by orders of magnitude), but to no less than 1e-4 of the
    # largest gradient of all: the keys' biases have a zero gradient in exact arithmetic (softmax
    # ignores a shift common to all keys), so theirs is rounding noise on both sides.
    grads = {name: (p.grad, inp[f"grad.{name}"]) for name, p in model.named_parameters()}
    floor = 1e-4 * max(float(g_ref.abs().max()) for _, g_ref in grads.values())
    worst = {"max_abs_diff": 0.0, "max_abs_ref": 0.0, "max_rel": 0.0, "name": ""}
    for name, (g, g_ref) in grads.items():
        diff = float((g - g_ref).abs().max())
        scale = float(g_ref.abs().max())
        rel = diff / max(scale, floor)
        if rel >= worst["max_rel"]:
            worst = {"max_abs_diff": diff, "max_abs_ref": scale, "max_rel": rel, "name": name}
    diffs["grads"] = worst
    return diffs


# ---------------------------------------------------------------- FLOPs of one forward

def forward_macs() -> dict:
    """Multiply-accumulates of encode + decode of one image, by layer kind."""
    model = build().eval()
    macs = {"conv": 0, "linear": 0, "attention_matmul": 0}

    def conv_hook(m: nn.Conv2d, _inp, out):
        kh, kw = m.kernel_size
        macs["conv"] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out):
        macs["linear"] += out.numel() * m.in_features

    def attention_hook(_m, inp, _out):
        _, c, h, w = inp[0].shape
        macs["attention_matmul"] += 2 * (h * w) ** 2 * c  # q k^T and probs v, one head of width c

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
        elif isinstance(m, ref.Attention):
            m.register_forward_hook(attention_hook)
    with torch.no_grad():
        mean, _ = model.encode(torch.zeros(1, *IMAGE))
        model.decode(mean)
    return macs


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--batch", type=int, default=32, help="training batch")
    ap.add_argument("--weights", help="initial weights (safetensors, diffusers names) for the timed trainer")
    ap.add_argument("--data", help="images [count, 1, 32, 32] under the name 'x' (safetensors)")
    ap.add_argument("--check", metavar="DIR", help="compare with fewstep's outputs in DIR instead of timing")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    ob = unet_peer.openblas_handle(unet_peer.loaded_libs(("blas",)))
    openblas_threads = None
    if ob is not None:
        ob.openblas_set_num_threads(ctypes.c_int(args.threads))
        ob.openblas_get_num_threads.restype = ctypes.c_int
        openblas_threads = int(ob.openblas_get_num_threads())

    shapes = unet_peer.named_shapes(build())
    out: dict = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "openblas_threads": openblas_threads,
        "env": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS")},
        "params": {"count": sum(math.prod(s) for _, s in shapes), "named": shapes},
        "forward_macs": forward_macs(),
    }
    if args.check:
        out["check"] = run_check(args.check)
        print(json.dumps(out), flush=True)
        return
    if not args.weights or not args.data:
        raise SystemExit("[peer_torch] timing needs --weights and --data (run.ts passes them)")

    data = unet_peer.load_safetensors(args.data)["x"]
    trainer = Trainer(args.weights, data, args.batch)
    for _ in range(args.warmup):
        trainer.step()
    train_ms: list[float] = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        trainer.step()
        train_ms.append((time.perf_counter() - t0) * 1e3)
    mean_loss = float(trainer.sums["loss"]) / (args.warmup + args.steps)
    out["results"] = {"train": {"batch": args.batch, "times_ms": [round(v, 3) for v in train_ms],
                                "median_ms": round(statistics.median(train_ms), 3), "mean_loss": mean_loss}}
    print(f"[peer_torch] train median {out['results']['train']['median_ms']} ms, mean loss {mean_loss:.4g}",
          file=sys.stderr)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
