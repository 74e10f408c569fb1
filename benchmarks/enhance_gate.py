"""The enhancer's well-exposed gate: how ``enhance.max_lift`` and ``max_darken`` are chosen.

For every test pair of ``--shards`` (at ``--resolution``, as ``prep evaluate --resolution``),
and with ``--msec-training`` for every render of ``msec/training`` against its scene's EV 0
render (short side ``--resolution``), runs the model with the gate off and records ``prep
filter``'s verdict on the input, the network's change of brightness
(``exposure_models.inference.gate.mean_luma_lift``) and the PSNR of the model's output and of
the unchanged input against the target. Then, for each candidate threshold, prints what the
gate would give: PSNR per group (the gated output is the input where the filter keeps the photo
and the change is below the candidates) and the share of well-exposed inputs left unchanged.
``max_lift`` is the largest candidate that costs EV -1 inputs at most 0.1 dB, ``max_darken``
the largest that costs EV +1 inputs at most 0.1 dB, each with the other off; measured on the
calibration half of the real-photo corpus (``tools/real_photos.py``) and MSEC's training
renders, never on a split that is reported:

    python benchmarks/enhance_gate.py --shards cal/shards \\
        --model exposure_models/pretrained/real.pt --params params.yaml --resolution 512 \\
        --msec-training

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


class Rows:
    """Runs the model with the gate off and collects one row per (input, target) pair."""

    def __init__(self, model: Path, params_file: Path) -> None:
        params = load_params(params_file)
        self.enhancer = Enhancer.load(model, replace(params.enhance, leave_well_exposed=False))
        self.thresholds = params.filter
        self.rows: list[dict] = []

    def add(self, name: str, inp: np.ndarray, target: np.ndarray, kind: str, ev: float | None):
        """One pair: float32 ``(H, W, 3)`` sRGB in [0, 1], the input and its target."""
        codes = imageio.float_to_codes(inp, 16)
        enhancer = self.enhancer
        low_in = imageio.downscale(codes, enhancer.working_size(codes.height, codes.width))
        (low_out,) = enhancer.predict([(codes, low_in)])
        strips = enhancer.strips(codes, low_in, low_out)
        out = imageio.codes_to_float(imageio.assemble(strips, codes.height, codes.width, 16))
        sample = float_analysis_sample(codes, self.thresholds.analysis_side)
        stats = photo_stats(sample, self.thresholds)
        self.rows.append({
            "id": name,
            "group": exposure_group(kind, ev, np.array_equal(inp, target)),
            "ev": ev,
            "kept": judge(stats, self.thresholds)[0],
            "lift": mean_luma_lift(low_in, low_out),
            "model": capped_psnr(out, target),
            "identity": capped_psnr(inp, target),
        })  # fmt: skip


def measure_shards(rows: Rows, shards: Path, resolution: int) -> None:
    """Every test pair of ``shards`` at ``resolution`` (as ``prep evaluate --resolution``)."""
    for item in test_set(shards, 0, verify=False).items:
        inp, target = at_resolution(item.input, resolution), at_resolution(item.target, resolution)
        rows.add(item.id, inp, target, item.meta["kind"], item.meta.get("ev"))


def measure_msec_training(rows: Rows, short_side: int) -> None:
    """Every render of ``msec/training`` against its scene's EV 0 render."""
    from tools.msec_data import load_split

    for scene, renders in load_split("training", short_side).items():
        target = imageio.codes_to_float(imageio.Codes(renders[0.0]))
        for ev, codes in renders.items():
            rows.add(f"{scene}@{ev:+g}", imageio.codes_to_float(imageio.Codes(codes)), target,
                     "camera", ev)  # fmt: skip


def gated_mean(rows: list[dict], max_lift: float | None, max_darken: float = 9.0) -> float:
    """Mean PSNR of the gated output (None: no gate)."""
    return float(np.mean([
        r["identity"] if max_lift is not None and left_alone(r, max_lift, max_darken)
        else r["model"]
        for r in rows
    ]))  # fmt: skip


