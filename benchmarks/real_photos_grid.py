"""What a model does to real photos with real exposure errors, in numbers and as a grid.

For each photo of ``--photos`` (by default ``realdata/flickr`` of the shared data: 8 photos
with real exposure errors and no reference), runs ``prep enhance``'s path (the model, its gate,
full resolution) and prints per photo: whether the gate left it unchanged, the estimated error
in stops (``ev_estimate``) before and after, the mean luma (gamma-encoded) before and after and
the spread of luma between its 5th and 95th percentiles (contrast) before and after. With
``--grid`` it also writes ``input | output`` panels, one row per photo, as a PNG there: the
photos carry their own licences (see the shared data's README), so the grid is written outside
the repository and never committed.

    python benchmarks/real_photos_grid.py --grid /tmp/grid.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exposure_core import imageio
from exposure_core.ev_estimate import ev_estimate
from exposure_core.exposure import LUMA_WEIGHTS
from exposure_models.inference.enhancer import Enhancer
from pipeline.evaluation.grids import grid, panel
from pipeline.params import load_params
from tools.msec_data import shared_root


def luma_stats(image: np.ndarray) -> tuple[float, float]:
    """Mean luma and its 5th-95th percentile spread of float32 sRGB ``(H, W, 3)`` in [0, 1]."""
    luma = image @ LUMA_WEIGHTS
    p05, p95 = np.percentile(luma, (5, 95))
    return float(luma.mean()), float(p95 - p05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=None, help="default: realdata/flickr")
    ap.add_argument("--model", type=Path, default=Path("exposure_models/pretrained/real.pt"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--grid", type=Path, default=None, help="write the panels here (PNG)")
    args = ap.parse_args(argv)
    folder = args.photos or shared_root() / "realdata" / "flickr"
    params = load_params(args.params)
    enhancer = Enhancer.load(args.model, params.enhance, params.filter)
    rows = []
    print("| photo | left unchanged | ev_estimate in → out | mean luma in → out | "
          "luma p5-p95 spread in → out |")  # fmt: skip
    print("|---|---|---|---|---|")
    for path in sorted(p for p in folder.iterdir() if imageio.is_image(p)):
        image = imageio.read_image(path)
        before = enhancer.left_alone
        out = enhancer.correct(image)
        unchanged = enhancer.left_alone > before
        ev_in, ev_out = ev_estimate(image), ev_estimate(out)
        (m_in, s_in), (m_out, s_out) = luma_stats(image), luma_stats(out)
        print(f"| {path.name} | {'yes' if unchanged else 'no'} | {ev_in:+.2f} → {ev_out:+.2f} | "
              f"{m_in:.2f} → {m_out:.2f} | {s_in:.2f} → {s_out:.2f} |")  # fmt: skip
        rows.append((path.stem, image, out))
    if args.grid:
        side = 320
        lines = [grid([(f"{name} in", panel(a, side)), ("out", panel(b, side))])
                 for name, a, b in rows]  # fmt: skip
        width = max(line.shape[1] for line in lines)
        padded = [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=1)
                  for line in lines]  # fmt: skip
        imageio.write_image(args.grid, np.concatenate(padded).astype(np.float32))
        print(f"grid: {args.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
