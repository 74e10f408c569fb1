"""Load the MSEC renders (``../shared/msec``) at a reduced size, for the tools and benchmarks.

Each scene gives its five renders as uint8 ``(H, W, 3)`` sRGB codes, area-downscaled so the
short side is ``short_side`` pixels (all renders of a scene share one size). A copy is cached
as ``.npz`` under ``--cache`` (a temporary folder by default) so later runs skip the decoding;
the cache is a pure function of the split and the size.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from exposure_core import imageio
from pipeline.sources.msec import parse_ev, split_input_name

EVS = 5  # renders per MSEC scene: EV -1.5, -1, 0, +1, +1.5
REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared data folder: ``$SHARED_DATA`` when set, else the first of ``../shared`` and
    ``../../shared`` (from the repository root) that exists."""
    if os.environ.get("SHARED_DATA"):
        return Path(os.environ["SHARED_DATA"])
    for candidate in (REPO.parent / "shared", REPO.parent.parent / "shared"):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared"


def ev_of_name(name: str) -> float:
    """The EV an MSEC file name states (``<scene>_P1.5.JPG`` -> 1.5)."""
    return parse_ev(split_input_name(Path(name).stem)[1])


def load_codes(path: Path, short_side: int) -> np.ndarray:
    """One image as uint8 codes, downscaled to ``short_side`` (0 keeps the size)."""
    codes = imageio.shrink(imageio.read_codes(path), short_side)
    if codes.bits != 8:
        raise ValueError(f"{path}: expected an 8-bit image")
    return np.ascontiguousarray(codes.array)


def load_split(
    split: str, short_side: int = 224, cache: Path | None = None
) -> dict[str, dict[float, np.ndarray]]:
    """``{scene: {ev: uint8 (H, W, 3)}}`` for ``msec/<split>`` (``training`` or ``validation``)."""
    folder = shared_root() / "msec" / split / "INPUT_IMAGES"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found (set SHARED_DATA to the shared data folder)")
    cache = Path(cache or tempfile.gettempdir()) / f"msec-{split}-{short_side}.npz"
    if cache.is_file():
        data = np.load(cache)
        out: dict[str, dict[float, np.ndarray]] = {}
        for key in data.files:
            scene, ev = key.rsplit("|", 1)
            out.setdefault(scene, {})[float(ev)] = data[key]
        return dict(sorted(out.items()))
    out = {}
    for path in sorted(folder.glob("*.JPG")):
        scene = split_input_name(path.stem)[0]
        out.setdefault(scene, {})[ev_of_name(path.name)] = load_codes(path, short_side)
    out = {s: r for s, r in sorted(out.items()) if len(r) == EVS}
    flat = {f"{s}|{ev}": a for s, r in out.items() for ev, a in r.items()}
    np.savez(cache, **flat)  # type: ignore[arg-type]
    return out
