"""``prep filter`` and the gate of ``prep enhance`` on real camera exposure errors.

Sets (none of them was used to train the estimator or to choose a threshold):

- ``realdata/msec``: 14 MSEC renders whose file names give the EV (+-1, +-1.5);
- ``msec/validation``: 24 scenes, each rendered at EV -1.5, -1, 0, +1, +1.5 (full resolution);
- ``realdata/flickr``: 8 photos with exposure problems and no label per file.

For each photo: the filter's verdict (``exposure_core.exposure_stats.assess`` on the photo's
analysis sample, as ``prep filter`` reads it, thresholds from ``--params``), its ``ev_estimate``
and, with the model (``--model``, default the shipped generator), the gate's verdict
(``exposure_models.inference.gate.decide``: left alone when the filter keeps the photo and the
network lifts it by less than ``enhance.max_lift``). A +-1.5 EV render counts as rejected by
the filter when the filter rejects it in the right direction (the reason starts with
``underexposed`` for EV < 0; ``overexposed`` or ``washed out`` for EV > 0); as rejected by the
gate when the gate does not return it unchanged. Goals: >= 90 % of the +-1.5 EV renders of each
MSEC set; at least 6 of the 8 Flickr photos.

    python benchmarks/filter_real.py                 # ~3 min on 2 cores, model on the CPU
    python benchmarks/filter_real.py --no-gate       # the filter only, ~1 min
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exposure_core import imageio  # noqa: E402
from exposure_core.exposure_stats import Assessment, analysis_sample, assess  # noqa: E402
from exposure_models.pretrained import SHIPPED_MODEL  # noqa: E402
from pipeline.params import Params, load_params  # noqa: E402
from tools.msec_data import ev_of_name, shared_root  # noqa: E402

MODEL = SHIPPED_MODEL


def direction(found: Assessment) -> int:
    """The filter's verdict as a direction: 0 kept, -1 under, +1 over (or washed out)."""
    return 0 if found.keep else (-1 if found.reason.startswith("underexposed") else 1)


class Gate:
    """The enhancer's gate decision for one photo, with the shipped (or a given) model."""

    def __init__(self, model: Path, params: Params) -> None:
        from exposure_models.inference.enhancer import Enhancer

        self.enhancer = Enhancer.load(model, params.enhance, params.filter)

    def leaves_alone(self, codes: imageio.Codes) -> bool:
        """``Enhancer.verdict``: the decision ``prep enhance`` takes for this photo."""
        low_in = imageio.downscale(codes, self.enhancer.working_size(codes.height, codes.width))
        (low_out,) = self.enhancer.predict([(codes, low_in)])
        verdict = self.enhancer.verdict(codes, low_in, low_out)
        return verdict is not None and verdict.leave_alone


def judge_file(path: Path, params: Params, gate: Gate | None) -> tuple[Assessment, bool | None]:
    codes = imageio.read_codes(path)
    image = imageio.codes_to_float(codes)
    found = assess(analysis_sample(image, params.filter.analysis_side), params.filter)
    return found, (None if gate is None else gate.leaves_alone(codes))


def ev_table(name: str, rows: list[tuple[float, Assessment, bool | None]]) -> None:
    """Per EV: filter rejected in the right direction, gate corrected, mean estimate."""
    print(f"\n{name}")
    print("| EV | n | filter: rejected in the right direction | filter: rejected | "
          "gate: not left alone | mean ev_estimate |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for ev in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == ev]
        right = sum(direction(f) == np.sign(ev) for _, f, _ in sub) if ev else "-"
        rejected = sum(not f.keep for _, f, _ in sub)
        gated = "-" if sub[0][2] is None else sum(not g for _, _, g in sub)
        mean = np.mean([f.ev_estimate for _, f, _ in sub])
        print(f"| {ev:+g} | {len(sub)} | {right} | {rejected} | {gated} | {mean:+.2f} |")
    far = [r for r in rows if abs(r[0]) == 1.5]
    right = sum(direction(f) == np.sign(ev) for ev, f, _ in far)
    line = f"+-1.5 EV: filter rejects {right}/{len(far)} ({right / len(far):.0%}) right"
    if far[0][2] is not None:
        gated = sum(not g for _, _, g in far)
        line += f"; gate corrects {gated}/{len(far)} ({gated / len(far):.0%})"
    print(line + " (goal >= 90 % each)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--max-stops", type=float, help="override filter.max_stops")
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--no-gate", action="store_true", help="the filter only (no torch)")
    ap.add_argument("--sets", default="realmsec,validation,flickr")
    args = ap.parse_args(argv)
    params = load_params(args.params, {"filter.max_stops": args.max_stops})
    gate = None if args.no_gate else Gate(args.model, params)
    shared, sets = shared_root(), args.sets.split(",")
    print(f"filter.max_stops {params.filter.max_stops:g}; enhance.max_lift "
          f"{params.enhance.max_lift:g}; model {args.model if gate else '(no gate)'}")  # fmt: skip
    if "realmsec" in sets:
        paths = sorted((shared / "realdata" / "msec").glob("*.JPG"))
        rows = [(ev_of_name(p.name), *judge_file(p, params, gate)) for p in paths]
        ev_table(f"realdata/msec ({len(rows)} renders)", rows)
        for p, (ev, f, g) in zip(paths, rows, strict=True):
            left = "" if g is None else f"; gate {'leaves alone' if g else 'corrects'}"
            print(f"  {p.name}: EV {ev:+g}, ev_estimate {f.ev_estimate:+.2f}, {f.reason}{left}")
    if "validation" in sets:
        folder = shared / "msec" / "validation" / "INPUT_IMAGES"
        paths = sorted(folder.glob("*.JPG"))
        rows = [(ev_of_name(p.name), *judge_file(p, params, gate)) for p in paths]
        ev_table(f"msec/validation ({len(paths)} renders)", rows)
    if "flickr" in sets:
        paths = sorted((shared / "realdata" / "flickr").glob("*.jpg"))
        print(f"\nrealdata/flickr ({len(paths)} photos, no label per file)")
        print("| file | ev_estimate | filter | gate |\n|---|---:|---|---|")
        rejected = corrected = 0
        for p in paths:
            f, g = judge_file(p, params, gate)
            rejected += not f.keep
            corrected += g is False
            shown = "-" if g is None else ("leaves alone" if g else "corrects")
            print(f"| {p.name} | {f.ev_estimate:+.2f} | {f.reason} | {shown} |")
        gated = "" if gate is None else f"; the gate corrects {corrected}/{len(paths)}"
        print(f"filter rejects {rejected}/{len(paths)} (goal >= 6){gated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
