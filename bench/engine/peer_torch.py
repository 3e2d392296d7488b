#!/usr/bin/env python3
"""PyTorch peer of the fewstep engine benchmark.

What it measures: the wall time of ONE training step -- zero grads, forward,
MSE loss, backward, AdamW step -- for two fixed networks on CPU:

  unet  x, y: [64, 3, 32, 32] fixed N(0,1) tensors (NCHW), GroupNorm(8 groups, affine)
        conv_in 3->32 -> ResBlock(32) [skip1] -> conv s2 32->64 -> ResBlock(64) [skip2]
        -> conv s2 64->128 -> ResBlock(128) -> nearest up x2 -> conv 128->64 + skip2
        -> ResBlock(64) -> nearest up x2 -> conv 64->32 + skip1 -> ResBlock(32)
        -> GN -> SiLU -> conv 32->3.   ResBlock(c): x + conv(silu(GN(conv(silu(GN(x)))))).
        All convs 3x3, padding 1, with bias.
  mlp   x, y: [512, 64]; Linear 64->256, SiLU, Linear 256->256, SiLU,
        Linear 256->256, SiLU, Linear 256->64.

Optimizer: torch.optim.AdamW(lr=1e-4, weight_decay=0.01, default betas/eps).

How it matches the fewstep side: the fewstep half (written separately) builds
exactly these networks on the same Debian libtorch build that this Python
torch wraps (same oneDNN for convs, same BLAS for the Linear GEMMs), with the
same shapes, optimizer and hyper-parameters, and times the same step. Both
sides warm up W steps and then time S steps individually; the median is the
headline number. Default init (PyTorch's) is used; only time matters.

Threads: --threads N calls torch.set_num_threads(N) (OpenMP intra-op pool,
used by oneDNN and ATen kernels). The Debian build links OpenBLAS (pthreads
variant), whose own thread pool torch.set_num_threads does not touch, so we
also call openblas_set_num_threads(N) on the loaded library when present and
report both counts plus the BLAS path actually mapped into the process.

Measured on a 2-vCPU box (Xeon, AVX2): with threads=2 the mlp step is noisy
(18..200 ms, median ~25-36 ms) because libgomp's spinning OpenMP workers and
OpenBLAS's own pthreads fight for the same 2 cores during the Linear GEMMs;
OMP_WAIT_POLICY=passive (or GOMP_SPINCOUNT=0) removes that (~11 ms). We do
not set those variables here -- the fewstep process gets the same libgomp and
OpenBLAS defaults -- but "env" in the output records them, so compare runs
made with the same settings.

Output: ONE JSON line on stdout. The loss sanity check goes to stderr.

  /usr/bin/python3 bench/engine/peer_torch.py [--threads 2] [--warmup 5]
                                              [--steps 30] [--nets unet,mlp]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- networks

def conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=True)


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(8, c, affine=True)
        self.c1 = conv3(c, c)
        self.n2 = nn.GroupNorm(8, c, affine=True)
        self.c2 = conv3(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(F.silu(self.n2(h)))
        return x + h


class UNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_in = conv3(3, 32)
        self.rb1 = ResBlock(32)
        self.down1 = conv3(32, 64, stride=2)
        self.rb2 = ResBlock(64)
        self.down2 = conv3(64, 128, stride=2)
        self.rb3 = ResBlock(128)
        self.up1 = conv3(128, 64)
        self.rb4 = ResBlock(64)
        self.up2 = conv3(64, 32)
        self.rb5 = ResBlock(32)
        self.norm_out = nn.GroupNorm(8, 32, affine=True)
        self.conv_out = conv3(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rb1(self.conv_in(x))
        skip1 = h
        h = self.rb2(self.down1(h))
        skip2 = h
        h = self.rb3(self.down2(h))
        h = self.up1(F.interpolate(h, scale_factor=2, mode="nearest")) + skip2
        h = self.rb4(h)
        h = self.up2(F.interpolate(h, scale_factor=2, mode="nearest")) + skip1
        h = self.rb5(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def make_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.SiLU(),
        nn.Linear(256, 256), nn.SiLU(),
        nn.Linear(256, 256), nn.SiLU(),
        nn.Linear(256, 64),
    )


def build(name: str, batch: int):
    if name == "unet":
        model = UNet()
        x = torch.randn(batch, 3, 32, 32)
        y = torch.randn(batch, 3, 32, 32)
    elif name == "mlp":
        model = make_mlp()
        x = torch.randn(512, 64)
        y = torch.randn(512, 64)
    else:
        raise SystemExit(f"unknown net {name!r} (expected unet or mlp)")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    return model, opt, x, y


def train_step(model: nn.Module, opt: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    opt.zero_grad(set_to_none=True)
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss


# ---------------------------------------------------------------- machine info

def loaded_libs(pattern_words: tuple[str, ...]) -> list[str]:
    """Resolved paths of the shared objects mapped into this process whose
    basename contains any of pattern_words."""
    seen: list[str] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                if not path.startswith("/"):
                    continue
                base = os.path.basename(path).lower()
                if any(w in base for w in pattern_words):
                    real = os.path.realpath(path)
                    if real not in seen:
                        seen.append(real)
    except OSError:
        pass
    return seen


def openblas_handle(blas_libs: list[str]):
    """ctypes handle of the loaded OpenBLAS (same mapping, dlopen refcount)."""
    for p in blas_libs:
        try:
            lib = ctypes.CDLL(p, mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_num_threads"):
            return lib
    return None


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--nets", default="unet,mlp")
    ap.add_argument("--batch", type=int, default=64, help="unet batch (default 64)")
    ap.add_argument("--sanity-steps", type=int, default=5,
                    help="steps of the stderr loss-decrease check (0 = skip)")
    args = ap.parse_args()
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    blas_libs = loaded_libs(("blas",))
    ob = openblas_handle(blas_libs)
    openblas_threads = None
    if ob is not None:
        ob.openblas_set_num_threads(ctypes.c_int(args.threads))
        ob.openblas_get_num_threads.restype = ctypes.c_int
        openblas_threads = int(ob.openblas_get_num_threads())
    # Prefer the libblas/openblas *core* (libopenblas*.so) as "the BLAS that ran";
    # Debian's libblas.so.3 in openblas-pthread/ is a thin shim onto it.
    core = [p for p in blas_libs if "openblas" in os.path.basename(p).lower()]
    blas = (core or blas_libs or [None])[0]

    results: dict[str, dict] = {}
    for name in nets:
        # Sanity check on a throwaway copy: loss must go down. Fresh seed so the
        # timed model is identical whether or not the check runs.
        if args.sanity_steps > 0:
            torch.manual_seed(1234)
            model, opt, x, y = build(name, args.batch)
            # lr 1e-4 moves the loss slowly; a short check with a bigger lr
            # would test a different optimizer, so we just require a decrease.
            losses = [float(train_step(model, opt, x, y).detach())
                      for _ in range(args.sanity_steps)]
            with torch.no_grad():
                final = float(F.mse_loss(model(x), y))
            ok = final < losses[0]
            print(f"[peer_torch] sanity {name}: losses {['%.6f' % l for l in losses]}"
                  f" -> after {final:.6f} ({'decreasing' if ok else 'NOT DECREASING'})",
                  file=sys.stderr)
            if not ok:
                raise SystemExit(f"sanity check failed for {name}: loss did not decrease")
            del model, opt, x, y

        torch.manual_seed(0)
        model, opt, x, y = build(name, args.batch)
        for _ in range(args.warmup):
            train_step(model, opt, x, y)
        times: list[float] = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            train_step(model, opt, x, y)
            times.append((time.perf_counter() - t0) * 1e3)
        res = {
            "median_ms": round(statistics.median(times), 3) if times else None,
            "steps": args.steps,
            "times_ms": [round(t, 3) for t in times],
        }
        if name == "unet":
            res["batch"] = args.batch
        results[name] = res
        del model, opt, x, y

    out = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "openblas_threads": openblas_threads,
        "blas": blas,
        "blas_libs": blas_libs,
        "cpus": os.cpu_count(),
        # Thread-pool knobs that change these numbers (see header); null = unset.
        "env": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS")},
        "results": results,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
