"""Per-core cost of the data stages on Places365-sized photos, projected to the full dataset.

Places365-Standard's training set holds 1,803,460 JPEGs of 256 x 256 (about 24 GB). This makes
``--count`` such photos from a folder of larger photos (seeded random square crops, area
resized to 256 px, JPEG quality ``--quality``), then times, in one process (one core):
``prep filter``, ``prep synthesize --recipes-only``, ``prep shard``, ``prep synthesize``
writing every pair image (the old layout, for comparison), and one loader pass (each photo
decoded once, one variant rendered, 256 px crop, batch 16, no workers). Times are CPU
seconds of the process (one core); bytes per photo are measured on the outputs. Each timing
is the median of ``--repeat`` runs; the projection assumes the per-photo work spreads over
``--cores`` processes without loss (file I/O not included).

    python benchmarks/places_projection.py --photos PHOTOS --count 300 --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from exposure_core import imageio
from pipeline.params import SplitFractions, load_params
from pipeline.stages import filter as filter_stage
from pipeline.stages import shard, synthesize

PLACES_PHOTOS = 1_803_460
PLACES_BYTES = 24e9  # train_256_places365standard, about 24 GB of JPEGs


def make_photos(source: Path, out: Path, count: int, quality: int, seed: int = 0) -> None:
    """``count`` 256 x 256 JPEGs: random square crops of the source photos, area-resized."""
    paths = sorted(p for p in source.iterdir() if imageio.is_image(p))
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for k in range(count):
        codes = imageio.read_codes(paths[k % len(paths)]).array
        side = int(rng.integers(256, min(codes.shape[:2]) + 1))
        y = int(rng.integers(0, codes.shape[0] - side + 1))
        x = int(rng.integers(0, codes.shape[1] - side + 1))
        crop = cv2.resize(
            codes[y : y + side, x : x + side], (256, 256), interpolation=cv2.INTER_AREA
        )
        imageio.write_image(out / f"p{k:05d}.jpg", imageio.Codes(crop), quality=quality)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of this process (everything runs in it): a per-core figure that holds on
    a shared machine, where wall clock does not."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def loader_pass(shards: Path) -> int:
    from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
    from pipeline.params import AugmentParams

    loader = make_loader(
        shard_urls(shards, "train"),
        LoaderConfig(
            batch_size=16,
            crop=256,
            train=True,
            workers=0,
            shuffle_buffer=100,
            augment=AugmentParams(hflip=True),
        ),
    )
    return sum(b.input.shape[0] for b in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="larger photos to crop from")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the crops")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=32)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    base = load_params(None)
    params = dataclasses.replace(
        base,
        filter=dataclasses.replace(base.filter, workers=1),
        synthesize=dataclasses.replace(base.synthesize, workers=1),
        shard=dataclasses.replace(base.shard, split=SplitFractions(1.0, 0.0, 0.0)),
    )
    recipes = dataclasses.replace(
        params, synthesize=dataclasses.replace(params.synthesize, write_images=False)
    )
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        make_photos(args.photos, tmp / "photos", args.count, args.quality)
        photo_bytes = _size(tmp / "photos")
        for r in range(args.repeat):
            runs = {
                "filter": lambda r=r: filter_stage.run(params, tmp / "photos", tmp / f"f{r}"),
                "synthesize --recipes-only": lambda r=r: synthesize.run(
                    recipes, tmp / "photos", tmp / f"rec{r}"
                ),
                "shard": lambda r=r: shard.run(recipes, tmp / f"rec{r}", tmp / f"sh{r}"),
                "synthesize (pair images)": lambda r=r: synthesize.run(
                    params, tmp / "photos", tmp / f"img{r}"
                ),
                "loader, one pass": lambda r=r: loader_pass(tmp / f"sh{r}"),
            }
            for name, fn in runs.items():
                times.setdefault(name, []).append(_timed(fn))
        shard_bytes = _size(tmp / "sh0")
        manifests = _size(tmp / "f0") + _size(tmp / "rec0")
        image_bytes = _size(tmp / "img0")
        seen = loader_pass(tmp / "sh0")
    med = {k: statistics.median(v) for k, v in times.items()}
    per_photo = {k: v / args.count for k, v in med.items()}
    each = photo_bytes / args.count / 1e3
    print(
        f"{args.count} photos of 256 x 256 (JPEG q{args.quality}, {each:.1f} kB each), one "
        f"process (CPU time), median of {args.repeat} runs; loader pass: {seen} pairs"
    )
    print(f"\n{'step':28s} {'ms/photo/core':>14s} {'hours, 1.8 M photos':>20s}")
    for name, sec in per_photo.items():
        hours = sec * PLACES_PHOTOS / args.cores / 3600
        print(f"{name:28s} {sec * 1e3:14.2f} {hours:17.2f} h  on {args.cores} cores")
    scale = PLACES_BYTES / photo_bytes  # bytes scale with the real archive, not our crops
    print(f"\n{'on disk':28s} {'x photos':>9s} {'TB for Places365':>17s}")
    for name, size in [("photos (data/raw)", photo_bytes), ("shards", shard_bytes),
                       ("filter + recipe manifests", manifests),
                       ("pair images (old layout)", image_bytes)]:  # fmt: skip
        print(f"{name:28s} {size / photo_bytes:9.2f} {size * scale / 1e12:17.3f}")


if __name__ == "__main__":
    main()
