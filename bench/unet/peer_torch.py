#!/usr/bin/env python3
"""PyTorch peer of bench/unet: fewstep's U-Net (src/nn/unet.ts) written in PyTorch.

The module below reproduces src/nn/unet.ts layer for layer, with the same parameter
names, shapes and creation order (run.ts compares the lists and the counts and fails
on any difference), the same initialisation rules (PyTorch's defaults, which
src/nn/layers.ts copies, plus the zero-initialised conv2 / proj / conv_out / w_embed.2),
and the same forward: GroupNorm(8) + SiLU residual blocks with FiLM scale/shift from
the condition embedding, single-head attention, strided-conv downsampling, nearest
upsampling + conv, Fourier features of the normalised log-SNR (and of w / wMax for
students), v-prediction converted to x-hat.

What it times (CPU, one JSON line on stdout; progress on stderr):

  train    one teacher step of src/diffusion/train-teacher.ts (+ train-loop.ts): fixed
           x [B, 1, 28, 28] ~ N(0, 1) and fixed labels; per step t ~ U[0, 1], eps ~ N(0, I),
           z = alpha x + sigma eps, labels -> null class with probability 0.1, x-hat from
           the net in train mode (dropout on), loss = mean_batch max(SNR, 1) * mean((x-hat - x)^2);
           zero grads (set to None), backward, global grad-norm clip 1, AdamW (lr 5e-4,
           weight decay 0), EMA update (decay 0.999). loss.item() ends the step.
  teacher  K steps of the guided DDIM-256 sampler under no_grad: each step is ONE call of
           the net on a 2n batch (conditional, then null labels) as src/diffusion/guidance.ts
           does, then the DDIM update (src/diffusion/samplers/ddim.ts).
  student  a whole 4-step DDIM sample of a student (the same net plus the w path) under
           no_grad: 4 calls of the net on an n batch with cond.w.

  --check DIR: instead of timing, loads DIR/{teacher,student,inputs}.safetensors written by
  run.ts (random weights, so the zero-initialised layers are live), runs the forward, the
  loss and two short guided/student DDIM samples, and reports the largest differences from
  fewstep's outputs stored beside them.

  /usr/bin/python3 bench/unet/peer_torch.py [--threads 2] [--warmup 3] [--steps 10] [--batch 64]
      [--sample-batch 16] [--teacher-steps 4] [--sample-reps 5] [--check DIR]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- schedule (src/diffusion/schedule.ts)

LAMBDA_MIN = -20.0
LAMBDA_MAX = 20.0
_B = math.atan(math.exp(-LAMBDA_MAX / 2))
_A = math.atan(math.exp(-LAMBDA_MIN / 2)) - _B


def log_snr_tensor(t: torch.Tensor) -> torch.Tensor:
    """lambda(t) = -2 log tan(a t + b), elementwise (the same op chain as logSnrTensor)."""
    return t.mul(_A).add(_B).tan().log().mul(-2)


def alpha_sigma_tensor(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lam = log_snr_tensor(t)
    return lam.sigmoid().sqrt(), lam.neg().sigmoid().sqrt()


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def alpha_sigma(t: float) -> tuple[float, float]:
    """alpha_t, sigma_t for a number t (alphaSigma in schedule.ts)."""
    lam = -2 * math.log(math.tan(_A * t + _B))
    return math.sqrt(_sigmoid(lam)), math.sqrt(_sigmoid(-lam))


def time_grid(steps: int) -> list[float]:
    return [(steps - i) / steps for i in range(steps + 1)]


# ---------------------------------------------------------------- the U-Net (src/nn/unet.ts)

GROUPS = 8


def zero_conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel >> 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(embed_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(GROUPS, cout)
        self.conv2 = zero_conv(cout, cout, 3)
        self.skip = None if cin == cout else nn.Conv2d(cin, cout, 1)
        self.dropout = nn.Dropout(dropout)  # no parameters; active in train mode only

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(e).unsqueeze(2).unsqueeze(3).chunk(2, 1)
        modulated = self.norm2(h).mul(scale.add(1)).add(shift)
        out = self.conv2(self.dropout(F.silu(modulated)))
        return (x if self.skip is None else self.skip(x)).add(out)


class Attention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.norm = nn.GroupNorm(GROUPS, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_conv(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3 * c, h * w).chunk(3, 1)
        weights = q.transpose(1, 2).matmul(k).mul(1 / math.sqrt(self.channels)).softmax(2)
        out = v.matmul(weights.transpose(1, 2)).reshape(n, c, h, w)
        return x.add(self.proj(out))


class Upsample(nn.Conv2d):
    """Nearest x2 then a 3x3 conv; a Conv2d subclass so its parameters are `up.K.weight`/`bias`,
    as fewstep names them."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