def left_alone(row: dict, max_lift: float, max_darken: float) -> bool:
    return bool(row["kept"] and -max_darken < row["lift"] < max_lift)


def sweep(rows: list[dict], side: str) -> tuple[list[str], float]:
    """The candidate table of ``max_lift`` (side "lift") or ``max_darken`` ("darken") with the
    other off, and the largest candidate costing the EV -1 (or +1) inputs <= 0.1 dB."""
    over = [r for r in rows if r["group"] in ("overexpose", "ev_over")]
    under = [r for r in rows if r["group"] == "ev_under"]
    one = [r for r in rows if r["ev"] == (-1.0 if side == "lift" else 1.0)]
    well = [r for r in rows if r["group"] == "unchanged"]
    far = [r for r in rows if r["ev"] is not None and abs(r["ev"]) == 1.5]
    name = "max_lift" if side == "lift" else "max_darken"
    lines = [
        f"{name:10} | over dB | under dB | EV {'-' if side == 'lift' else '+'}1 loss dB | "
        "well exposed left unchanged | +-1.5 EV left unchanged",
        f"no gate    | {gated_mean(over, None):7.2f} | {gated_mean(under, None):8.2f} | "
        f"{0.0:13.3f} | 0% | 0",
    ]
    chosen = 0.0
    for t in CANDIDATES:
        lift, darken = (t, 9.0) if side == "lift" else (9.0, t)
        loss = gated_mean(one, None) - gated_mean(one, lift, darken) if one else 0.0
        unchanged = np.mean([left_alone(r, lift, darken) for r in well]) if well else 0.0
        far_alone = sum(left_alone(r, lift, darken) for r in far)
        lines.append(
            f"{t:10.2f} | {gated_mean(over, lift, darken):7.2f} | "
            f"{gated_mean(under, lift, darken):8.2f} | {loss:13.3f} | {unchanged:.0%} | "
            f"{far_alone}/{len(far)}"
        )
        if loss <= MAX_EV1_LOSS_DB:
            chosen = t
    return lines, chosen


def table(rows: list[dict]) -> tuple[list[str], float, float]:
    """Both candidate tables and the chosen ``max_lift`` and ``max_darken``."""
    well = [r for r in rows if r["group"] == "unchanged"]
    lines = [
        f"pairs: {len(rows)}, well exposed {len(well)}; the filter keeps "
        f"{np.mean([r['kept'] for r in well]):.0%} of the well-exposed inputs"
    ]
    lift_lines, max_lift = sweep(rows, "lift")
    darken_lines, max_darken = sweep(rows, "darken")
    both = [r for r in rows if r["ev"] is not None and abs(r["ev"]) == 1.5]
    alone = sum(left_alone(r, max_lift, max_darken) for r in both)
    well_alone = np.mean([left_alone(r, max_lift, max_darken) for r in well]) if well else 0.0
    summary = (
        f"both: +-1.5 EV inputs left unchanged {alone}/{len(both)}, "
        f"well exposed left unchanged {well_alone:.0%}"
    )
    return [*lines, *lift_lines, *darken_lines, summary], max_lift, max_darken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, help="shards whose test split is calibration")
    parser.add_argument("--msec-training", action="store_true", help="msec/training's renders")
    parser.add_argument("--model", type=Path, default=Path("exposure_models/pretrained/real.pt"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--rows", type=Path, help="also write the per-pair rows (JSON)")
    args = parser.parse_args()
    rows = Rows(args.model, args.params)
    if args.shards:
        measure_shards(rows, args.shards, args.resolution)
    if args.msec_training:
        measure_msec_training(rows, args.resolution)
    if args.rows:
        args.rows.write_text(json.dumps(rows.rows))
    lines, max_lift, max_darken = table(rows.rows)
    print("\n".join(lines))
    print(f"largest max_lift costing EV -1 inputs <= {MAX_EV1_LOSS_DB} dB: {max_lift:g}")
    print(f"largest max_darken costing EV +1 inputs <= {MAX_EV1_LOSS_DB} dB: {max_darken:g}")


if __name__ == "__main__":
    main()
