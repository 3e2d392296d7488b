"""bench/gpu peer: the identical U-Net in PyTorch (bench/unet/peer_torch.py) on CUDA, timing the
same work as bench/gpu/check.ts on the shipped Fashion-MNIST teacher and 4-step student: one
guided DDIM step of the teacher (one 2B-row call) and a whole 4-step student sample at batch B.
Default cuDNN/matmul precision settings, as libtorch's C++ defaults in fewstep's addon.

    python3 bench/gpu/peer_cuda.py [out.json] [--batch 1000]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unet"))
import peer_torch as P  # noqa: E402

args = sys.argv[1:]
batch = int(args[args.index("--batch") + 1]) if "--batch" in args else 1000
out_path = next((a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--batch")), None)
dev = torch.device(os.environ.get("PEER_DEVICE", "cuda"))  # PEER_DEVICE=cpu: a dry run of the script
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)


def load(path: str, w_input: bool) -> P.UNet:
    model = P.build(w_input).eval()
    P.load_into(model, P.load_safetensors(path))
    return model.to(dev)


def sync_time(fn, reps: int = 5) -> float:
    runs = []
    for i in range(reps + 1):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        if i > 0:  # the first run warms cuDNN up
            runs.append(time.perf_counter() - start)
    return sorted(runs)[len(runs) // 2]


teacher = load("models/fashion-mnist/teacher.safetensors", False)
student = load("models/fashion-mnist/student-N4.safetensors", True)
g = torch.Generator().manual_seed(7)
z = torch.randn((batch, 1, 28, 28), generator=g).to(dev)
labels = torch.randint(0, P.NUM_CLASSES, (batch,), generator=g).to(dev)
null = torch.full((batch,), P.NUM_CLASSES, dtype=torch.int64, device=dev)
t_step = torch.full((batch,), P.time_grid(256)[1], device=dev)
w_col = torch.full((batch,), 2.0, device=dev)


@torch.no_grad()
def teacher_step():
    both = teacher(torch.cat([z, z]), torch.cat([t_step, t_step]), torch.cat([labels, null]))
    x_cond, x_uncond = both.split(batch, 0)
    return x_cond.mul(3).sub(x_uncond.mul(2))


@torch.no_grad()
def student_sample():
    grid = P.time_grid(4)
    cur = z
    for t, s in zip(grid[:-1], grid[1:]):
        x_hat = student(cur, torch.full((batch,), t, device=dev), labels, w_col)
        cur = P.ddim_step(cur, x_hat, t, s)
    return cur


step = sync_time(teacher_step)
whole = sync_time(student_sample)
result = {
    "torch": torch.__version__,
    "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
    "batch": batch,
    "cudaSecondsPerImage": {"teacherGuidedStep": step / batch, "teacherDdim256": 256 * step / batch, "student4Step": whole / batch},
    "teacherOverStudent": 256 * step / whole,
}
text = json.dumps(result, indent=2)
print(text)
if out_path:
    with open(out_path, "w") as f:
        f.write(text + "\n")