def embed_mlp(inf: int, outf: int, zero_last: bool = False) -> nn.Sequential:
    seq = nn.Sequential(nn.Linear(inf, outf), nn.SiLU(), nn.Linear(outf, outf))
    if zero_last:
        nn.init.zeros_(seq[2].weight)
        nn.init.zeros_(seq[2].bias)
    return seq


class UNet(nn.Module):
    def __init__(self, channels: int, size: int, num_classes: int, base_channels: int,
                 channel_mults: list[int], num_res_blocks: int, attention_resolutions: list[int],
                 dropout: float, prediction: str, w_input: bool, w_max: float,
                 fourier_features: int) -> None:
        super().__init__()
        self.prediction = prediction
        self.w_max = w_max
        levels = len(channel_mults)
        E = 4 * base_channels
        Fq = fourier_features
        # Registration order = fewstep's parameter creation order.
        self.time_embed = embed_mlp(2 * Fq, E)
        self.class_embed = nn.Embedding(num_classes + 1, E)  # N(0, 1), as fewstep's randn
        self.conv_in = nn.Conv2d(channels, base_channels, 3, padding=1)
        skips = [base_channels]
        ch, res = base_channels, size
        self.down = nn.ModuleList()
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, base_channels * mult, E, dropout))
                ch = base_channels * mult
                if res in attention_resolutions:
                    self.down.append(Attention(ch))
                skips.append(ch)
            if level < levels - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                res //= 2
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, E, dropout), Attention(ch), ResBlock(ch, ch, E, dropout)])
        self.up = nn.ModuleList()
        for i, mult in enumerate(reversed(channel_mults)):
            level = levels - 1 - i
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), base_channels * mult, E, dropout))
                ch = base_channels * mult
                if res in attention_resolutions:
                    self.up.append(Attention(ch))
            if level > 0:
                self.up.append(Upsample(ch))
                res *= 2
        self.norm_out = nn.GroupNorm(GROUPS, ch)
        self.conv_out = zero_conv(ch, channels, 3)
        ratio = (32 / 0.25) ** (1 / max(Fq - 1, 1))
        self.register_buffer("freqs", torch.tensor([2 * math.pi * 0.25 * ratio ** i for i in range(Fq)],
                                                   dtype=torch.float32), persistent=False)
        self.w_embed = embed_mlp(2 * Fq, E, zero_last=True) if w_input else None

    def fourier(self, u: torch.Tensor) -> torch.Tensor:
        angles = u.float().unsqueeze(1).mul(self.freqs)
        return torch.cat([angles.sin(), angles.cos()], 1)

    def embed(self, t: torch.Tensor, labels: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        u = log_snr_tensor(t.float()).sub(LAMBDA_MIN).div(LAMBDA_MAX - LAMBDA_MIN)
        e = self.time_embed(self.fourier(u)).add(self.class_embed(labels))
        if self.w_embed is not None:
            if w is None:
                raise ValueError("this model takes the guidance weight w")
            e = e.add(self.w_embed(self.fourier(w.div(self.w_max))))
        return e

    def forward_raw(self, z: torch.Tensor, t: torch.Tensor, labels: torch.Tensor,
                    w: torch.Tensor | None = None) -> torch.Tensor:
        e = F.silu(self.embed(t, labels, w))
        x = self.conv_in(z.float())
        skips = [x]
        for stage in self.down:
            if isinstance(stage, ResBlock):
                x = stage(x, e)
                skips.append(x)
            elif isinstance(stage, Attention):
                x = stage(x)
                skips[-1] = x  # attention refines the skip its block just pushed
            else:
                x = stage(x)
                skips.append(x)
        for stage in self.mid:
            x = stage(x, e) if isinstance(stage, ResBlock) else stage(x)
        for stage in self.up:
            x = stage(torch.cat([x, skips.pop()], 1), e) if isinstance(stage, ResBlock) else stage(x)
        return self.conv_out(F.silu(self.norm_out(x)))

    def forward(self, z: torch.Tensor, t: torch.Tensor, labels: torch.Tensor,
                w: torch.Tensor | None = None) -> torch.Tensor:
        out = self.forward_raw(z, t, labels, w)
        if self.prediction == "x":
            return out
        alpha, sigma = alpha_sigma_tensor(t.float())
        n = alpha.shape[0]
        return z.float().mul(alpha.reshape(n, 1, 1, 1)).sub(out.mul(sigma.reshape(n, 1, 1, 1)))


# The benchmarked config: the Fashion-MNIST teacher (run.ts holds the same object).
CONFIG = dict(channels=1, size=28, num_classes=10, base_channels=24, channel_mults=[1, 2, 2],
              num_res_blocks=1, attention_resolutions=[7], dropout=0.1, prediction="v",
              w_max=4.0, fourier_features=16)
NUM_CLASSES = CONFIG["num_classes"]
P_UNCOND = 0.1
LR = 5e-4
WEIGHT_DECAY = 0.0
GRAD_CLIP = 1.0
EMA_DECAY = 0.999
GUIDANCE_W = 2.0


def build(w_input: bool) -> UNet:
    return UNet(w_input=w_input, **CONFIG)


# ---------------------------------------------------------------- training step

def teacher_loss(model: UNet, x: torch.Tensor, labels: torch.Tensor, t: torch.Tensor,
                 eps: torch.Tensor) -> torch.Tensor:
    """train-teacher.ts's loss given t, eps and the (already dropped) labels."""
    n = x.shape[0]
    alpha, sigma = alpha_sigma_tensor(t)
    z = x.mul(alpha.reshape(n, 1, 1, 1)).add(eps.mul(sigma.reshape(n, 1, 1, 1)))
    x_hat = model(z, t, labels)
    weight = log_snr_tensor(t).exp().clamp(min=1)  # "truncated-snr": max(SNR, 1)
    return x_hat.sub(x).square().reshape(n, -1).mean(1).mul(weight).mean()


class Trainer:
    def __init__(self, batch: int) -> None:
        self.model = build(False).train()
        self.params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=LR, weight_decay=WEIGHT_DECAY)
        with torch.no_grad():
            self.ema = [p.detach().clone() for p in self.params]
        self.x = torch.randn(batch, CONFIG["channels"], CONFIG["size"], CONFIG["size"])
        self.labels = torch.randint(0, NUM_CLASSES, (batch,))

    def step(self) -> float:
        n = self.x.shape[0]
        self.opt.zero_grad(set_to_none=True)
        t = torch.rand(n)
        eps = torch.randn(self.x.shape)
        drop = torch.rand(n).lt(P_UNCOND)
        loss = teacher_loss(self.model, self.x, self.labels.masked_fill(drop, NUM_CLASSES), t, eps)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, GRAD_CLIP)
        for group in self.opt.param_groups:
            group["lr"] = LR
        self.opt.step()
        with torch.no_grad():
            torch._foreach_mul_(self.ema, EMA_DECAY)
            torch._foreach_add_(self.ema, self.params, alpha=1 - EMA_DECAY)
        return float(loss.item())


