"""The enhancer's well-exposed gate on a test split: how ``enhance.max_lift`` was chosen.

For every test pair of ``--shards`` (at ``--resolution``, as ``prep evaluate --resolution``),
runs the model with the gate off and records ``prep filter``'s verdict on the input, the
network's lift (``exposure_models.inference.gate.mean_luma_lift``) and the PSNR of the model's
output and of the unchanged input against the target. Then, for each candidate ``max_lift``,
prints what the gate would give: PSNR per group (the gated output is the input where the
filter keeps the photo and the lift is below the candidate) and the share of well-exposed
inputs left unchanged. The default 0.2 is the largest candidate that costs EV -1 copies at
most 0.1 dB on the calibration half of the real-photo corpus (``tools/real_photos.py``):

    python benchmarks/enhance_gate.py --shards cal/shards \\
        --model exposure_models/pretrained/real.pt --params params.yaml --resolution 512

The shards must hold the pairs in their test split (``shard.split {test: 1}``); the filter
thresholds come from ``--params``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exposure_core import imageio
from exposure_core.exposure_stats import judge, photo_stats
from exposure_core.metrics.reference import psnr
from exposure_core.metrics.scores import PSNR_CAP
from exposure_models.inference.enhancer import Enhancer
from exposure_models.inference.gate import float_analysis_sample, mean_luma_lift
from pipeline.evaluation.scoring import exposure_group
from pipeline.evaluation.testsets import test_set
from pipeline.params import load_params
from pipeline.stages.evaluate import at_resolution

CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
MAX_EV1_LOSS_DB = 0.1


def capped_psnr(image: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB of float32 RGB [0, 1] images, capped at ``PSNR_CAP`` as ``prep evaluate``
    does."""
    return min(psnr(image, target), PSNR_CAP)


def measure(shards: Path, model: Path, params_file: Path, resolution: int) -> list[dict]:
    """One row per test pair: group, ev, filter verdict, lift, model and identity PSNR."""
    params = load_params(params_file)
    enhancer = Enhancer.load(model, replace(params.enhance, leave_well_exposed=False))
    thresholds, rows = params.filter, []
    for item in test_set(shards, 0, verify=False).items:
        inp, target = at_resolution(item.input, resolution), at_resolution(item.target, resolution)
        codes = imageio.float_to_codes(inp, 16)
        low_in = imageio.downscale(codes, enhancer.working_size(codes.height, codes.width))
        (low_out,) = enhancer.forward([low_in])
        strips = enhancer.strips(codes, low_in, low_out)
        out = imageio.codes_to_float(imageio.assemble(strips, codes.height, codes.width, 16))
        sample = float_analysis_sample(codes, thresholds.analysis_side)
        stats = photo_stats(sample, thresholds)
        meta = item.meta
        rows.append({
            "id": item.id,
            "group": exposure_group(meta["kind"], meta.get("ev"), np.array_equal(inp, target)),
            "ev": meta.get("ev"),
            "kept": judge(stats, thresholds)[0],
            "lift": mean_luma_lift(low_in, low_out),
            "model": capped_psnr(out, target),
            "identity": capped_psnr(inp, target),
        })  # fmt: skip
    return rows


def gated_mean(rows: list[dict], max_lift: float | None) -> float:
    """Mean PSNR of the gated output (None: no gate)."""
    return float(np.mean([
        r["identity"] if max_lift is not None and r["kept"] and r["lift"] < max_lift else r["model"]
        for r in rows
    ]))  # fmt: skip


def table(rows: list[dict]) -> tuple[list[str], float]:
    """The candidate table's lines and the chosen max_lift."""
    over = [r for r in rows if r["group"] in ("overexpose", "ev_over")]
    under = [r for r in rows if r["group"] == "ev_under"]
    ev1 = [r for r in under if r["ev"] == -1.0]
    well = [r for r in rows if r["group"] == "unchanged"]
    lines = [
        f"pairs: {len(rows)} (over {len(over)}, under {len(under)}, EV -1 {len(ev1)}, "
        f"well exposed {len(well)}); the filter keeps {np.mean([r['kept'] for r in well]):.0%} "
        "of the well-exposed inputs",
        "max_lift | over dB | under dB | EV -1 loss dB | well exposed left unchanged",
        f"no gate  | {gated_mean(over, None):7.2f} | {gated_mean(under, None):8.2f} | "
        f"{0.0:13.3f} | 0%",
    ]
    chosen = 0.0
    for t in CANDIDATES:
        loss = gated_mean(ev1, None) - gated_mean(ev1, t) if ev1 else 0.0
        unchanged = np.mean([r["kept"] and r["lift"] < t for r in well]) if well else 0.0
        lines.append(
            f"{t:8.2f} | {gated_mean(over, t):7.2f} | {gated_mean(under, t):8.2f} | "
            f"{loss:13.3f} | {unchanged:.0%}"
        )
        if loss <= MAX_EV1_LOSS_DB:
            chosen = t
    return lines, chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=Path("exposure_models/pretrained/real.pt"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--rows", type=Path, help="also write the per-pair rows (JSON)")
    args = parser.parse_args()
    rows = measure(args.shards, args.model, args.params, args.resolution)
    if args.rows:
        args.rows.write_text(json.dumps(rows))
    lines, chosen = table(rows)
    print("\n".join(lines))
    print(f"largest max_lift costing EV -1 copies <= {MAX_EV1_LOSS_DB} dB: {chosen:g}")


if __name__ == "__main__":
    main()
