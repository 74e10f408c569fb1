"""Training throughput: our GAN step against seed 000's step, same model size, one run.

Both train the seed000 architecture (U-Net depth 8 / width 64 + 70 px PatchGAN, BCE + 100 L1)
at 256x256 with the same batch on the same device. Ours is ``exposure_models.training.gan_step`` as
``prep train`` runs it (channels_last; bf16 autocast on GPUs that support it; optional
torch.compile); the seed's is its own code (NCHW, fp16 autocast + GradScaler on CUDA, fp32 on
CPU). Prints the median images/s of --repeat timed windows and the ratio ours / seed. With
--loader, also times our loader over real shards against the step (is the loader the
bottleneck?) and samples GPU utilisation.

    python benchmarks/train.py --batch 16 --steps 20 --repeat 3            # GPU
    python benchmarks/train.py --batch 2 --steps 3 --repeat 3 --device cpu # CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._seed000 import SeedStep  # noqa: E402
from exposure_models.runtime import pick_device  # noqa: E402
from exposure_models.training.setup import build_step  # noqa: E402
from pipeline.params import load_params  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def images_per_s(step, batch: int, steps: int, repeat: int, device: torch.device) -> float:
    """Median images/s over ``repeat`` windows of ``steps`` steps, after two warm-up steps."""
    for _ in range(2):
        step()
    sync(device)
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    y = torch.rand(args.batch, 3, args.size, args.size, device=device)

    seed = SeedStep(device)
    seed_params = sum(t.numel() for t in seed.gen.parameters())
    seed_rate = images_per_s(
        seed.bind(x * 2 - 1, y * 2 - 1), args.batch, args.steps, args.repeat, device
    )
    seed = None  # free its memory before building ours

    p = load_params(ROOT / "params.yaml", {"train.preset": "seed000"}).train
    p = replace(p, compile=args.compile)
    gan = build_step(p, device)
    xc = x.contiguous(memory_format=torch.channels_last)
    yc = y.contiguous(memory_format=torch.channels_last)
    ours_rate = images_per_s(
        lambda: gan.step(xc, yc, p.lr), args.batch, args.steps, args.repeat, device
    )

    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "batch": args.batch,
        "size": args.size,
        "amp": str(gan.amp_dtype),
        "seed000 images/s": round(seed_rate, 2),
        "ours images/s": round(ours_rate, 2),
        "ours / seed000": round(ours_rate / seed_rate, 2),
        "generator parameters (seed000, ours)": [
            seed_params,
            sum(t.numel() for t in gan.generator.parameters()),
        ],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