# ---------------------------------------------------------------- sampling

def ddim_step(z: torch.Tensor, x_hat: torch.Tensor, t: float, s: float) -> torch.Tensor:
    if s == 0:
        return x_hat.clone()
    a_t, s_t = alpha_sigma(t)
    a_s, s_s = alpha_sigma(s)
    eps_hat = z.sub(x_hat.mul(a_t)).div(s_t)
    return x_hat.mul(a_s).add(eps_hat.mul(s_s))


def guided(model: UNet, w: float):
    """x-hat^w = (1 + w) x-hat(z, c) - w x-hat(z, null), both from ONE call on a 2n batch."""
    def den(z: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, _w=None) -> torch.Tensor:
        n = z.shape[0]
        null = torch.full((n,), NUM_CLASSES, dtype=torch.int64)
        both = model(torch.cat([z, z]), torch.cat([t, t]), torch.cat([labels, null]))
        x_cond, x_uncond = both.split(n, 0)
        return x_cond.mul(1 + w).sub(x_uncond.mul(w))
    return den


def sample_ddim(den, z: torch.Tensor, grid: list[float], labels: torch.Tensor,
                w: torch.Tensor | None = None) -> torch.Tensor:
    n = z.shape[0]
    cur = z.clone()
    for t, s in zip(grid[:-1], grid[1:]):
        cur = ddim_step(cur, den(cur, torch.full((n,), t, dtype=z.dtype), labels, w), t, s)
    return cur


# ---------------------------------------------------------------- safetensors (no package needed)

