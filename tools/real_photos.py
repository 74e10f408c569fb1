"""Gather the real-photo development corpus into a local cache folder.

The corpus is a fixed list of photographs reachable through package registries: the community
photographs of the Debian packages ``lomiri-wallpapers-16.04`` and ``lomiri-wallpapers-20.04``,
the classic test photos of ``opencv-doc`` (``examples/data``), the few photographs among the
artwork of ``plasma-workspace-wallpapers`` and ``ukui-wallpapers``, and scikit-learn's two
sample images. Only the files named in ``ALLOW`` are used (renders, paintings, charts, logos,
chessboards and gradients were left out by looking at every image), so figures measured on the
corpus stay comparable over time.

Each photo becomes one scene (resized to ``--long-side`` pixels, never enlarged) or, above
``--crop-above-mp`` megapixels, four non-overlapping scenes: the photo is resized to twice the
long side and cut into a 2x2 grid. Photos are split by a stable hash of the photo id (all crops
of one photo fall on the same side) into ``calibration/`` and ``heldout/``; tune on the first,
report on the second. ``corpus.json`` and ``corpus.csv`` list every scene with its split,
source, licence and copyright; ``corpus.json`` also lists what was skipped and why.

Usage::

    python tools/real_photos.py --output ~/.cache/exposure-real-photos

then point ``data.folder.path`` at ``<output>/calibration`` (or ``heldout``). The photos are
never committed to the repository.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# tools/ is no package on sys.path: the corpus modules sit next to this script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from photo_corpus.corpus import SPLITS, Corpus, gather_debian, gather_sklearn
from photo_corpus.fetch import say

DEFAULT_OUTPUT = Path("~/.cache/exposure-real-photos")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="cache folder")
    parser.add_argument(
        "--work", type=Path, help="download scratch folder (default: OUTPUT/_downloads)"
    )
    parser.add_argument("--long-side", type=int, default=1024, help="scene long side, pixels")
    parser.add_argument(
        "--crop-above-mp",
        type=float,
        default=2.0,
        help="photos above this many megapixels give a 2x2 grid of crops",
    )
    parser.add_argument("--min-side", type=int, default=256, help="smaller photos are skipped")
    args = parser.parse_args(argv)
    if args.long_side < 64 or args.crop_above_mp <= 0:
        parser.error("--long-side must be >= 64 and --crop-above-mp > 0")
    output = args.output.expanduser()
    work = (args.work or output / "_downloads").expanduser()
    for split in SPLITS:  # a rerun replaces the scenes, keeps the downloads
        shutil.rmtree(output / split, ignore_errors=True)
    output.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(output, args.long_side, args.crop_above_mp, args.min_side)
    gather_debian(corpus, work)
    gather_sklearn(corpus, work)
    corpus.write()
    photos = len({s.photo for s in corpus.scenes})
    per_split = ", ".join(
        f"{split} {sum(s.split == split for s in corpus.scenes)}" for split in SPLITS
    )
    say(
        f"real photos: {photos} photos, {len(corpus.scenes)} scenes ({per_split}), "
        f"{len(corpus.skipped)} skipped -> {output}"
    )
    return 0 if corpus.scenes else 1


if __name__ == "__main__":
    sys.exit(main())