_ST = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def load_safetensors(path: str) -> dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=_ST[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def load_into(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(values, strict=False)
    if missing or unexpected:
        raise SystemExit(f"[peer_torch] weights do not match the module: missing {missing}, unexpected {unexpected}")


def run_check(d: str) -> dict:
    inp = load_safetensors(os.path.join(d, "inputs.safetensors"))
    teacher, student = build(False).eval(), build(True).eval()
    load_into(teacher, load_safetensors(os.path.join(d, "teacher.safetensors")))
    load_into(student, load_safetensors(os.path.join(d, "student.safetensors")))
    z, t, labels, w, x, eps = (inp[k] for k in ("z", "t", "labels", "w", "x", "eps"))
    ours: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        ours["teacher_xhat"] = teacher(z, t, labels)
        ours["student_xhat"] = student(z, t, labels, w)
        ours["teacher_loss"] = teacher_loss(teacher, x, labels, t, eps).reshape(1)
        ours["teacher_ddim"] = sample_ddim(guided(teacher, GUIDANCE_W), z, time_grid(3), labels)
        ours["student_ddim"] = sample_ddim(student, z, time_grid(2), labels, w)
    diffs = {}
    for k, v in ours.items():
        ref = inp[f"out_{k}"]
        diffs[k] = {"max_abs_diff": float((v - ref).abs().max()), "max_abs_ref": float(ref.abs().max())}
    return diffs


# ---------------------------------------------------------------- machine info (as bench/engine/peer_torch.py)

def loaded_libs(words: tuple[str, ...]) -> list[str]:
    seen: list[str] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6 or not parts[5].strip().startswith("/"):
                    continue
                path = parts[5].strip()
                if any(w in os.path.basename(path).lower() for w in words):
                    real = os.path.realpath(path)
                    if real not in seen:
                        seen.append(real)
    except OSError:
        pass
    return seen


def openblas_handle(libs: list[str]):
    for p in libs:
        try:
            lib = ctypes.CDLL(p, mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_num_threads"):
            return lib
    return None


def named_shapes(model: nn.Module) -> list:
    return [[name, list(p.shape)] for name, p in model.named_parameters()]


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--batch", type=int, default=64, help="training batch")
    ap.add_argument("--sample-batch", type=int, default=16)
    ap.add_argument("--teacher-steps", type=int, default=4, help="guided DDIM-256 steps per teacher measurement")
    ap.add_argument("--sample-reps", type=int, default=5, help="timed teacher and student measurements")
    ap.add_argument("--check", metavar="DIR", help="compare with fewstep's outputs in DIR instead of timing")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    blas_libs = loaded_libs(("blas",))
    ob = openblas_handle(blas_libs)
    openblas_threads = None
    if ob is not None:
        ob.openblas_set_num_threads(ctypes.c_int(args.threads))
        ob.openblas_get_num_threads.restype = ctypes.c_int
        openblas_threads = int(ob.openblas_get_num_threads())

    out: dict = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "openblas_threads": openblas_threads,
        "env": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS")},
    }
    teacher_shapes = named_shapes(build(False))
    student_shapes = named_shapes(build(True))
    out["params"] = {
        "teacher": {"count": sum(math.prod(s) for _, s in teacher_shapes), "named": teacher_shapes},
        "student": {"count": sum(math.prod(s) for _, s in student_shapes), "named": student_shapes},
    }
    if args.check:
        out["check"] = run_check(args.check)
        print(json.dumps(out), flush=True)
        return

    # Training.
    trainer = Trainer(args.batch)
    for _ in range(args.warmup):
        trainer.step()
    train_ms: list[float] = []
    losses: list[float] = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses.append(trainer.step())
        train_ms.append((time.perf_counter() - t0) * 1e3)
    del trainer

    # Sampling (eval mode: no dropout; no_grad as fewstep's noGrad).
    n = args.sample_batch
    teacher, student = build(False).eval(), build(True).eval()
    z = torch.randn(n, CONFIG["channels"], CONFIG["size"], CONFIG["size"])
    labels = torch.randint(0, NUM_CLASSES, (n,))
    w = torch.full((n,), GUIDANCE_W)
    teacher_grid = time_grid(256)[: args.teacher_steps + 1]
    den = guided(teacher, GUIDANCE_W)
    teacher_ms: list[float] = []
    student_ms: list[float] = []
    with torch.no_grad():
        for i in range(args.warmup + args.sample_reps):
            t0 = time.perf_counter()
            sample_ddim(den, z, teacher_grid, labels)
            dt = (time.perf_counter() - t0) * 1e3
            if i >= args.warmup:
                teacher_ms.append(dt)
            t0 = time.perf_counter()
            sample_ddim(student, z, time_grid(4), labels, w)
            dt = (time.perf_counter() - t0) * 1e3
            if i >= args.warmup:
                student_ms.append(dt)

    out["results"] = {
        "train": {"batch": args.batch, "times_ms": [round(v, 3) for v in train_ms],
                  "median_ms": round(statistics.median(train_ms), 3) if train_ms else None,
                  "losses": losses},
        "teacher": {"batch": n, "steps": args.teacher_steps, "times_ms": [round(v, 3) for v in teacher_ms]},
        "student": {"batch": n, "steps": 4, "times_ms": [round(v, 3) for v in student_ms]},
    }
    print(f"[peer_torch] train median {out['results']['train']['median_ms']} ms, losses {['%.4f' % l for l in losses]}",
          file=sys.stderr)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
